"""The workspace's folder counts group the open conversations by state, inbox and owner: a partial index holding
only open rows lets PostgreSQL count them from the index alone (127 ms → 14 ms at 1,000,000 conversations, 150,000
open; docs/benchmarks.md)."""

from django.db import migrations, models

from core.migration_operations import PortableAddIndexConcurrently

OPEN = ["nueva", "pendiente", "en_espera", "escalada"]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inbox", "0009_conversation_waiting_index"),
    ]

    operations = [PortableAddIndexConcurrently(
        model_name="conversation",
        index=models.Index(condition=models.Q(state__in=OPEN), fields=["state", "inbox", "assignee"],
                           name="conv_open_counts_idx"))]
