"""Issue 12, secrets at rest: vendor tokens and passwords are stored encrypted with FIELD_ENCRYPTION_KEY (Fernet),
rotation re-encrypts them, legacy plaintext still reads and is encrypted by the data migrations, and a wrong key
fails with a sentence naming the variable, not a 500."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core import serializers
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.roles import Role
from connectors.mail.models import Mailbox
from connectors.whatsapp.models import WhatsappNumber
from core import crypto
from core.checks import check_stored_secrets_decrypt
from crm.models import KommoAccount
from webhooks.models import WebhookEndpoint

REPO = Path(__file__).resolve().parents[2]
OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def raw_column(model: Any, column: str, pk: Any) -> Any:
    """The value as stored in the database, past the field's decryption."""
    qn, meta = connection.ops.quote_name, model._meta
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {qn(column)} FROM {qn(meta.db_table)} WHERE {qn(meta.pk.column)} = %s", [pk])
        return cursor.fetchone()[0]


def write_raw(model: Any, column: str, pk: Any, value: str) -> None:
    qn, meta = connection.ops.quote_name, model._meta
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {qn(meta.db_table)} SET {qn(column)} = %s WHERE {qn(meta.pk.column)} = %s",
                       [value, pk])


def make_number(**fields: Any) -> WhatsappNumber:
    values = {"phone_number_id": "106540352242922", "waba_id": "102290129340398", "access_token": "EAAG-token-0001",
              "app_secret": "app-secret-0001", "verify_token": "verify-token-0001", **fields}
    return WhatsappNumber.objects.create(**values)


# --- the field ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_secrets_are_stored_encrypted_and_read_back_in_plain_text():
    # given secrets of every kind saved through the models
    account = KommoAccount.objects.create(pk=1, subdomain="demo", long_lived_token="kommo-long-lived-token-1234",
                                          client_secret="kommo-client-secret", refresh_token="kommo-refresh")
    number = make_number()
    mailbox = Mailbox.objects.create(address="ventas@example.test", imap_password="imap-pass",
                                     smtp_password="smtp-pass", mailgun_signing_key="key-mailgun")
    endpoint = WebhookEndpoint.objects.create(url="https://billing.example.test/hooks", events=["order.confirmed"])
    stored = {
        (KommoAccount, "long_lived_token", account.pk): "kommo-long-lived-token-1234",
        (KommoAccount, "client_secret", account.pk): "kommo-client-secret",
        (KommoAccount, "refresh_token", account.pk): "kommo-refresh",
        (KommoAccount, "webhook_secret", account.pk): account.webhook_secret,
        (WhatsappNumber, "access_token", number.pk): "EAAG-token-0001",
        (WhatsappNumber, "app_secret", number.pk): "app-secret-0001",
        (WhatsappNumber, "verify_token", number.pk): "verify-token-0001",
        (Mailbox, "imap_password", mailbox.pk): "imap-pass",
        (Mailbox, "smtp_password", mailbox.pk): "smtp-pass",
        (Mailbox, "mailgun_signing_key", mailbox.pk): "key-mailgun",
        (Mailbox, "webhook_token", mailbox.pk): mailbox.webhook_token,
        (WebhookEndpoint, "secret", endpoint.pk): endpoint.secret,
    }
    for (model, field, pk), plain in stored.items():
        # then the database holds ciphertext that does not contain the secret
        raw = raw_column(model, field, pk)
        assert raw.startswith("fernet:") and plain not in raw, (model, field)
        # and the model reads the plain text back, through instances and values_list alike
        assert getattr(model.objects.get(pk=pk), field) == plain
        assert model.objects.filter(pk=pk).values_list(field, flat=True).get() == plain
    # and an empty secret stays empty ("not set" is no secret)
    assert raw_column(KommoAccount, "access_token", account.pk) == ""


@pytest.mark.django_db
def test_update_and_bulk_writes_encrypt_too():
    number = make_number()
    WhatsappNumber.objects.filter(pk=number.pk).update(app_secret="rotated-secret")
    assert raw_column(WhatsappNumber, "app_secret", number.pk).startswith("fernet:")
    number.refresh_from_db()
    assert number.app_secret == "rotated-secret"


@pytest.mark.django_db
def test_each_save_uses_a_fresh_ciphertext():
    # Fernet uses a random IV: equal secrets do not give equal ciphertexts (nothing to learn from the column)
    first, second = make_number(), make_number(phone_number_id="106540352242923")
    assert raw_column(WhatsappNumber, "app_secret", first.pk) != raw_column(WhatsappNumber, "app_secret", second.pk)


@pytest.mark.django_db
def test_filtering_on_an_encrypted_value_is_refused_not_silently_empty():
    make_number()
    with pytest.raises(FieldError, match="encrypted"):
        list(WhatsappNumber.objects.filter(app_secret="app-secret-0001"))
    with pytest.raises(FieldError):
        list(WhatsappNumber.objects.filter(app_secret__icontains="secret"))
    # "not set" can still be asked for
    assert not WhatsappNumber.objects.filter(app_secret="").exists()


