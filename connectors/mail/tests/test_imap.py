"""IMAP polling against a real Dovecot: storing, \\Seen only after storing, UID bookkeeping, filtering, TLS."""

from __future__ import annotations

import pytest
from django.tasks import default_task_backend

from connectors.mail.imap import MAX_ATTEMPTS, do_poll_mailbox
from connectors.mail.models import InboundMail, Mailbox
from connectors.mail.tasks import poll_due_mailboxes
from fakes.mailservers import customer_mail
from inbox.attachments import read_attachment
from inbox.models import Conversation, Message

pytestmark = pytest.mark.django_db
SEEN = r"\Seen"


def mail(subject="Consulta por mi pedido", body="Hola, ¿dónde está mi pedido 1042?",
         sender="Ana Pérez <ana@cliente.test>", to="", **kwargs):
    return customer_mail(sender=sender, to=to or "soporte@example.test", subject=subject, body=body, **kwargs)


def test_poll_stores_mail_as_a_conversation_and_only_then_marks_it_seen(mailbox, dovecot):
    # given a customer's mail waiting unread in the mailbox
    uid = dovecot.append(mailbox.address, mail(message_id="<p1@cliente.test>"))
    # when we poll
    result = do_poll_mailbox(mailbox.pk)
    # then it is one new email conversation in Global, from the customer, and flagged \Seen on the server
    assert (result.fetched, result.stored, result.failed) == (1, 1, 0)
    conversation = Conversation.objects.get()
    message = conversation.messages.get()
    assert (conversation.channel, conversation.inbox.code, conversation.subject) == (
        "email", "global", "Consulta por mi pedido")
    assert conversation.channel_ref.startswith(f"mail:{mailbox.pk}:")
    assert conversation.customer.emails.get().email == "ana@cliente.test" and conversation.customer.name == "Ana Pérez"
    assert message.body == "Hola, ¿dónde está mi pedido 1042?"
    assert message.external_id == f"mail:{mailbox.pk}:p1@cliente.test"
    assert message.meta["message_id"] == "p1@cliente.test" and message.meta["from"] == "ana@cliente.test"
    assert SEEN in dovecot.flags(mailbox.address, uid)
    mailbox.refresh_from_db()
    assert mailbox.last_uid == uid and mailbox.uid_validity and mailbox.last_polled_at and not mailbox.last_error
    log = InboundMail.objects.get()
    assert (log.status, log.imap_uid, log.conversation_id, log.message_id) == ("stored", uid, conversation.pk,
                                                                                message.pk)


def test_target_inbox_of_the_mailbox(mailbox, dovecot):
    from inbox.models import Inbox

    # given a mailbox routed to the "ventas" inbox
    ventas, _created = Inbox.objects.get_or_create(code="ventas", defaults={"name": "Ventas", "auto_assign": False})
    Mailbox.objects.filter(pk=mailbox.pk).update(inbox=ventas)
    dovecot.append(mailbox.address, mail())
    # when polled / then the conversation starts there
    do_poll_mailbox(mailbox.pk)
    assert Conversation.objects.get().inbox.code == "ventas"


def test_first_poll_takes_unread_mail_then_every_new_uid_and_nothing_twice(mailbox, dovecot):
    # given mail read in webmail before the mailbox was connected, and one unread
    dovecot.append(mailbox.address, mail(subject="Vieja", message_id="<old@cliente.test>"), seen=True)
    dovecot.append(mailbox.address, mail(subject="Nueva", message_id="<new@cliente.test>"))
    # when the first poll runs / then only the unread one is new work
    assert do_poll_mailbox(mailbox.pk).stored == 1
    assert list(Message.objects.values_list("conversation__subject", flat=True)) == ["Nueva"]
    # given a new mail that someone reads in webmail before our next poll
    uid = dovecot.append(mailbox.address, mail(subject="Leída antes", message_id="<read@cliente.test>"))
    dovecot.set_seen(mailbox.address, uid)
    # when polled twice / then it is taken once (UID bookkeeping, not the \Seen flag, decides)
    assert do_poll_mailbox(mailbox.pk).stored == 1
    again = do_poll_mailbox(mailbox.pk)
    assert (again.fetched, again.stored) == (0, 0)
    assert sorted(Message.objects.values_list("conversation__subject", flat=True)) == ["Leída antes", "Nueva"]


