"""Issue 12: RFC 3464 delivery reports about our answers. `Action: failed` (5.x.x) fails the message; a delay
notice (`Action: delayed`, 4.x.x) only leaves a warning, so the agent does not resend and duplicate the answer."""

from __future__ import annotations

import pytest

from connectors.mail.imap import do_poll_mailbox
from connectors.mail.models import InboundMail, OutboundMail
from connectors.mail.parsing import classify, parse
from connectors.mail.tests.test_roundtrip import CUSTOMER, agent_answers, customer_sends
from fakes.mailservers import customer_mail
from inbox.models import Conversation, Message

pytestmark = pytest.mark.django_db


def postfix_report(*, to: str, our_id: str, action: str, status: str, diagnostic: str, subject: str,
                   attach_full_message: bool = False) -> bytes:
    """A report as Postfix writes it: human text, message/delivery-status (per-message block, then the
    per-recipient block) and the original (full message/rfc822 or only its headers)."""
    extra = "Will-Retry-Until: Mon, 7 Dec 2026 10:00:00 +0000\r\n" if action == "delayed" else ""
    original_headers = (f"From: Soporte Centralita <{to}>\r\nTo: {CUSTOMER}\r\nSubject: Re: Consulta\r\n"
                        f"Message-ID: <{our_id}>\r\nDate: Fri, 4 Dec 2026 10:00:00 +0000\r\n")
    if attach_full_message:
        original = ("Content-Type: message/rfc822\r\nContent-Description: Undelivered Message\r\n\r\n"
                    f"{original_headers}Content-Type: text/plain; charset=utf-8\r\n\r\nRespuesta\r\n")
    else:
        original = "Content-Type: text/rfc822-headers\r\nContent-Description: Undelivered Message Headers\r\n\r\n" + (
            original_headers)
    return (
        "Return-Path: <>\r\n"
        "From: MAILER-DAEMON@mx.cliente.test (Mail Delivery System)\r\n"
        f"To: {to}\r\nSubject: {subject}\r\nDate: Fri, 4 Dec 2026 10:05:00 +0000\r\n"
        "Message-ID: <20261204100500.4F1A2@mx.cliente.test>\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        "\tboundary=\"4F1A2.1733306700/mx.cliente.test\"\r\n\r\n"
        "This is a MIME-encapsulated message.\r\n\r\n"
        "--4F1A2.1733306700/mx.cliente.test\r\n"
        "Content-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is the mail system at host mx.cliente.test.\r\n\r\n"
        f"<{CUSTOMER}>: {diagnostic}\r\n\r\n"
        "--4F1A2.1733306700/mx.cliente.test\r\n"
        "Content-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.cliente.test\r\nX-Postfix-Queue-ID: 4F1A2\r\n"
        "Arrival-Date: Fri,  4 Dec 2026 10:00:01 +0000 (UTC)\r\n\r\n"
        f"Final-Recipient: rfc822; {CUSTOMER}\r\nOriginal-Recipient: rfc822;{CUSTOMER}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\nRemote-MTA: dns; imap.cliente.test\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n{extra}\r\n"
        "--4F1A2.1733306700/mx.cliente.test\r\n"
        f"{original}\r\n"
        "--4F1A2.1733306700/mx.cliente.test--\r\n"
    ).encode()


def test_parsing_reads_the_per_recipient_blocks_of_a_delivery_report():
    raw = postfix_report(to="soporte@example.test", our_id="hub.1.2@example.test", action="delayed",
                         status="4.2.2", diagnostic="452 4.2.2 Mailbox full",
                         subject="Delayed Mail (still being retried)")
    mail = parse(raw)
    assert classify(mail) == ("bounce", "multipart/report delivery-status")
    assert mail.reported_message_ids == ["hub.1.2@example.test"]
    (report,) = mail.dsn
    assert (report.recipient, report.action, report.status) == (CUSTOMER, "delayed", "4.2.2")
    assert report.diagnostic == "smtp; 452 4.2.2 Mailbox full"
    assert report.delayed and not report.failed