@pytest.mark.django_db
def test_legacy_plaintext_reads_as_is_and_is_encrypted_on_next_save():
    # given a value written before encryption existed
    mailbox = Mailbox.objects.create(address="ventas@example.test")
    write_raw(Mailbox, "smtp_password", mailbox.pk, "plain-old-password")
    # when read / then it is the plain value
    mailbox.refresh_from_db()
    assert mailbox.smtp_password == "plain-old-password"
    # when saved again / then it is stored encrypted
    mailbox.save()
    assert raw_column(Mailbox, "smtp_password", mailbox.pk).startswith("fernet:")


@pytest.mark.django_db
def test_serialized_dumps_hold_no_plain_secret():
    mailbox = Mailbox.objects.create(address="ventas@example.test", imap_password="imap-pass-in-dump")
    dump = serializers.serialize("json", [mailbox])
    assert "imap-pass-in-dump" not in dump and "fernet:" in dump
    # and loading the dump back gives the plain secret
    restored = next(serializers.deserialize("json", dump)).object
    assert restored.imap_password == "imap-pass-in-dump"


def test_mask_shows_only_the_last_characters_of_long_secrets():
    assert crypto.mask("EAAG1234567890abcdef") == "••••cdef"
    assert crypto.mask("short-pass") == "••••"  # a password gives nothing away
    assert crypto.mask("") == ""


# --- rotation ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rotation_with_two_keys_re_encrypts_everything_with_the_new_key(settings):
    # given secrets written with the old key
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    mailbox = Mailbox.objects.create(address="ventas@example.test", imap_password="imap-pass")
    token = mailbox.webhook_token
    number = make_number()
    before = raw_column(Mailbox, "imap_password", mailbox.pk)
    # when the new key is put first, the old one kept after it
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    # then everything still reads, and the webhook still finds its mailbox (hash made with the old key)
    mailbox.refresh_from_db()
    assert mailbox.imap_password == "imap-pass"
    assert Mailbox.with_webhook_token(token).get() == mailbox
    # when the operator rotates
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    # then each row was rewritten with the new key
    assert "mail.Mailbox: 1 row(s) re-encrypted" in out.getvalue()
    assert "whatsapp.WhatsappNumber: 1 row(s) re-encrypted" in out.getvalue()
    assert raw_column(Mailbox, "imap_password", mailbox.pk) != before
    # and the old key can go: the new key alone opens and finds everything
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    mailbox.refresh_from_db()
    number.refresh_from_db()
    assert (mailbox.imap_password, number.app_secret) == ("imap-pass", "app-secret-0001")
    assert Mailbox.with_webhook_token(token).get() == mailbox
    assert check_stored_secrets_decrypt(databases=["default"]) == []
    # while the old key alone no longer opens them
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    with pytest.raises(crypto.SecretDecryptionError):
        mailbox.refresh_from_db()


