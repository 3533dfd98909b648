"""The threading round trip over real servers: a customer writes (SMTP → Dovecot), we poll, an agent answers
(our SMTP sender → aiosmtpd), the customer answers that mail, we poll, and it lands in the same conversation."""

from __future__ import annotations

import smtplib

import pytest

from connectors.mail.imap import do_poll_mailbox
from connectors.mail.models import MailProfile, OutboundMail
from connectors.mail.tests.helpers import run_queued
from connectors.mail.threads import reply_token
from fakes.mailservers import customer_mail
from inbox import actions
from inbox.models import Conversation, Message

pytestmark = pytest.mark.django_db
CUSTOMER = "ana@cliente.test"


def customer_sends(smtp_server, raw: bytes, to: str) -> None:
    """The customer's provider hands the mail to the internet (our fake SMTP delivers it into Dovecot)."""
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        client.sendmail(CUSTOMER, [to], raw)


def agent_answers(user, conversation_id: int, body: str, django_capture_on_commit_callbacks) -> Message:
    with django_capture_on_commit_callbacks(execute=True):
        message = actions.check_send_reply(user, conversation_id, body=body)
    run_queued("deliver_outbound", "send_email")
    message.refresh_from_db()
    return message


def test_reply_to_our_answer_lands_in_the_same_conversation(mailbox, smtp_server, supervisor,
                                                           django_capture_on_commit_callbacks):
    # given a customer's first mail, delivered by SMTP into the mailbox and polled
    first = customer_mail(sender=f"Ana Pérez <{CUSTOMER}>", to=mailbox.address, subject="Pedido 1042 sin llegar",
                          body="Hola, mi pedido 1042 no llegó.", message_id="<c1@cliente.test>")
    customer_sends(smtp_server, first, mailbox.address)
    assert do_poll_mailbox(mailbox.pk).stored == 1
    conversation = Conversation.objects.get()
    # and an agent with a signature answers it
    MailProfile.objects.create(user=supervisor, signature="Laura — Soporte Centralita")
    answer = agent_answers(supervisor, conversation.pk, "Hola Ana, lo revisamos hoy.",
                           django_capture_on_commit_callbacks)
    # then our mail left by SMTP with the thread's headers, our Message-ID and the signed reply address
    assert answer.delivery_status == "sent"
    sent = smtp_server.messages[-1]
    headers = sent.parsed
    our_id = f"hub.{conversation.pk}.{answer.pk}@example.test"
    assert sent.rcpt_tos == [CUSTOMER] and headers["To"] == CUSTOMER
    assert headers["Message-ID"] == f"<{our_id}>"
    assert headers["In-Reply-To"] == "<c1@cliente.test>" and headers["References"] == "<c1@cliente.test>"
    assert headers["Subject"] == "Re: Pedido 1042 sin llegar"
    local, domain = mailbox.address.split("@")
    assert headers["Reply-To"] == f"{local}+{reply_token(conversation.pk)}@{domain}"
    assert headers["From"] == f"Soporte Centralita <{mailbox.address}>"
    body = headers.get_content().replace("\r\n", "\n")
    assert body.startswith("Hola Ana, lo revisamos hoy.") and "\n-- \nLaura — Soporte Centralita" in body
    assert answer.external_id == f"mail:{mailbox.pk}:{our_id}"
    conversation.refresh_from_db()
    assert conversation.state == "en_espera" and not conversation.awaiting_reply
    # when the customer answers our mail (In-Reply-To our Message-ID), writing to the plain address
    reply = customer_mail(sender=f"Ana Pérez <{CUSTOMER}>", to=mailbox.address, subject="Re: Pedido 1042 sin llegar",
                          body="Gracias, quedo atenta.\n\nEl lun, Soporte escribió:\n> Hola Ana, lo revisamos hoy.",
                          message_id="<c2@cliente.test>", in_reply_to=f"<{our_id}>",
                          references=f"<c1@cliente.test> <{our_id}>")
    customer_sends(smtp_server, reply, mailbox.address)
    assert do_poll_mailbox(mailbox.pk).stored == 1
    # then it continues the same conversation, quoted history split off, waiting for us again
    assert Conversation.objects.count() == 1
    conversation.refresh_from_db()
    latest = conversation.messages.order_by("-pk").first()
    assert (latest.kind, latest.body, latest.meta["thread_rule"]) == ("inbound", "Gracias, quedo atenta.",
                                                                      "in_reply_to")
    assert "> Hola Ana" in latest.meta["quoted_text"]
    assert conversation.state == "pendiente" and conversation.awaiting_reply
    # when the agent answers again / then References carry the whole chain, In-Reply-To the customer's last mail
    second = agent_answers(supervisor, conversation.pk, "Ya salió el envío.", django_capture_on_commit_callbacks)
    headers = smtp_server.messages[-1].parsed
    assert headers["In-Reply-To"] == "<c2@cliente.test>"
    assert headers["References"].split() == ["<c1@cliente.test>", f"<{our_id}>", "<c2@cliente.test>"]
    assert headers["Message-ID"] == f"<hub.{conversation.pk}.{second.pk}@example.test>"


