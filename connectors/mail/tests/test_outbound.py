"""Answers leave by SMTP through the conversation's mailbox: headers, attachments, TLS, retries, idempotency."""

from __future__ import annotations

import pytest
from django.tasks import default_task_backend
from django.utils import timezone

from connectors.mail.models import Mailbox, OutboundMail
from connectors.mail.outbound import MAX_ATTEMPTS, do_send_email
from connectors.mail.outbox import OUTBOX
from connectors.mail.tasks import retry_mail
from connectors.mail.tests.helpers import run_queued
from core.errors import ActionError
from fakes.mailservers import SmtpServer, free_port, make_certificate
from inbox import actions
from inbox.attachments import store_attachment
from inbox.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(mailbox):
    """A customer's mail as the intake stores it (channel_ref names the mailbox)."""
    c, _m, _new = actions.do_receive_inbound(
        channel="email", body="¿Tienen la talla M?", customer_name="Ana", emails=["ana@cliente.test"],
        subject="Talla", external_id=f"mail:{mailbox.pk}:q1@cliente.test", channel_ref=f"mail:{mailbox.pk}:abc",
        meta={"message_id": "q1@cliente.test", "from": "ana@cliente.test", "reply_to": ["ana.casa@cliente.test"],
              "references": ["q0@cliente.test"]})
    return c


def test_answer_goes_to_reply_to_with_attachments(conversation, supervisor, smtp_server,
                                                  django_capture_on_commit_callbacks):
    # given an answer with an attachment
    attached = store_attachment(conversation_id=conversation.pk, name="guía de tallas.pdf",
                                content_type="application/pdf", data=b"%PDF tallas")
    with django_capture_on_commit_callbacks(execute=True):
        message = actions.check_send_reply(supervisor, conversation.pk, body="Le envío la guía.",
                                           attachments=[attached])
    assert message.delivery_status == "queued"
    # when the worker delivers it
    run_queued("deliver_outbound")
    # then it went to the customer's Reply-To, with the file, threaded under their mail
    (sent,) = smtp_server.messages
    parsed = sent.parsed
    assert sent.rcpt_tos == ["ana.casa@cliente.test"]
    assert parsed["In-Reply-To"] == "<q1@cliente.test>"
    assert parsed["References"] == "<q0@cliente.test> <q1@cliente.test>"
    (attachment,) = list(parsed.iter_attachments())
    assert attachment.get_filename() == "guía de tallas.pdf" and attachment.get_content() == b"%PDF tallas"
    message.refresh_from_db()
    assert message.delivery_status == "sent"


def test_sending_twice_sends_once(conversation, supervisor, smtp_server):
    message = actions.check_send_reply(supervisor, conversation.pk, body="Hola")
    assert do_send_email(message.pk) == "sent"
    assert do_send_email(message.pk) == "skipped"
    assert len(smtp_server.messages) == 1


def test_temporary_failure_is_retried_with_backoff_and_the_same_message_id(conversation, supervisor, smtp_server):
    # given the server answers 451 once
    smtp_server.fail_next = [(451, "4.3.0 Intente más tarde")]
    message = actions.check_send_reply(supervisor, conversation.pk, body="Hola")
    default_task_backend.clear()
    # when we send / then it stays queued and a retry is scheduled after the first backoff step
    assert do_send_email(message.pk) == "retry"
    message.refresh_from_db()
    out = OutboundMail.objects.get(message=message)
    assert message.delivery_status == "queued" and out.attempts == 1 and "451" in out.last_error
    (retry,) = default_task_backend.results
    assert retry.task.name == "send_email" and retry.args == [message.pk]
    wait = (retry.task.run_after - timezone.now()).total_seconds()
    assert OUTBOX.backoff_base * 0.8 - 5 < wait < OUTBOX.backoff_base * 1.2 + 5  # the first step, ±20 % jitter
    # when the retry runs / then the mail leaves once, with the Message-ID chosen the first time
    run_queued("send_email")
    message.refresh_from_db()
    assert message.delivery_status == "sent" and len(smtp_server.messages) == 1
    assert smtp_server.messages[0].parsed["Message-ID"] == f"<{out.rfc_message_id}>"