def test_same_message_id_again_is_a_duplicate_not_a_second_message(mailbox, dovecot):
    # given the same mail delivered twice (e.g. copied back into the folder)
    dovecot.append(mailbox.address, mail(message_id="<dup@cliente.test>"))
    dovecot.append(mailbox.address, mail(message_id="<dup@cliente.test>"))
    # when polled / then one message, the second logged as duplicate, both flagged seen
    do_poll_mailbox(mailbox.pk)
    assert Message.objects.count() == 1
    assert sorted(InboundMail.objects.values_list("status", flat=True)) == ["duplicate", "stored"]
    assert all(SEEN in dovecot.flags(mailbox.address, u) for u in dovecot.uids(mailbox.address))


def test_failure_while_storing_leaves_the_mail_unseen_and_later_mail_waits(mailbox, dovecot, settings, tmp_path):
    # given a mail with an attachment, then another mail, and attachment storage broken (its folder is a file)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    good_media = settings.MEDIA_ROOT
    settings.MEDIA_ROOT = str(blocker / "media")
    first = dovecot.append(mailbox.address, mail(subject="Con adjunto", message_id="<a1@cliente.test>",
                                                 attachments=[("foto.png", "image/png", b"PNG")]))
    second = dovecot.append(mailbox.address, mail(subject="Después", message_id="<a2@cliente.test>"))
    # when we poll
    result = do_poll_mailbox(mailbox.pk)
    # then nothing is stored, both stay unseen (order kept) and the failure is logged for a retry
    assert (result.failed, result.stored) == (1, 0)
    assert not Message.objects.exists() and not Conversation.objects.exists()
    assert SEEN not in dovecot.flags(mailbox.address, first) and SEEN not in dovecot.flags(mailbox.address, second)
    failed = InboundMail.objects.get()
    assert (failed.status, failed.imap_uid, failed.attempts) == ("failed", first, 1)
    assert "NotADirectoryError" in failed.error or "FileExistsError" in failed.error
    # when storage works again and we poll / then both are stored in order and flagged seen
    settings.MEDIA_ROOT = good_media
    assert do_poll_mailbox(mailbox.pk).stored == 2
    assert list(Message.objects.order_by("pk").values_list("conversation__subject", flat=True)) == [
        "Con adjunto", "Después"]
    assert SEEN in dovecot.flags(mailbox.address, first) and SEEN in dovecot.flags(mailbox.address, second)
    assert InboundMail.objects.get(imap_uid=first).status == "stored"


def test_a_mail_failing_every_time_is_skipped_after_the_limit(mailbox, dovecot):
    # given a mail that already failed MAX_ATTEMPTS times, and a good one after it
    do_poll_mailbox(mailbox.pk)  # baseline: the folder is known
    bad = dovecot.append(mailbox.address, mail(subject="Mala", message_id="<bad@cliente.test>"))
    dovecot.append(mailbox.address, mail(subject="Buena", message_id="<good@cliente.test>"))
    mailbox.refresh_from_db()
    InboundMail.objects.create(mailbox=mailbox, source="imap", status="failed", imap_uid=bad,
                               uid_validity=mailbox.uid_validity, attempts=MAX_ATTEMPTS)
    # when polled / then the bad one is skipped (left unseen for a person) and the good one is stored
    result = do_poll_mailbox(mailbox.pk)
    assert (result.skipped, result.stored) == (1, 1)
    assert list(Message.objects.values_list("conversation__subject", flat=True)) == ["Buena"]
    assert SEEN not in dovecot.flags(mailbox.address, bad)


