"""Administration pages, "Mi correo", the commands, and how an email renders on the conversation page."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from connectors.mail.models import Mailbox, MailProfile
from core.models import AuditLog
from fakes.mailservers import customer_mail

pytestmark = pytest.mark.django_db


def test_admin_connects_a_mailbox_on_the_page(admin_user, client_for, dovecot, smtp_server, mail_address):
    client = client_for(admin_user)
    # when the administrator fills the form
    response = client.post("/settings/mail/", {
        "address": mail_address, "display_name": "Soporte", "inbox_code": "", "enabled": "on",
        "imap_host": "127.0.0.1", "imap_port": dovecot.port, "imap_security": "none", "imap_user": "",
        "imap_password": "secreto", "imap_folder": "INBOX", "poll_interval": 60, "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port, "smtp_security": "none", "smtp_user": "", "smtp_password": "",
        "reply_address": "", "mailgun_signing_key": ""})
    # then the mailbox exists, is audited without its password, and its page shows status and webhook URLs
    mailbox = Mailbox.objects.get(address=mail_address)
    assert response.status_code == 302 and response["Location"] == f"/settings/mail/{mailbox.pk}/"
    audit = AuditLog.objects.get(action="mail.mailbox_created")
    assert audit.changes["imap_password"] == ["***", "***"]
    page = client.get(f"/settings/mail/{mailbox.pk}/").content.decode()
    assert f"/integrations/mail/postmark/{mailbox.webhook_token}/" in page and "secreto" not in page
    # when they test the connection / then both servers answer
    response = client.post(f"/settings/mail/{mailbox.pk}/test/", follow=True)
    assert "IMAP: conexión correcta." in response.content.decode()
    assert "SMTP: conexión correcta." in response.content.decode()
    # when they edit it leaving the password empty / then the stored password is kept
    data = {"address": mail_address, "display_name": "Soporte 2", "inbox_code": "", "enabled": "on",
            "imap_host": "127.0.0.1", "imap_port": dovecot.port, "imap_security": "none", "imap_password": "",
            "imap_folder": "INBOX", "poll_interval": 60, "smtp_host": "127.0.0.1", "smtp_port": smtp_server.port,
            "smtp_security": "none"}
    assert client.post(f"/settings/mail/{mailbox.pk}/", data).status_code == 302
    mailbox.refresh_from_db()
    assert (mailbox.display_name, mailbox.imap_password) == ("Soporte 2", "secreto")


def test_invalid_reply_address_is_refused_on_the_form(admin_user, client_for):
    response = client_for(admin_user).post("/settings/mail/", {
        "address": "ventas@example.test", "imap_port": 993, "imap_security": "ssl", "imap_folder": "INBOX",
        "poll_interval": 60, "smtp_port": 587, "smtp_security": "starttls", "reply_address": "reply@example.test"})
    assert response.status_code == 200 and "{token}" in response.content.decode()
    assert not Mailbox.objects.exists()


def test_rotating_the_webhook_url(admin_user, client_for):
    mailbox = Mailbox.objects.create(address="a@example.test")
    old = mailbox.webhook_token
    client_for(admin_user).post(f"/settings/mail/{mailbox.pk}/rotate/")
    mailbox.refresh_from_db()
    assert mailbox.webhook_token != old


def test_poll_now_enqueues_a_poll(admin_user, client_for, mailbox, django_capture_on_commit_callbacks):
    from connectors.mail.tests.helpers import queued_names

    with django_capture_on_commit_callbacks(execute=True):
        client_for(admin_user).post(f"/settings/mail/{mailbox.pk}/poll/")
    assert queued_names() == ["poll_mailbox"]


def test_agents_cannot_open_mailbox_administration(agent, client_for):
    assert client_for(agent).get("/settings/mail/").status_code == 403


def test_my_mail_saves_signature_and_opt_out(agent, client_for):
    client = client_for(agent)
    assert client.get("/profile/mail/").status_code == 200
    client.post("/profile/mail/", {"signature": "Marta\nSoporte", "notifications": ""})
    profile = MailProfile.objects.get(user=agent)
    assert (profile.signature, profile.notifications) == ("Marta\nSoporte", False)


def test_mail_connect_creates_then_updates_and_checks(db, dovecot, smtp_server, mail_address, capsys):
    # when run for a new address / then it prints what it configured (never the password)
    call_command("mail_connect", "--address", mail_address, "--imap-host", "127.0.0.1", "--imap-port",
                 str(dovecot.port), "--imap-security", "none", "--imap-password", "secreto", "--smtp-host",
                 "127.0.0.1", "--smtp-port", str(smtp_server.port), "--smtp-security", "none", "--check")
    out = capsys.readouterr().out
    mailbox = Mailbox.objects.get()
    assert f"created mailbox #{mailbox.pk} {mail_address}" in out
    assert f"IMAP: none 127.0.0.1:{dovecot.port}" in out and "check imap: ok" in out and "check smtp: ok" in out
    assert f"webhook postmark: http://127.0.0.1:8000/integrations/mail/postmark/{mailbox.webhook_token}/" in out
    assert "secreto" not in out
    # when run again with one option / then only that changes
    call_command("mail_connect", "--address", mail_address, "--poll-interval", "20")
    mailbox.refresh_from_db()
    assert (mailbox.poll_interval, mailbox.imap_port, mailbox.imap_password) == (20, dovecot.port, "secreto")
    assert "updated mailbox" in capsys.readouterr().out


def test_mail_connect_reports_refusals(db):
    with pytest.raises(CommandError, match="inválida"):
        call_command("mail_connect", "--address", "no-es-correo")


def test_poll_mailboxes_command(mailbox, dovecot, capsys):
    dovecot.append(mailbox.address, customer_mail(sender="ana@cliente.test", to=mailbox.address, subject="Hola",
                                                  body="Hola"))
    call_command("poll_mailboxes")
    assert f"{mailbox.address}: fetched 1, stored 1, skipped 0, failed 0 — ok" in capsys.readouterr().out


def test_email_renders_with_headers_and_plain_text_quote(supervisor, client_for):
    from inbox.actions import do_receive_inbound

    c, _m, _new = do_receive_inbound(channel="email", body="Gracias", emails=["ana@cliente.test"],
                                     customer_name="Ana", meta={"from": "ana@cliente.test", "from_name": "Ana",
                                                                "to": ["soporte@example.test"],
                                                                "quoted_text": "> <b>antes</b>",
                                                                "html": "<p onclick=x>Gracias<script>y()</script></p>"})
    page = client_for(supervisor).get(f"/inbox/{c.pk}/").content.decode()
    assert "Ana &lt;ana@cliente.test&gt; → soporte@example.test" in page
    assert "<p>Gracias</p>" in page and "onclick" not in page and "y()" not in page  # sanitized again when shown
    assert "&gt; &lt;b&gt;antes&lt;/b&gt;" in page  # quoted text is text, escaped
