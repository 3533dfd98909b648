"""Full-text search (see inbox/search.py): pg_trgm, the fold function and the GIN indexes on PostgreSQL; FTS5
external-content tables and their triggers on SQLite. Runs on both: each operation checks the database vendor,
and the models stay portable (no column or index in the model state)."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


def forwards(apps, schema_editor):
    from inbox.search import ensure_search_schema

    ensure_search_schema(schema_editor.connection)


def backwards(apps, schema_editor):
    from inbox.search import drop_search_schema

    drop_search_schema(schema_editor.connection)


class Migration(migrations.Migration):
    atomic = False  # PostgreSQL builds the indexes CONCURRENTLY on an installation that already has data

    dependencies = [
        ("inbox", "0004_connector_fields"),
        ("customers", "0001_initial"),
    ]

    operations = [
        TrigramExtension(),  # a no-op on other databases
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
