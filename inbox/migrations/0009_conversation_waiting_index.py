"""The index behind "oldest waiting first" (ASC NULLS LAST, id: the btree's own order), built CONCURRENTLY on
PostgreSQL so an installation with data keeps taking messages while it builds."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

INDEX = models.Index(fields=["waiting_since", "id"], name="conv_waiting_idx")


class PortableAddIndexConcurrently(AddIndexConcurrently):
    """CONCURRENTLY on PostgreSQL; a plain CREATE INDEX elsewhere (SQLite has no such option)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inbox", "0008_backfill_waiting_since"),
    ]

    operations = [PortableAddIndexConcurrently(model_name="conversation", index=INDEX)]
