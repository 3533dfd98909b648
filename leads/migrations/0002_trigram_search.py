"""Trigram indexes for the queue's name search (`search_name LIKE '%q%'` on the folded name) on PostgreSQL.

Built concurrently (outside a transaction) so adding them to a busy production table does not block writes.
SQLite has no trigram indexes; there the search scans, which the benchmark shows stays acceptable.
"""

from django.db import migrations

INDEXES = [
    ("leads_lead", "lead_name_trgm_idx", "search_name"),
    ("customers_customer", "customer_name_trgm_idx", "search_name"),
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
    dependencies = [("leads", "0001_initial"), ("customers", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
