"""The PostgreSQL channel layer's group table (channels-postgres, installed on PostgreSQL only): rows left by every
connection that ever closed (its group_discard failed until realtime.layers fixed it) are deleted — no connection
outlives the restart that applies this migration — and an index serves the lookup every group_send makes."""

from django.conf import settings
from django.db import migrations

INSTALLED = "channels_postgres" in settings.INSTALLED_APPS


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql" or "channels_postgres_groupchannel" not in connection.introspection.table_names():
        return
    schema_editor.execute("DELETE FROM channels_postgres_groupchannel")
    schema_editor.execute("CREATE INDEX IF NOT EXISTS channels_postgres_group_key "
                          "ON channels_postgres_groupchannel (group_key, channel)")


def backwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS channels_postgres_group_key")


class Migration(migrations.Migration):
    dependencies = [("realtime", "0001_connections")] + (
        [("channels_postgres", "0004_notify_ensure_payload_not_too_big")] if INSTALLED else [])

    operations = [migrations.RunPython(forwards, backwards, elidable=True)]
