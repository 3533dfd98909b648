"""Secrets at rest: encrypts the IMAP/SMTP passwords, Mailgun keys and webhook tokens stored in plain text before,
and fills the tokens' lookup hashes (core.migration_operations.encrypt_secrets; reversible)."""

from django.db import migrations

from core.migration_operations import encrypt_secrets


class Migration(migrations.Migration):

    dependencies = [("mail", "0002_mailbox_secrets_encrypted_fields")]

    operations = [
        encrypt_secrets("mail.Mailbox", ("imap_password", "smtp_password", "webhook_token", "mailgun_signing_key")),
    ]
