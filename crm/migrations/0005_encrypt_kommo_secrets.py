"""Secrets at rest: encrypts the the Kommo tokens, client secret and webhook secret
stored in plain text before (core.migration_operations.encrypt_secrets; reversible)."""

from django.db import migrations

from core.migration_operations import encrypt_secrets


class Migration(migrations.Migration):

    dependencies = [("crm", "0004_kommo_secrets_encrypted_fields")]

    operations = [
        encrypt_secrets("crm.KommoAccount",
                        ("long_lived_token", "client_secret", "access_token", "refresh_token", "webhook_secret")),
    ]
