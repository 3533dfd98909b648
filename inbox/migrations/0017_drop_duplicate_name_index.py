"""The inbox's search had its own trigram index on the customer's folded name, identical to the call queue's
(`customer_name_trgm_idx`, leads 0002): every customer write paid for two, and the planner picked either. The search
now names the queue's index (inbox.search.PG_INDEXES); this drops the duplicate without blocking writes."""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS inbox_customer_name_trgm_idx")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS inbox_customer_name_trgm_idx "
                              "ON customers_customer USING gin (search_name gin_trgm_ops)")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("inbox", "0016_call_ended_close_reason"), ("leads", "0002_trigram_search")]
    operations = [migrations.RunPython(forwards, backwards)]