def test_attachments_are_stored_and_html_is_sanitized_with_quote_collapsed(mailbox, dovecot, client_for,
                                                                            supervisor):
    # given an HTML reply with a script, a tracking pixel, a Gmail quote and a PDF
    html = ('<div>Adjunto la <b>factura</b><script>alert("xss")</script><img src="https://track.test/p.gif"></div>'
            '<div class="gmail_quote">El lun escribió:<blockquote>Mensaje anterior</blockquote></div>')
    dovecot.append(mailbox.address, mail(body="Adjunto la factura\n\nEl lun, Soporte escribió:\n> Mensaje anterior",
                                         html=html, attachments=[("factura.pdf", "application/pdf", b"%PDF-1.4")]))
    # when polled
    do_poll_mailbox(mailbox.pk)
    message = Message.objects.get()
    # then the attachment is in storage, the HTML kept is clean and split from its quoted history
    (attachment,) = message.attachments
    assert (attachment["name"], attachment["content_type"]) == ("factura.pdf", "application/pdf")
    assert read_attachment(attachment) == b"%PDF-1.4"
    assert message.body == "Adjunto la factura"
    assert message.meta["html"] == "<div>Adjunto la <b>factura</b></div>"
    assert "Mensaje anterior" in message.meta["html_quoted"] and "script" not in message.meta["html_quoted"]
    # and the conversation page shows the clean HTML with the history collapsed
    page = client_for(supervisor).get(f"/inbox/{message.conversation_id}/").content.decode()
    assert "<div>Adjunto la <b>factura</b></div>" in page
    assert '<details class="mail-quoted">' in page and "Mensaje anterior" in page
    assert 'alert("xss")' not in page and "track.test" not in page and "factura.pdf" in page


def test_unmatched_mail_from_the_same_customer_opens_its_own_conversation(mailbox, dovecot):
    # given two unrelated mails of one customer (no reply address, no In-Reply-To)
    dovecot.append(mailbox.address, mail(subject="Pedido 1", message_id="<u1@cliente.test>"))
    dovecot.append(mailbox.address, mail(subject="Factura", message_id="<u2@cliente.test>"))
    # when polled / then each is a conversation of the same customer
    do_poll_mailbox(mailbox.pk)
    assert Conversation.objects.count() == 2
    assert Conversation.objects.values("customer").distinct().count() == 1


def test_auto_replies_and_bounces_never_open_conversations(mailbox, dovecot):
    # given an out-of-office answer, a vacation notice with Precedence and a mailer-daemon bounce
    dovecot.append(mailbox.address, mail(subject="Fuera de la oficina", headers={"Auto-Submitted": "auto-replied"}))
    dovecot.append(mailbox.address, mail(subject="Vacaciones", headers={"Precedence": "bulk"}))
    dovecot.append(mailbox.address, mail(subject="Undelivered", sender="MAILER-DAEMON@mx.cliente.test"))
    # when polled
    result = do_poll_mailbox(mailbox.pk)
    # then they are logged (and flagged seen: handled) but no conversation or customer message exists
    assert result.stored == 3
    assert not Conversation.objects.exists()
    assert sorted(InboundMail.objects.values_list("status", "reason")) == [
        ("auto_reply", "Auto-Submitted: auto-replied"), ("auto_reply", "Precedence: bulk"),
        ("bounce", "From: mailer-daemon")]
    assert all(SEEN in dovecot.flags(mailbox.address, u) for u in dovecot.uids(mailbox.address))


def test_our_own_mail_coming_back_is_ignored(mailbox, dovecot):
    dovecot.append(mailbox.address, mail(sender=f"Soporte <{mailbox.address}>"))
    do_poll_mailbox(mailbox.pk)
    assert not Conversation.objects.exists()
    assert InboundMail.objects.get().reason == "own_address"


def test_imaps_with_a_verified_self_signed_certificate(db, dovecot_tls, settings):
    from connectors.mail.actions import check_save_mailbox

    # given a mailbox on IMAPS whose certificate is trusted through MAIL_CA_FILE
    mailbox = check_save_mailbox(None, address="seguro@example.test", imap_host="127.0.0.1",
                                 imap_port=dovecot_tls.ssl_port, imap_security="ssl", imap_password="secreto")
    dovecot_tls.append("seguro@example.test", mail(to="seguro@example.test"))
    # when polled without trusting the certificate / then nothing is read and the error is shown on the mailbox
    settings.MAIL_CA_FILE = ""
    assert "CERTIFICATE_VERIFY_FAILED" in do_poll_mailbox(mailbox.pk).error
    mailbox.refresh_from_db()
    assert "CERTIFICATE_VERIFY_FAILED" in mailbox.last_error and not Conversation.objects.exists()
    # when trusted / then the mail is read over TLS
    settings.MAIL_CA_FILE = str(dovecot_tls.cert_path)
    assert do_poll_mailbox(mailbox.pk).stored == 1
    mailbox.refresh_from_db()
    assert not mailbox.last_error and Conversation.objects.count() == 1


