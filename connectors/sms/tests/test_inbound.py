"""Inbound SMS and the webhook intake: signed bodies stored before anything else and turned into inbox conversations;
unsigned, forged, oversized and garbage bodies answered 4xx (never 500) and kept; redeliveries change nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from connectors.sms.actions import do_process_delivery
from connectors.sms.models import WebhookDelivery
from connectors.sms.tests.helpers import CUSTOMER, FROM_NUMBER, post_callback, post_form, queued, run_worker
from customers.models import CustomerPhone
from fakes.sms import sign
from inbox.models import Conversation, Message

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


def inbound_path(account):
    return reverse("sms:inbound", args=[account.pk])


def test_an_inbound_sms_lands_in_the_inbox(client, sms_account, fake_sms, django_capture_on_commit_callbacks):
    # given a customer texts the account's number
    request = fake_sms.state.inbound_request(CUSTOMER, "Hola, ¿tienen envíos a Cali? 😀")
    # when Twilio posts it
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        response = post_callback(client, request)
    # then it is answered with empty TwiML at once, stored raw and queued
    assert response.status_code == 200 and response["Content-Type"] == "text/xml"
    assert response.content.decode() == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    delivery = WebhookDelivery.objects.get()
    assert (delivery.kind, delivery.state, delivery.message_sid) == ("inbound", "received",
                                                                     request.fields["MessageSid"])
    assert "Body=Hola%2C" in delivery.body
    assert [r.args for r in queued("process_sms_webhooks")] == [[[delivery.pk]]]
    # and the worker puts it in the inbox: channel "sms", customer matched by E.164 phone, pinned to the account
    assert run_worker() == [{"processed": 1}]
    message = Message.objects.get(kind="inbound")
    c = message.conversation
    assert (c.channel, c.channel_ref, c.inbox.code) == ("sms", f"sms:{sms_account.pk}", "global")
    assert message.body == "Hola, ¿tienen envíos a Cali? 😀" and message.external_id == request.fields["MessageSid"]
    assert message.created_at == NOW
    assert message.meta["sms"]["from"] == CUSTOMER and message.meta["sms"]["to"] == FROM_NUMBER
    assert list(CustomerPhone.objects.filter(customer=c.customer).values_list("e164", flat=True)) == [CUSTOMER]


def test_the_same_customer_continues_the_conversation_and_redelivery_is_idempotent(
        client, sms_account, fake_sms, django_capture_on_commit_callbacks):
    first = fake_sms.state.inbound_request(CUSTOMER, "Hola")
    second = fake_sms.state.inbound_request(CUSTOMER, "¿Siguen ahí?")
    with django_capture_on_commit_callbacks(execute=True):
        for request in (first, first, second, first):  # Twilio retries
            assert post_callback(client, request).status_code == 200
    run_worker()
    assert WebhookDelivery.objects.filter(state="processed").count() == 4
    assert list(Message.objects.order_by("id").values_list("body", flat=True)) == ["Hola", "¿Siguen ahí?"]
    assert Conversation.objects.count() == 1


def test_an_existing_customer_is_found_by_phone(client, sms_account, fake_sms, django_capture_on_commit_callbacks):
    from customers.actions import do_find_or_create_customer

    customer, _ = do_find_or_create_customer(name="Ana Peña", phones=["300 123 4567"])
    with django_capture_on_commit_callbacks(execute=True):
        post_callback(client, fake_sms.state.inbound_request(CUSTOMER, "Hola"))
    run_worker()
    assert Message.objects.get().conversation.customer == customer


def test_the_account_inbox_receives_its_conversations(client, sms_account, fake_sms,
                                                       django_capture_on_commit_callbacks):
    from inbox.models import Inbox

    sms_account.inbox = Inbox.objects.create(name="Mensajes de texto", code="sms-demo")
    sms_account.save()
    with django_capture_on_commit_callbacks(execute=True):
        post_callback(client, fake_sms.state.inbound_request(CUSTOMER, "Hola"))
    run_worker()
    assert Conversation.objects.get().inbox.code == "sms-demo"


@pytest.mark.parametrize(("signature", "reason"), [
    (None, "missing X-Twilio-Signature"),
    ("", "missing X-Twilio-Signature"),
    ("AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "bad X-Twilio-Signature"),
])
def test_unsigned_or_forged_posts_are_refused_with_403_and_kept(client, sms_account, signature, reason):
    params = [("MessageSid", "SM" + "1" * 32), ("From", CUSTOMER), ("Body", "soy Twilio, créeme")]
    response = post_form(client, inbound_path(sms_account), params, signature=signature)
    assert response.status_code == 403 and response.json()["code"] == 403
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "rejected" and delivery.error.startswith(reason)
    assert not queued("process_sms_webhooks") and not Message.objects.exists()


def test_the_signature_covers_the_url_rebuilt_from_site_url_not_the_host_header(client, sms_account, fake_sms,
                                                                                settings):
    request = fake_sms.state.inbound_request(CUSTOMER, "Hola")
    # a forged Host changes nothing: the URL verified is SITE_URL's
    assert post_callback(client, request, Host="localhost").status_code == 200
    # but signed for another address (what an attacker's own proxy would produce), it is refused
    signed_elsewhere = fake_sms.state.inbound_request(CUSTOMER, "Hola", url="https://evil.example"
                                                      + inbound_path(sms_account))
    signed_elsewhere.url = "https://centralita.example" + inbound_path(sms_account)
    assert post_callback(client, signed_elsewhere).status_code == 403
    # and after SITE_URL moves, Twilio's old signatures no longer match
    settings.SITE_URL = "https://nuevo.example"
    assert post_callback(client, fake_sms.state.inbound_request(CUSTOMER, "Hola")).status_code == 403


@pytest.mark.parametrize("body", [
    b"\xff\xfe\x00garbage\x00\x01",
    b'{"MessageSid": "SM1", "Body": "json"}',
    b"%zz%%&&&==&Body",
    b"a=" + b"\x00" * 100,
])
def test_garbage_is_4xx_and_stored_never_500(client, sms_account, body):
    response = client.post(inbound_path(sms_account), body, content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": "x"})
    assert response.status_code == 403
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "rejected" and "\x00" not in delivery.body


def test_an_oversized_body_is_413_and_kept_truncated(client, sms_account, fake_sms):
    big = [("Body", "x" * 70_000), ("MessageSid", "SM" + "2" * 32)]
    url = "https://centralita.example" + inbound_path(sms_account)
    response = post_form(client, inbound_path(sms_account), big, signature=sign("sms-test-auth-token", url, big))
    assert response.status_code == 413
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "rejected" and len(delivery.body) == 10_000


def test_unknown_or_inactive_accounts_answer_404_and_store_nothing(client, sms_account, fake_sms):
    assert client.post("/integrations/sms/999/inbound/", b"a=b",
                       content_type="application/x-www-form-urlencoded").status_code == 404
    sms_account.is_active = False
    sms_account.save()
    assert post_callback(client, fake_sms.state.inbound_request(CUSTOMER, "Hola")).status_code == 404
    assert not WebhookDelivery.objects.exists()


def test_only_post_is_accepted(client, sms_account):
    assert client.get(inbound_path(sms_account)).status_code == 405
    assert client.get(reverse("sms:status", args=[sms_account.pk])).status_code == 405


def test_a_signed_body_that_is_not_an_sms_is_processed_as_ignored(client, sms_account,
                                                                   django_capture_on_commit_callbacks):
    # given a correctly signed post without a MessageSid, one from a number that is no phone, and an empty one
    url = "https://centralita.example" + inbound_path(sms_account)
    for params in ([("Body", "Hola")], [("MessageSid", "SM" + "3" * 32), ("From", "Twilio"), ("Body", "x")],
                   [("MessageSid", "SM" + "4" * 32), ("From", CUSTOMER), ("Body", "  ")],
                   [("MessageSid", "SM" + "5" * 32), ("From", CUSTOMER), ("Body", "x"),
                    ("AccountSid", "AC" + "9" * 32)]):
        with django_capture_on_commit_callbacks(execute=True):
            assert post_form(client, inbound_path(sms_account), params,
                             signature=sign("sms-test-auth-token", url, params)).status_code == 200
    # when the worker runs / then each is recorded as processed with the reason, and nothing reaches the inbox
    assert run_worker() == [{"ignored": 1}] * 4
    errors = sorted(WebhookDelivery.objects.values_list("error", flat=True))
    assert errors == ["ignored: AccountSid AC99999999999999999999999999999999 is not this account's",
                      "ignored: From 'Twilio' is not a phone number", "ignored: empty message",
                      "ignored: no MessageSid"]
    assert not Message.objects.exists()


def test_processing_is_safe_to_repeat(client, sms_account, fake_sms, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_callback(client, fake_sms.state.inbound_request(CUSTOMER, "Hola"))
    delivery = WebhookDelivery.objects.get()
    assert do_process_delivery(delivery.pk) == "processed"
    assert do_process_delivery(delivery.pk) == "skipped"
    assert Message.objects.count() == 1


def test_mms_media_are_named_not_downloaded(client, sms_account, fake_sms, django_capture_on_commit_callbacks):
    request = fake_sms.state.inbound_request(CUSTOMER, "", extra={
        "NumMedia": "1", "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1"})
    with django_capture_on_commit_callbacks(execute=True):
        post_callback(client, request)
    run_worker()
    message = Message.objects.get()
    assert "archivo adjunto no descargado" in message.body and message.meta["sms"]["media"]
