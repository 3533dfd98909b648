"""Issue 12: mailbox secrets are never shown back; the secret webhook URLs are shown in full once; the webhook still
finds its mailbox by the (hashed) token, also while the encryption key is being rotated."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet

from connectors.mail.models import InboundMail, Mailbox
from fakes.mailservers import customer_mail

pytestmark = pytest.mark.django_db
FORM: dict[str, Any] = {"address": "ayuda@example.test", "imap_port": 993, "imap_security": "ssl",
                        "imap_folder": "INBOX", "poll_interval": 60, "smtp_port": 587, "smtp_security": "starttls",
                        "smtp_host": "smtp.example.test", "smtp_password": "smtp-password-value",
                        "mailgun_signing_key": "key-mailgun-signing-value"}


def test_webhook_urls_are_shown_in_full_once_and_secrets_never(admin_user, client_for):
    client = client_for(admin_user)
    # when the administrator creates a webhook mailbox
    assert client.post("/settings/mail/", FORM).status_code == 302
    mailbox = Mailbox.objects.get()
    token = mailbox.webhook_token
    # then the next page shows the three webhook URLs in full, once
    first = client.get(f"/settings/mail/{mailbox.pk}/").content.decode()
    assert f"/integrations/mail/mailgun/{token}/" in first and 'data-testid="webhooks-once"' in first
    # and later views mask them
    later = client.get(f"/settings/mail/{mailbox.pk}/").content.decode()
    assert token not in later and f"/integrations/mail/postmark/••••{token[-4:]}/" in later
    # and the password and the signing key appear on no page, only whether they are set
    for page in (first, later, client.get("/settings/mail/").content.decode()):
        assert "smtp-password-value" not in page and "key-mailgun-signing-value" not in page
    assert 'data-testid="mailbox-secrets"' in later and "guardada" in later


def test_rotating_shows_the_new_url_once_and_retires_the_old(admin_user, client_for, client):
    mailbox = Mailbox.objects.create(address="ayuda@example.test")
    old = mailbox.webhook_token
    admin = client_for(admin_user)
    admin.post(f"/settings/mail/{mailbox.pk}/rotate/")
    new = Mailbox.objects.get().webhook_token
    assert f"/integrations/mail/raw/{new}/" in admin.get(f"/settings/mail/{mailbox.pk}/").content.decode()
    assert new not in admin.get(f"/settings/mail/{mailbox.pk}/").content.decode()
    raw = customer_mail(sender="ana@cliente.test", to=mailbox.address, subject="Hola", body="Hola")
    assert client.post(f"/integrations/mail/raw/{old}/", data=raw, content_type="message/rfc822").status_code == 404
    assert client.post(f"/integrations/mail/raw/{new}/", data=raw, content_type="message/rfc822").status_code == 200


def test_the_webhook_finds_its_mailbox_during_and_after_key_rotation(client, settings):
    # given a mailbox whose token was hashed with the old key
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    mailbox = Mailbox.objects.create(address="ayuda@example.test")
    token = mailbox.webhook_token
    raw = customer_mail(sender="ana@cliente.test", to=mailbox.address, subject="Hola", body="Hola")
    # when a new key is put first (before the rotation command ran) / then the URL still works
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert client.post(f"/integrations/mail/raw/{token}/", data=raw, content_type="message/rfc822").status_code == 200
    # and the hash column is not the token itself
    assert Mailbox.objects.values_list("webhook_token_hash", flat=True).get() != token
    assert InboundMail.objects.get().mailbox_id == mailbox.pk