def test_wrong_password_or_no_server_is_recorded_not_raised(db):
    from connectors.mail.actions import check_save_mailbox
    from fakes.mailservers import DovecotServer, free_port

    # given a mailbox whose password is wrong (on a server of its own: failed logins slow the shared one down)
    with DovecotServer(users={"clave@example.test": "buena"}) as server:
        mailbox = check_save_mailbox(None, address="clave@example.test", imap_host="127.0.0.1",
                                     imap_port=server.port, imap_security="none", imap_password="mala")
        # when polled / then the failure is on the mailbox for the administrator, and the lease is released
        assert "AUTHENTICATIONFAILED" in do_poll_mailbox(mailbox.pk).error
    mailbox.refresh_from_db()
    assert "AUTHENTICATIONFAILED" in mailbox.last_error and mailbox.poll_lease_until is None
    # given nothing listening any more / then the same
    Mailbox.objects.filter(pk=mailbox.pk).update(imap_port=free_port())
    assert do_poll_mailbox(mailbox.pk).error


def test_a_running_poll_holds_a_lease(mailbox):
    from django.utils import timezone

    Mailbox.objects.filter(pk=mailbox.pk).update(poll_lease_until=timezone.now() + timezone.timedelta(minutes=1))
    assert do_poll_mailbox(mailbox.pk).busy


def test_periodic_job_enqueues_each_due_mailbox_once_per_interval(mailbox, time_machine):
    time_machine.move_to("2026-11-20 10:00:00-05:00", tick=False)
    # given an enabled IMAP mailbox polled every 30 s, and a webhook-only one
    Mailbox.objects.create(address="solo-webhook@example.test")
    default_task_backend.clear()
    # when the job runs twice in a row / then one poll is enqueued, for the IMAP mailbox
    assert poll_due_mailboxes.call() == 1
    assert poll_due_mailboxes.call() == 0
    (queued,) = default_task_backend.results
    assert (queued.task.name, queued.args) == ("poll_mailbox", [mailbox.pk])
    # when the interval has passed / then it is due again
    time_machine.shift(31)
    assert poll_due_mailboxes.call() == 1


BOGUS_CHARSET = (b"From: Ana <ana@cliente.test>\r\nTo: soporte@example.test\r\nSubject: Consulta\r\n"
                 b"Message-ID: <bogus@cliente.test>\r\nContent-Type: text/plain; charset=x-bogus-zzz\r\n"
                 b"Content-Transfer-Encoding: base64\r\n\r\nSG9sYQ==\r\n")


def test_given_a_mail_with_a_bogus_charset_when_polled_then_it_is_given_up_with_its_raw_bytes_kept(mailbox,
                                                                                                   dovecot):
    # given a malformed mail (a charset that does not exist: the parser raises LookupError) and a good one after it
    do_poll_mailbox(mailbox.pk)  # baseline: the folder is known
    bad = dovecot.append(mailbox.address, BOGUS_CHARSET)
    dovecot.append(mailbox.address, mail(subject="Buena", message_id="<good2@cliente.test>"))
    # when polled
    result = do_poll_mailbox(mailbox.pk)
    # then the good one is stored, the bad one is recorded as failed with its bytes kept (it is skipped from now
    # on, so the row is the only copy Centralita has) and left unseen on the server
    assert (result.failed, result.stored) == (1, 1)
    failed = InboundMail.objects.get(imap_uid=bad)
    assert failed.status == "failed" and "LookupError" in failed.error
    assert bytes(failed.raw).replace(b"\r\n", b"\n") == BOGUS_CHARSET.replace(b"\r\n", b"\n")
    assert SEEN not in dovecot.flags(mailbox.address, bad)


def test_given_a_bug_of_ours_while_storing_a_mail_when_polled_then_the_mail_is_not_skipped_for_good():
    # a TypeError/AttributeError/plain ValueError is a code bug, not bad content: it must stop the batch and be
    # retried (up to MAX_ATTEMPTS) instead of moving last_uid past the mail at once
    from connectors.mail.imap import is_content_error

    for bug in (TypeError("x"), AttributeError("x"), ValueError("x"), KeyError("x"), IndexError("x")):
        assert not is_content_error(bug)
    for content in (LookupError("unknown encoding"), UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
                    RecursionError()):
        assert is_content_error(content)