def test_reply_address_threads_even_without_in_reply_to(mailbox, smtp_server, supervisor,
                                                        django_capture_on_commit_callbacks):
    # given a conversation we answered
    customer_sends(smtp_server, customer_mail(sender=CUSTOMER, to=mailbox.address, subject="Cambio de talla",
                                              body="¿Puedo cambiar la talla?"), mailbox.address)
    do_poll_mailbox(mailbox.pk)
    conversation = Conversation.objects.get()
    agent_answers(supervisor, conversation.pk, "Claro, ¿qué talla?", django_capture_on_commit_callbacks)
    reply_to = smtp_server.messages[-1].parsed["Reply-To"]
    # when a client that drops In-Reply-To/References answers to the Reply-To (plus) address
    customer_sends(smtp_server, customer_mail(sender=CUSTOMER, to=reply_to, subject="talla", body="La M, gracias."),
                   reply_to)
    do_poll_mailbox(mailbox.pk)
    # then the signed token in the recipient threads it
    assert Conversation.objects.count() == 1
    assert conversation.messages.order_by("-pk").first().meta["thread_rule"] == "reply_address"


def test_forged_or_foreign_threading_does_not_join_someone_elses_conversation(mailbox, smtp_server, supervisor,
                                                                             django_capture_on_commit_callbacks):
    # given Ana's conversation, answered by us
    customer_sends(smtp_server, customer_mail(sender=CUSTOMER, to=mailbox.address, subject="Mi caso",
                                              body="Datos privados"), mailbox.address)
    do_poll_mailbox(mailbox.pk)
    conversation = Conversation.objects.get()
    answer = agent_answers(supervisor, conversation.pk, "Recibido.", django_capture_on_commit_callbacks)
    our_id = OutboundMail.objects.get(message=answer).rfc_message_id
    # when a stranger guesses our Message-ID, and forges a reply token with a wrong signature
    forged = customer_mail(sender="intruso@otro.test", to=mailbox.address, subject="Re: Mi caso", body="Hola",
                           in_reply_to=f"<{our_id}>")
    customer_sends(smtp_server, forged, mailbox.address)
    local, domain = mailbox.address.split("@")
    bad_token = f"{local}+c{conversation.pk}-0000000000000000@{domain}"
    customer_sends(smtp_server, customer_mail(sender="intruso@otro.test", to=bad_token, subject="x", body="y"),
                   bad_token)
    do_poll_mailbox(mailbox.pk)
    # then neither joins Ana's conversation
    assert conversation.messages.filter(kind="inbound").count() == 1
    assert Conversation.objects.count() == 3


def test_auto_reply_to_our_answer_does_not_count_as_the_customer_answering(mailbox, smtp_server, supervisor,
                                                                          django_capture_on_commit_callbacks):
    # given a conversation we answered (now waiting for the customer)
    customer_sends(smtp_server, customer_mail(sender=CUSTOMER, to=mailbox.address, subject="Consulta",
                                              body="Hola"), mailbox.address)
    do_poll_mailbox(mailbox.pk)
    conversation = Conversation.objects.get()
    answer = agent_answers(supervisor, conversation.pk, "Buenos días.", django_capture_on_commit_callbacks)
    our_id = OutboundMail.objects.get(message=answer).rfc_message_id
    # when the customer's out-of-office answers it
    ooo = customer_mail(sender=CUSTOMER, to=mailbox.address, subject="Fuera de la oficina: Re: Consulta",
                        body="Vuelvo el lunes.", in_reply_to=f"<{our_id}>",
                        headers={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"})
    customer_sends(smtp_server, ooo, mailbox.address)
    do_poll_mailbox(mailbox.pk)
    # then it is logged against the thread but adds no message and leaves the conversation waiting on the customer
    from connectors.mail.models import InboundMail

    conversation.refresh_from_db()
    assert conversation.messages.filter(kind="inbound").count() == 1
    assert conversation.state == "en_espera" and not conversation.awaiting_reply
    log = InboundMail.objects.get(subject__startswith="Fuera")
    assert (log.status, log.conversation_id) == ("auto_reply", conversation.pk)


def test_a_bounce_of_our_answer_marks_it_failed(mailbox, smtp_server, supervisor,
                                                django_capture_on_commit_callbacks):
    # given an answer we sent
    customer_sends(smtp_server, customer_mail(sender=CUSTOMER, to=mailbox.address, subject="Consulta",
                                              body="Hola"), mailbox.address)
    do_poll_mailbox(mailbox.pk)
    conversation = Conversation.objects.get()
    answer = agent_answers(supervisor, conversation.pk, "Respuesta", django_capture_on_commit_callbacks)
    our_id = OutboundMail.objects.get(message=answer).rfc_message_id
    # when the customer's server sends back a delivery report about it
    report = (f"From: MAILER-DAEMON@mx.cliente.test\r\nTo: {mailbox.address}\r\nSubject: Undelivered Mail\r\n"
              "Message-ID: <dsn1@mx.cliente.test>\r\nMIME-Version: 1.0\r\n"
              "Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
              "--B\r\nContent-Type: text/plain\r\n\r\nNo se pudo entregar.\r\n"
              "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.cliente.test\r\n\r\n"
              "Final-Recipient: rfc822; ana@cliente.test\r\nAction: failed\r\nStatus: 5.2.2\r\n"
              "Diagnostic-Code: smtp; 552 5.2.2 mailbox full\r\n"
              f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{our_id}>\r\nSubject: Re: Consulta\r\n"
              "--B--\r\n").encode()
    customer_sends(smtp_server, report, mailbox.address)
    do_poll_mailbox(mailbox.pk)
    # then our message shows as failed with the reason, and no conversation or customer message appears
    answer.refresh_from_db()
    assert answer.delivery_status == "failed" and "552 5.2.2 mailbox full" in answer.delivery_error
    assert Conversation.objects.count() == 1 and conversation.messages.filter(kind="inbound").count() == 1
