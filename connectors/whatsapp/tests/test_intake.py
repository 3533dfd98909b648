"""The webhook endpoint's Django path: the GET handshake and signed POSTs (contract §1-3)."""

from __future__ import annotations

import pytest

from connectors.whatsapp.models import WebhookDelivery
from connectors.whatsapp.tests.helpers import WA_ID, clear_tasks, inbound, post, run_worker, url
from fakes import whatsapp as fw
from inbox.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _tasks():
    clear_tasks()
    yield
    clear_tasks()


def test_handshake_echoes_the_challenge_for_the_right_verify_token(client, whatsapp_number):
    # given Meta's verification GET with our verify token
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "wa-verify-token"}
    # when it arrives
    response = client.get(url(whatsapp_number), query)
    # then the raw challenge comes back as text/plain
    assert response.status_code == 200
    assert response.content == b"1158201444" and response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("query", [
    {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "wrong"},
    {"hub.mode": "subscribe", "hub.challenge": "1"},
    {"hub.mode": "unsubscribe", "hub.challenge": "1", "hub.verify_token": "wa-verify-token"},
])
def test_handshake_with_a_wrong_token_or_mode_is_403(client, whatsapp_number, query):
    # when the handshake does not carry our token (or is not a subscription)
    response = client.get(url(whatsapp_number), query)
    # then it is refused and the challenge is not echoed
    assert response.status_code == 403 and b"1" not in response.content.replace(b"Forbidden", b"")


def test_handshake_for_an_unknown_number_is_404(client, whatsapp_number):
    response = client.get("/integrations/whatsapp/webhook/999/", {"hub.mode": "subscribe",
                                                                  "hub.verify_token": "wa-verify-token"})
    assert response.status_code == 404


def test_signed_post_is_stored_raw_answered_200_and_queued(client, whatsapp_number,
                                                           django_capture_on_commit_callbacks):
    from django.tasks import default_task_backend

    # given a signed webhook exactly as Meta sends it (compact JSON, signature over those bytes)
    payload = inbound(whatsapp_number, fw.text_message(WA_ID, "Hola, ¿dónde está mi pedido 1042?"))
    # when it is POSTed
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, whatsapp_number, payload)
    # then it is answered 200 with nothing else done than storing the raw body and queueing one task
    assert response.status_code == 200 and response.content == b""
    delivery = WebhookDelivery.objects.get()
    assert delivery.body == fw.encode(payload).decode() and delivery.state == "received"
    assert delivery.number == whatsapp_number
    (queued,) = default_task_backend.results
    assert queued.task.name == "process_whatsapp_webhooks" and queued.args == [[delivery.pk]]
    assert queued.task.queue_name == "messaging"
    assert not Message.objects.exists()


def test_missing_signature_is_401_recorded_and_never_processed(client, whatsapp_number,
                                                               django_capture_on_commit_callbacks):
    from django.tasks import default_task_backend

    payload = inbound(whatsapp_number, fw.text_message(WA_ID, "sin firma"))
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, whatsapp_number, payload, secret=None)
    assert response.status_code == 401
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "rejected" and "missing X-Hub-Signature-256" in delivery.error
    assert default_task_backend.results == []


@pytest.mark.parametrize("signature", ["sha256=" + "0" * 64, "sha256=zzz", "md5=abc", "sha256="])
def test_bad_signature_is_403_recorded_and_never_processed(client, whatsapp_number, signature,
                                                           django_capture_on_commit_callbacks):
    from django.tasks import default_task_backend

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, whatsapp_number, inbound(whatsapp_number, fw.text_message(WA_ID, "x")),
                        signature=signature)
    assert response.status_code == 403
    assert WebhookDelivery.objects.get().state == "rejected"
    assert default_task_backend.results == []


def test_signature_with_another_secret_or_over_other_bytes_is_403(client, whatsapp_number):
    payload = inbound(whatsapp_number, fw.text_message(WA_ID, "hola"))
    body = fw.encode(payload)
    # signed with someone else's secret
    assert post(client, whatsapp_number, body, secret="not-the-app-secret").status_code == 403
    # signed over the same JSON re-serialized differently (the check is over the raw bytes)
    reserialized = fw.sign(body.replace(b",", b", "), "wa-test-app-secret")
    assert post(client, whatsapp_number, body, signature=reserialized).status_code == 403
    assert list(WebhookDelivery.objects.values_list("state", flat=True)) == ["rejected", "rejected"]


def test_unknown_or_inactive_number_is_404_and_stores_nothing(client, whatsapp_number):
    from connectors.whatsapp.intake import forget

    payload = inbound(whatsapp_number, fw.text_message(WA_ID, "x"))
    assert client.post("/integrations/whatsapp/webhook/12345/", fw.encode(payload),
                       content_type="application/json").status_code == 404
    whatsapp_number.is_active = False
    whatsapp_number.save()
    forget()
    assert post(client, whatsapp_number, payload).status_code == 404
    assert not WebhookDelivery.objects.exists()


def test_replayed_webhook_is_stored_twice_but_processed_once(client, whatsapp_number,
                                                             django_capture_on_commit_callbacks):
    # given Meta redelivers the same signed body (at-least-once delivery)
    payload = inbound(whatsapp_number, fw.text_message(WA_ID, "¿Tienen envíos?"))
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, whatsapp_number, payload).status_code == 200
        assert post(client, whatsapp_number, payload).status_code == 200
    # when the worker processes both deliveries
    run_worker()
    # then both are processed and the inbox holds the message once
    assert list(WebhookDelivery.objects.values_list("state", flat=True)) == ["processed", "processed"]
    assert Message.objects.filter(kind="inbound").count() == 1


def test_get_and_other_methods_on_the_webhook(client, whatsapp_number):
    assert client.put(url(whatsapp_number)).status_code == 405
