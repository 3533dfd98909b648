"""ESP inbound webhooks (contract §2): Mailgun inbound_mime (signed), Postmark JSON and raw MIME. The body is
stored before anything is parsed; processing is queued; the same Message-ID twice is one message."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from django.tasks import default_task_backend

from connectors.mail import webhook
from connectors.mail.models import InboundMail, Mailbox
from connectors.mail.tasks import retry_mail
from connectors.mail.tests.helpers import run_queued
from connectors.mail.threads import reply_token
from fakes.mailservers import customer_mail
from inbox.models import Conversation, Message

pytestmark = pytest.mark.django_db
SIGNING_KEY = "key-mailgun-pruebas"


@pytest.fixture
def hooked(db):
    """A webhook-only mailbox (no IMAP), as for a Mailgun or Postmark inbound domain."""
    from connectors.mail.actions import check_save_mailbox

    return check_save_mailbox(None, address="ayuda@entrada.example.test", mailgun_signing_key=SIGNING_KEY)


def mailgun_post(client, mailbox, raw: bytes, *, key=SIGNING_KEY, recipient="", token="tok-1", timestamp="1763719200"):
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return client.post(f"/integrations/mail/mailgun/{mailbox.webhook_token}/", data={
        "body-mime": raw.decode(), "recipient": recipient or mailbox.address, "sender": "ana@cliente.test",
        "timestamp": timestamp, "token": token, "signature": signature, "stripped-text": "x"})


def test_mailgun_inbound_mime_is_stored_first_then_processed(client, hooked, django_capture_on_commit_callbacks):
    raw = customer_mail(sender="Ana Pérez <ana@cliente.test>", to=hooked.address, subject="Devolución",
                        body="Quiero devolver el pedido.", message_id="<mg1@cliente.test>")
    default_task_backend.clear()
    # when Mailgun forwards the mail
    with django_capture_on_commit_callbacks(execute=True):
        response = mailgun_post(client, hooked, raw)
    # then the raw body is stored and processing queued before any parsing
    assert response.status_code == 200
    log = InboundMail.objects.get()
    assert (log.source, log.status) == ("mailgun", "received") and b"mg1@cliente.test" in bytes(log.raw)
    assert not Conversation.objects.exists()
    # when the worker processes it / then the conversation exists
    assert run_queued("process_inbound_mail") == ["stored"]
    conversation = Conversation.objects.get()
    assert (conversation.channel, conversation.subject) == ("email", "Devolución")
    assert conversation.messages.get().body == "Quiero devolver el pedido."


def test_mailgun_bad_signature_is_refused_and_kept_for_inspection(client, hooked):
    raw = customer_mail(sender="ana@cliente.test", to=hooked.address, subject="x", body="y")
    default_task_backend.clear()
    response = mailgun_post(client, hooked, raw, key="otra-clave")
    assert response.status_code == 403
    log = InboundMail.objects.get()
    assert log.status == "rejected" and "signature" in log.error
    assert not default_task_backend.results


def test_unknown_or_disabled_mailbox_is_404_and_get_is_405(client, hooked):
    assert client.post("/integrations/mail/raw/no-existe/", data=b"x", content_type="message/rfc822").status_code == 404
    assert client.post(f"/integrations/mail/otro/{hooked.webhook_token}/", data=b"x",
                       content_type="message/rfc822").status_code == 404
    assert client.get(f"/integrations/mail/raw/{hooked.webhook_token}/").status_code == 405
    Mailbox.objects.filter(pk=hooked.pk).update(enabled=False)
    webhook.forget()  # as saving the mailbox through its action does
    assert client.post(f"/integrations/mail/raw/{hooked.webhook_token}/", data=b"x",
                       content_type="message/rfc822").status_code == 404
    assert not InboundMail.objects.exists()


def test_postmark_json_threads_by_the_mailbox_hash(client, hooked, django_capture_on_commit_callbacks):
    from inbox.actions import do_receive_inbound

    # given an open conversation of this mailbox
    conversation, _m, _new = do_receive_inbound(channel="email", body="Hola", emails=["ana@cliente.test"],
                                                channel_ref=f"mail:{hooked.pk}:x")
    token = reply_token(conversation.pk)
    payload = {
        "FromFull": {"Email": "ana@cliente.test", "Name": "Ana", "MailboxHash": ""},
        "ToFull": [{"Email": f"ayuda+{token}@entrada.example.test", "Name": "", "MailboxHash": token}],
        "OriginalRecipient": f"ayuda+{token}@entrada.example.test",
        "Subject": "Re: Hola", "MessageID": "73e6d360-66eb-11e1-8e72-a8904824019b", "TextBody": "Otra pregunta",
        "HtmlBody": "", "Headers": [{"Name": "Message-ID", "Value": "<pm2@cliente.test>"}],
        "Attachments": [{"Name": "nota.txt", "Content": base64.b64encode(b"hola").decode(),
                         "ContentType": "text/plain", "ContentID": ""}],
    }
    # when Postmark posts it
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/integrations/mail/postmark/{hooked.webhook_token}/", data=json.dumps(payload),
                               content_type="application/json")
    assert response.status_code == 200
    run_queued("process_inbound_mail")
    # then it continues the conversation, attachment included
    message = conversation.messages.order_by("-pk").first()
    assert (message.body, message.meta["thread_rule"]) == ("Otra pregunta", "reply_address")
    assert [a["name"] for a in message.attachments] == ["nota.txt"]


def test_same_message_id_posted_twice_is_one_message(client, hooked, django_capture_on_commit_callbacks):
    raw = customer_mail(sender="ana@cliente.test", to=hooked.address, subject="Doble", body="Una vez",
                        message_id="<twice@cliente.test>")
    for _retry in range(2):  # the ESP retries after a timeout
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(f"/integrations/mail/raw/{hooked.webhook_token}/", data=raw,
                               content_type="message/rfc822").status_code == 200
    run_queued("process_inbound_mail")
    assert Message.objects.count() == 1
    assert sorted(InboundMail.objects.values_list("status", flat=True)) == ["duplicate", "stored"]


def test_a_body_larger_than_djangos_form_limit_is_accepted(client, hooked, django_capture_on_commit_callbacks):
    # given a 3 MB attachment (DATA_UPLOAD_MAX_MEMORY_SIZE is 2.5 MB)
    raw = customer_mail(sender="ana@cliente.test", to=hooked.address, subject="Fotos", body="Adjunto fotos",
                        attachments=[("fotos.zip", "application/zip", b"z" * 3_000_000)])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/integrations/mail/raw/{hooked.webhook_token}/", data=raw,
                               content_type="message/rfc822")
    assert response.status_code == 200
    run_queued("process_inbound_mail")
    assert Message.objects.get().attachments[0]["size"] == 3_000_000


def test_a_post_that_cannot_be_processed_keeps_its_body_and_is_retried(client, hooked, time_machine,
                                                                       django_capture_on_commit_callbacks):
    time_machine.move_to("2026-11-20 10:00:00-05:00", tick=False)
    # given a Mailgun route using store() instead of forward(): no body-mime (the contract says it is rejected)
    signature = hmac.new(SIGNING_KEY.encode(), b"1t", hashlib.sha256).hexdigest()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/integrations/mail/mailgun/{hooked.webhook_token}/", data={
            "timestamp": "1", "token": "t", "signature": signature, "body-plain": "hola"})
    assert response.status_code == 200
    # when processed / then it fails, the body stays for inspection, and the periodic job retries it later
    with pytest.raises(ValueError, match="body-mime"):
        run_queued("process_inbound_mail")
    log = InboundMail.objects.get()
    assert (log.status, log.attempts) == ("failed", 1) and b"body-plain" in bytes(log.raw)
    default_task_backend.clear()
    assert retry_mail.call() == 0  # not before two minutes
    time_machine.shift(180)
    assert retry_mail.call() == 1
