"""Secrets at rest: encrypts the outgoing webhook signing secrets
stored in plain text before (core.migration_operations.encrypt_secrets; reversible)."""

from django.db import migrations

from core.migration_operations import encrypt_secrets


class Migration(migrations.Migration):

    dependencies = [("webhooks", "0002_endpoint_secret_encrypted_field")]

    operations = [
        encrypt_secrets("webhooks.WebhookEndpoint", ("secret",)),
    ]
