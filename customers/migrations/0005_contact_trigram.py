"""Trigram indexes for the customer list's partial phone ("…4567") and email ("@empresa") searches on PostgreSQL.

Built concurrently, like leads' name index (leads 0002), so adding them to a busy table does not block writes.
"""

from django.db import migrations

INDEXES = [
    ("customers_customerphone", "customer_phone_trgm_idx", "e164"),
    ("customers_customeremail", "customer_email_trgm_idx", "email"),
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, name, column in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops)"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _table, name, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("customers", "0004_customer_360")]
    operations = [migrations.RunPython(forwards, backwards)]
