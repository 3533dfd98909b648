"""The fast ASGI intake route: signature checked on the event loop, concurrent webhooks group-committed, each
answered only once stored, one processing task per batch."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator

from connectors.whatsapp import intake
from connectors.whatsapp.intake import WhatsappIntakeApp
from connectors.whatsapp.models import WebhookDelivery, WhatsappNumber
from connectors.whatsapp.tests.helpers import APP_SECRET, WA_ID, inbound, url
from fakes import whatsapp as fw

pytestmark = pytest.mark.django_db(transaction=True)


async def django_fallback(scope, receive, send):
    await send({"type": "http.response.start", "status": 418, "headers": []})
    await send({"type": "http.response.body", "body": b"django"})


@pytest.fixture
def number():
    intake.forget()
    yield WhatsappNumber.objects.create(phone_number_id="106540352242922", waba_id="102290129340398",
                                        display_phone_number="15550783881", access_token="t", app_secret=APP_SECRET,
                                        verify_token="v", base_url="http://127.0.0.1:9")
    intake.forget()


def call(app, method, path, body=b"", signature=None):
    headers = [(b"content-type", b"application/json")]
    if signature:
        headers.append((b"x-hub-signature-256", signature.encode()))

    async def go():
        response = await HttpCommunicator(app, method, path, body=body, headers=headers).get_response(timeout=10)
        return int(response["status"]), response["body"]

    return async_to_sync(go)()


def test_concurrent_webhooks_are_stored_in_batches_and_queued_once_each(number, settings):
    from django_tasks_db.models import DBTaskResult

    # given the database task queue, so the queued tasks can be counted
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": settings.TASK_QUEUES}}
    app = WhatsappIntakeApp(django_fallback)
    bodies = [fw.encode(inbound(number, fw.text_message(WA_ID, f"mensaje {i}"))) for i in range(40)]

    # when 40 signed webhooks arrive at the same time
    async def burst():
        async def one(body):
            headers = [(b"content-type", b"application/json"),
                       (b"x-hub-signature-256", fw.sign(body, APP_SECRET).encode())]
            response = await HttpCommunicator(app, "POST", url(number), body=body, headers=headers).get_response(
                timeout=10)
            return int(response["status"])

        return await asyncio.gather(*(one(b) for b in bodies))

    statuses = async_to_sync(burst)()
    # then every one is answered 200 after being stored, in fewer commits than requests
    assert statuses == [200] * 40
    assert sorted(WebhookDelivery.objects.values_list("body", flat=True)) == sorted(b.decode() for b in bodies)
    batches = list(DBTaskResult.objects.filter(task_path="connectors.whatsapp.tasks.process_whatsapp_webhooks"))
    queued = [i for r in batches for i in r.args_kwargs["args"][0]]
    assert sorted(queued) == sorted(WebhookDelivery.objects.values_list("pk", flat=True))
    assert len(batches) < 40


def test_missing_and_bad_signatures_are_refused_and_recorded(number):
    app = WhatsappIntakeApp(django_fallback)
    body = fw.encode(inbound(number, fw.text_message(WA_ID, "hola")))
    assert call(app, "POST", url(number), body)[0] == 401
    assert call(app, "POST", url(number), body, "sha256=" + "a" * 64)[0] == 403
    assert call(app, "POST", url(number), body, fw.sign(body, "other-secret"))[0] == 403
    rows = list(WebhookDelivery.objects.order_by("id").values_list("state", "error"))
    assert [state for state, _e in rows] == ["rejected"] * 3
    assert "missing" in rows[0][1] and "bad" in rows[1][1]


def test_unknown_number_is_404_and_stores_nothing(number):
    app = WhatsappIntakeApp(django_fallback)
    body = b'{"object":"whatsapp_business_account"}'
    assert call(app, "POST", "/integrations/whatsapp/webhook/999/", body, fw.sign(body, APP_SECRET))[0] == 404
    assert not WebhookDelivery.objects.exists()


def test_the_handshake_and_other_paths_go_to_django(number):
    app = WhatsappIntakeApp(django_fallback)
    assert call(app, "GET", url(number) + "?hub.mode=subscribe")[0] == 418
    assert call(app, "GET", "/healthz")[0] == 418
    assert call(app, "POST", "/integrations/whatsapp/webhook/not-a-number/")[0] == 418


def test_oversized_body_is_413_and_kept_truncated(number):
    app = WhatsappIntakeApp(django_fallback)
    body = b"x" * (intake.MAX_BODY + 10)
    assert call(app, "POST", url(number), body, fw.sign(body, APP_SECRET))[0] == 413
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "rejected" and len(delivery.body) == intake.REJECTED_BODY_LIMIT


def test_the_secret_is_cached_briefly_then_reread(number, monkeypatch):
    # given a number whose secret the route has read once
    app = WhatsappIntakeApp(django_fallback)
    body = fw.encode(inbound(number, fw.text_message(WA_ID, "hola")))
    assert call(app, "POST", url(number), body, fw.sign(body, APP_SECRET))[0] == 200
    # when an admin rotates the app secret
    WhatsappNumber.objects.filter(pk=number.pk).update(app_secret="rotated")
    # then the old one is trusted until the cache entry expires (no query per webhook)…
    assert call(app, "POST", url(number), body, fw.sign(body, APP_SECRET))[0] == 200
    # …and the new one right after
    monkeypatch.setattr(intake._secrets, "ttl", 0.0)
    intake.forget()
    assert call(app, "POST", url(number), body, fw.sign(body, APP_SECRET))[0] == 403
    assert call(app, "POST", url(number), body, fw.sign(body, "rotated"))[0] == 200
