"""Security review: a blank password on edit keeps the stored one, but never for another host, port or user (the
connection check and the poller would log in there with it)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.mail.actions import check_save_mailbox
from connectors.mail.models import Mailbox
from core.errors import ActionError

pytestmark = pytest.mark.django_db
BASE: dict[str, Any] = {"address": "ayuda@example.test", "imap_host": "imap.example.test", "imap_port": 993,
                        "imap_user": "ayuda", "smtp_host": "smtp.example.test", "smtp_port": 587,
                        "smtp_user": "ayuda"}


@pytest.fixture
def stored(admin_user: Any) -> Mailbox:
    return check_save_mailbox(admin_user, **BASE, imap_password="imap-secret", smtp_password="smtp-secret")


@pytest.mark.parametrize(("change", "field"), [
    ({"imap_host": "evil.example.test"}, "imap_password"),
    ({"imap_port": 1993}, "imap_password"),
    ({"imap_user": "otro"}, "imap_password"),
    ({"smtp_host": "evil.example.test"}, "smtp_password"),
    ({"smtp_port": 2525}, "smtp_password"),
    ({"smtp_user": "otro"}, "smtp_password"),
])
def test_stored_mail_password_is_not_kept_for_a_new_server(admin_user: Any, stored: Mailbox,
                                                           change: dict[str, Any], field: str) -> None:
    # when a manager points the mailbox at another server with the password left blank
    with pytest.raises(ActionError) as refused:
        check_save_mailbox(admin_user, mailbox_id=stored.pk, **{**BASE, **change})
    # then the password must be typed again and the mailbox still points at the old server
    assert refused.value.code == f"{field}_required_for_new_server"
    assert refused.value.details["field"] == field
    assert "escriba de nuevo la contraseña" in refused.value.message
    mailbox = Mailbox.objects.get()
    assert (mailbox.imap_host, mailbox.smtp_host, mailbox.imap_port) == ("imap.example.test", "smtp.example.test", 993)


def test_a_new_server_with_the_password_typed_again_is_saved(admin_user: Any, stored: Mailbox) -> None:
    check_save_mailbox(admin_user, mailbox_id=stored.pk, **{**BASE, "imap_host": "nuevo.example.test"},
                       imap_password="nuevo-secreto")
    assert Mailbox.objects.get().imap_password == "nuevo-secreto"


def test_same_server_with_a_blank_password_keeps_the_stored_one(admin_user: Any, stored: Mailbox) -> None:
    # when only the display name changes and the passwords are left blank
    check_save_mailbox(admin_user, mailbox_id=stored.pk, **BASE, display_name="Soporte")
    # then both stored passwords stay
    mailbox = Mailbox.objects.get()
    assert (mailbox.display_name, mailbox.imap_password, mailbox.smtp_password) == (
        "Soporte", "imap-secret", "smtp-secret")