@pytest.fixture
def answer(mailbox, smtp_server, supervisor, django_capture_on_commit_callbacks) -> Message:
    customer_sends(smtp_server, customer_mail(sender=CUSTOMER, to=mailbox.address, subject="Consulta",
                                              body="Hola"), mailbox.address)
    do_poll_mailbox(mailbox.pk)
    conversation = Conversation.objects.get()
    return agent_answers(supervisor, conversation.pk, "Respuesta", django_capture_on_commit_callbacks)


def test_dsn_action_failed_marks_our_answer_failed(mailbox, smtp_server, answer):
    # given a permanent failure report (5.x.x) about our answer, with the full original attached
    our_id = OutboundMail.objects.get(message=answer).rfc_message_id
    customer_sends(smtp_server, postfix_report(
        to=mailbox.address, our_id=our_id, action="failed", status="5.1.1",
        subject="Undelivered Mail Returned to Sender",
        diagnostic="550 5.1.1 <ana@cliente.test>: Recipient address rejected: User unknown",
        attach_full_message=True), mailbox.address)
    do_poll_mailbox(mailbox.pk)
    # then our message is failed with the diagnostic, and nothing new appears in the conversation
    answer.refresh_from_db()
    assert answer.delivery_status == "failed"
    assert "550 5.1.1" in answer.delivery_error and "User unknown" in answer.delivery_error
    assert OutboundMail.objects.get(message=answer).state == "failed"
    assert Message.objects.filter(kind="inbound").count() == 1
    assert InboundMail.objects.get(subject__startswith="Undelivered").status == "bounce"


def test_dsn_action_delayed_only_warns_and_keeps_the_answer_sent(mailbox, smtp_server, answer):
    # given a delay notice (4.2.2 mailbox full: the customer's server keeps retrying)
    our_id = OutboundMail.objects.get(message=answer).rfc_message_id
    customer_sends(smtp_server, postfix_report(
        to=mailbox.address, our_id=our_id, action="delayed", status="4.2.2", diagnostic="452 4.2.2 Mailbox full",
        subject="Delayed Mail (still being retried)"), mailbox.address)
    do_poll_mailbox(mailbox.pk)
    # then our message stays sent, with the delay as a warning the agent can read
    answer.refresh_from_db()
    assert answer.delivery_status == "sent"
    assert answer.delivery_error.startswith("Entrega demorada: 4.2.2") and "Mailbox full" in answer.delivery_error
    warning = answer.meta["delivery_warning"]
    assert (warning["kind"], warning["status"], warning["recipient"]) == ("delayed", "4.2.2", CUSTOMER)
    outbound = OutboundMail.objects.get(message=answer)
    assert outbound.state == "sent" and outbound.last_error.startswith("Entrega demorada")
    log = InboundMail.objects.get(subject__startswith="Delayed")
    assert log.status == "bounce" and log.reason.endswith("(delayed)")
    assert log.conversation_id == answer.conversation_id
    assert Message.objects.filter(kind="inbound").count() == 1


def test_a_failure_after_a_delay_still_fails_the_answer(mailbox, smtp_server, answer):
    # given a delay notice, then (days later) the final failure for the same answer
    our_id = OutboundMail.objects.get(message=answer).rfc_message_id
    for action, status, subject in (("delayed", "4.2.2", "Delayed Mail"), ("failed", "5.2.2", "Undelivered Mail")):
        customer_sends(smtp_server, postfix_report(
            to=mailbox.address, our_id=our_id, action=action, status=status, subject=subject,
            diagnostic=f"552 {status} Mailbox full"), mailbox.address)
        do_poll_mailbox(mailbox.pk)
    # then the answer is failed, with the failure's reason (not the earlier warning)
    answer.refresh_from_db()
    assert answer.delivery_status == "failed" and "552 5.2.2" in answer.delivery_error
