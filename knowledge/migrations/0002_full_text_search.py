"""Full-text search of articles (see knowledge/search.py): the GIN expression index over title and body and the
pg_trgm index on the folded title on PostgreSQL; FTS5 external-content tables and their triggers on SQLite. Runs on
both: each operation checks the database vendor, and the model stays portable (no column or index in its state)."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


def forwards(apps, schema_editor):
    from knowledge.search import ensure_search_schema

    ensure_search_schema(schema_editor.connection)


def backwards(apps, schema_editor):
    from knowledge.search import drop_search_schema

    drop_search_schema(schema_editor.connection)


class Migration(migrations.Migration):
    atomic = False  # PostgreSQL builds the indexes CONCURRENTLY on an installation that already has articles

    dependencies = [
        ("knowledge", "0001_initial"),
        ("inbox", "0005_full_text_search"),  # inbox_search_fold, the shared fold function
    ]

    operations = [
        TrigramExtension(),  # a no-op on other databases
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
