"""A public identifier for exports and the API (issue 15): a unique UUID per row, existing rows included."""

from django.db import migrations

from core.migration_operations import add_uuid


class Migration(migrations.Migration):
    atomic = True

    dependencies = [("customers", "0002_import_ref")]

    operations = add_uuid("customers.Customer")
