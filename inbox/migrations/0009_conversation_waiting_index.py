"""The index behind "oldest waiting first" (ASC NULLS LAST, id: the btree's own order), built CONCURRENTLY on
PostgreSQL so an installation with data keeps taking messages while it builds."""

from django.db import migrations, models

from core.migration_operations import PortableAddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inbox", "0008_backfill_waiting_since"),
    ]

    operations = [PortableAddIndexConcurrently(model_name="conversation",
                                               index=models.Index(fields=["waiting_since", "id"],
                                                                  name="conv_waiting_idx"))]
