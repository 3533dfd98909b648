"""Secrets at rest: encrypts the WhatsApp access tokens, app secrets and verify tokens
stored in plain text before (core.migration_operations.encrypt_secrets; reversible)."""

from django.db import migrations

from core.migration_operations import encrypt_secrets


class Migration(migrations.Migration):

    dependencies = [("whatsapp", "0003_number_secrets_encrypted_fields")]

    operations = [
        encrypt_secrets("whatsapp.WhatsappNumber", ("access_token", "app_secret", "verify_token")),
    ]
