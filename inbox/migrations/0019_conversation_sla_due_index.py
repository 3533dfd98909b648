"""The index behind the list's "SLA due" order (ASC NULLS LAST, id: the btree's own order), built CONCURRENTLY on
PostgreSQL so an installation with data keeps taking messages while it builds."""

from django.db import migrations, models

from core.migration_operations import PortableAddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inbox", "0018_conversation_sla_due"),
    ]

    operations = [PortableAddIndexConcurrently(model_name="conversation",
                                               index=models.Index(fields=["sla_due_at", "id"],
                                                                  name="conv_sla_due_idx"))]
