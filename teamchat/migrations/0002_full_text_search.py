"""Full-text search of chat messages (see teamchat/search.py): the stored tsvector column and its GIN index on
PostgreSQL; the FTS5 external-content table and its triggers on SQLite. Runs on both: each operation checks the
database vendor, and the model stays portable (no column or index in its state)."""

from django.db import migrations


def forwards(apps, schema_editor):
    from teamchat.search import ensure_search_schema

    ensure_search_schema(schema_editor.connection)


def backwards(apps, schema_editor):
    from teamchat.search import drop_search_schema

    drop_search_schema(schema_editor.connection)


class Migration(migrations.Migration):
    atomic = False  # PostgreSQL builds the index CONCURRENTLY on an installation that already has messages

    dependencies = [
        ("teamchat", "0001_initial"),
        ("inbox", "0005_full_text_search"),  # inbox_search_fold, the shared fold function
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