def test_permanent_refusal_fails_at_once(conversation, supervisor, smtp_server):
    smtp_server.fail_next = [(550, "5.1.1 Usuario desconocido")]
    message = actions.check_send_reply(supervisor, conversation.pk, body="Hola")
    assert do_send_email(message.pk) == "failed"
    message.refresh_from_db()
    assert message.delivery_status == "failed" and "5.1.1 Usuario desconocido" in message.delivery_error


def test_a_refused_answer_retried_by_the_agent_leaves_again_with_the_same_message_id(
        conversation, supervisor, smtp_server, django_capture_on_commit_callbacks):
    # given the server refused the answer for good (the customer's mailbox did not exist yet)
    smtp_server.fail_next = [(550, "5.1.1 Usuario desconocido")]
    message = actions.check_send_reply(supervisor, conversation.pk, body="Hola")
    assert do_send_email(message.pk) == "failed"
    out = OutboundMail.objects.get(message=message)
    # when the agent retries it from the conversation
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_retry_delivery(supervisor, conversation.pk, message.pk)
    out.refresh_from_db()
    assert (out.state, out.attempts, out.last_error) == ("pending", 0, "")
    run_queued("deliver_outbound")
    # then it leaves once, carrying the Message-ID it was given the first time
    message.refresh_from_db()
    assert message.delivery_status == "sent"
    (sent,) = smtp_server.messages
    assert sent.parsed["Message-ID"] == f"<{out.rfc_message_id}>"


@pytest.mark.faults
def test_unreachable_server_fails_after_the_last_attempt(conversation, supervisor, mailbox):
    # given the SMTP server is down
    Mailbox.objects.filter(pk=mailbox.pk).update(smtp_port=free_port())
    message = actions.check_send_reply(supervisor, conversation.pk, body="Hola")
    # when every attempt fails / then the message is failed only after the last one
    for _attempt in range(MAX_ATTEMPTS - 1):
        assert do_send_email(message.pk) == "retry"
        OutboundMail.objects.filter(message=message).update(next_attempt_at=timezone.now())
    assert do_send_email(message.pk) == "failed"
    message.refresh_from_db()
    assert message.delivery_status == "failed" and "ConnectionRefusedError" in message.delivery_error


def test_periodic_job_picks_up_due_retries(conversation, supervisor, smtp_server):
    smtp_server.fail_next = [(421, "4.7.0 ocupado")]
    message = actions.check_send_reply(supervisor, conversation.pk, body="Hola")
    do_send_email(message.pk)
    default_task_backend.clear()
    # when the retry time has not come / then nothing is enqueued; when it has, the send is
    assert retry_mail.call() == 0
    OutboundMail.objects.filter(message=message).update(next_attempt_at=timezone.now())
    assert retry_mail.call() == 1
    run_queued("send_email")
    message.refresh_from_db()
    assert message.delivery_status == "sent"


def test_starttls_with_login_and_a_private_ca(conversation, supervisor, mailbox, settings, tmp_path):
    # given an SMTP server that requires STARTTLS and a login, with a certificate of our own CA
    cert = make_certificate(tmp_path)
    with SmtpServer(tls_cert=cert, auth=("soporte", "clave-smtp")) as secure:
        Mailbox.objects.filter(pk=mailbox.pk).update(smtp_port=secure.port, smtp_security="starttls",
                                                     smtp_user="soporte", smtp_password="clave-smtp")
        settings.MAIL_CA_FILE = str(cert[0])
        message = actions.check_send_reply(supervisor, conversation.pk, body="Hola por TLS")
        # when sent / then it was accepted over TLS after logging in
        assert do_send_email(message.pk) == "sent"
        assert len(secure.messages) == 1
        # and without trusting the CA the certificate is refused (retried, never sent in clear)
        settings.MAIL_CA_FILE = ""
        other = actions.check_send_reply(supervisor, conversation.pk, body="Otra")
        assert do_send_email(other.pk) == "retry"
        assert "CERTIFICATE_VERIFY_FAILED" in OutboundMail.objects.get(message=other).last_error


def test_no_mailbox_refuses_the_answer_before_storing_it(conversation, supervisor, mailbox):
    Mailbox.objects.filter(pk=mailbox.pk).update(enabled=False)
    with pytest.raises(ActionError, match="buzón"):
        actions.check_send_reply(supervisor, conversation.pk, body="Hola")
    assert not Message.objects.filter(kind="outbound").exists()