@pytest.mark.django_db
def test_rotation_with_a_missing_key_stops_with_a_clear_error(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    make_number()
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    with pytest.raises(CommandError, match="FIELD_ENCRYPTION_KEY"):
        call_command("rotate_encryption_keys", stdout=io.StringIO())


# --- a wrong key -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_wrong_key_is_reported_by_the_system_check(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    make_number()
    assert check_stored_secrets_decrypt(databases=["default"]) == []
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    problems = check_stored_secrets_decrypt(databases=["default"])
    assert [p.id for p in problems] == ["core.E101"] * 3  # access token, app secret, verify token
    assert "FIELD_ENCRYPTION_KEY" in problems[0].msg and "whatsapp.WhatsappNumber.access_token" in problems[0].msg
    assert "EAAG" not in problems[0].msg
    # and without a database (plain `manage.py check`) nothing is queried
    assert check_stored_secrets_decrypt(databases=None) == []


@pytest.mark.django_db
def test_wrong_key_answers_503_with_a_sentence_not_a_500(settings, client_for, make_user, caplog):
    # given a number stored with a key that is no longer configured
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    make_number()
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    client = client_for(make_user(Role.ADMIN, username="admin"))
    # when the administrator opens the WhatsApp page
    with caplog.at_level(logging.ERROR):
        response = client.get("/settings/whatsapp/")
    # then a 503 names the variable, and the log has one line naming the field, without a stack trace
    assert response.status_code == 503
    assert "FIELD_ENCRYPTION_KEY" in response.content.decode()
    records = [r for r in caplog.records if "cannot be decrypted" in r.getMessage()]
    assert records and records[0].exc_info is None
    assert "whatsapp.WhatsappNumber" in records[0].getMessage()


@pytest.mark.django_db
def test_wrong_key_on_the_api_answers_the_json_envelope(settings, api_client_for, make_user):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    WebhookEndpoint.objects.create(url="https://billing.example.test/hooks", events=["order.confirmed"])
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    response = api_client_for(make_user(Role.ADMIN, username="admin")).get("/api/v1/webhook-endpoints")
    assert response.status_code == 503
    assert response.json()["code"] == "secrets_unreadable"


# --- the data migrations -----------------------------------------------------------------------------------------

BEFORE = [("crm", "0003_kommo_sync_order"), ("whatsapp", "0002_contact_wa_id_fits_user_id"),
          ("mail", "0001_initial"), ("webhooks", "0001_initial")]
AFTER = [("crm", "0005_encrypt_kommo_secrets"), ("whatsapp", "0004_encrypt_number_secrets"),
         ("mail", "0004_mailbox_webhook_token_hash_required"), ("webhooks", "0003_encrypt_endpoint_secrets")]


def _migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_data_migrations_encrypt_existing_plaintext_rows_and_reverse():
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        # given an installation from before encryption, with secrets in plain text
        old = _migrate(BEFORE)
        old.get_model("crm", "KommoAccount").objects.create(
            pk=1, subdomain="demo", long_lived_token="legacy-kommo-token", webhook_secret="legacy-webhook-secret")
        number = old.get_model("whatsapp", "WhatsappNumber").objects.create(
            phone_number_id="1065", waba_id="1022", access_token="legacy-wa-token", app_secret="legacy-app-secret",
            verify_token="legacy-verify")
        mailbox = old.get_model("mail", "Mailbox").objects.create(
            address="legacy@example.test", imap_password="legacy-imap", webhook_token="legacy-mail-token")
        endpoint = old.get_model("webhooks", "WebhookEndpoint").objects.create(
            url="https://billing.example.test/hooks", events=["order.confirmed"], secret="legacy-signing-secret")

        # when the migrations run
        _migrate(AFTER)

        # then every secret is stored encrypted and reads back as it was
        for model, field, pk, plain in [
            (KommoAccount, "long_lived_token", 1, "legacy-kommo-token"),
            (KommoAccount, "webhook_secret", 1, "legacy-webhook-secret"),
            (WhatsappNumber, "access_token", number.pk, "legacy-wa-token"),
            (WhatsappNumber, "app_secret", number.pk, "legacy-app-secret"),
            (WhatsappNumber, "verify_token", number.pk, "legacy-verify"),
            (Mailbox, "imap_password", mailbox.pk, "legacy-imap"),
            (Mailbox, "webhook_token", mailbox.pk, "legacy-mail-token"),
            (WebhookEndpoint, "secret", endpoint.pk, "legacy-signing-secret"),
        ]:
            assert raw_column(model, field, pk).startswith("fernet:"), (model, field)
            assert getattr(model.objects.get(pk=pk), field) == plain
        # and the existing email webhook URL keeps working (found through the new lookup hash)
        assert raw_column(Mailbox, "webhook_token_hash", mailbox.pk) == crypto.lookup_hash("legacy-mail-token")
        assert Mailbox.with_webhook_token("legacy-mail-token").get().pk == mailbox.pk

        # when they are reversed / then the plain values are back in the original columns
        _migrate(BEFORE)
        assert raw_column(WhatsappNumber, "app_secret", number.pk) == "legacy-app-secret"
        assert raw_column(Mailbox, "webhook_token", mailbox.pk) == "legacy-mail-token"
        assert raw_column(KommoAccount, "webhook_secret", 1) == "legacy-webhook-secret"
    finally:
        _migrate(leaves)


# --- configuration -----------------------------------------------------------------------------------------------


def _manage_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if k not in {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "FIELD_ENCRYPTION_KEY"}}
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=False,
                          env={**base, "DATA_DIR": str(tmp_path / "data"), "DEBUG": "0", "SECRET_KEY": "s" * 60,
                               "ALLOWED_HOSTS": "centralita.example.com", **env})


def test_production_without_field_encryption_key_refuses_to_start(tmp_path):
    result = _manage_check(tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "FIELD_ENCRYPTION_KEY is not set" in lines[0]


def test_a_malformed_key_refuses_to_start_without_echoing_it(tmp_path):
    result = _manage_check(tmp_path, FIELD_ENCRYPTION_KEY=f"{Fernet.generate_key().decode()},not-a-real-key-value")
    assert result.returncode == 2
    assert "key 2 of 2 is not a Fernet key" in result.stderr and "not-a-real-key-value" not in result.stderr


def test_production_with_a_key_starts(tmp_path):
    result = _manage_check(tmp_path, FIELD_ENCRYPTION_KEY=f"{NEW_KEY},{OLD_KEY}")
    assert result.returncode == 0, result.stderr
