"""Issue 13: a webhook whose body is stored is answered 2xx even when the queue (Redis) cannot take its task; the
periodic safety net processes it once Redis is back. Redis here is a real port with nothing listening."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from connectors.whatsapp.models import WebhookDelivery as WhatsappDelivery
from connectors.whatsapp.tests.helpers import WA_ID, inbound, post
from crm.models import WebhookDelivery
from fakes import whatsapp as fw
from fakes.kommo import STATUS_TO_CALL, encode_webhook
from tests.ops.helpers import free_port

pytestmark = pytest.mark.django_db(transaction=True)
FORM = "application/x-www-form-urlencoded"


def redis_down() -> override_settings:
    url = f"redis://127.0.0.1:{free_port()}/0"
    return override_settings(
        TASKS={"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": settings.TASK_QUEUES}},
        RQ_QUEUES={name: {"URL": url} for name in settings.TASK_QUEUES})


def test_a_kommo_webhook_stored_while_redis_is_down_is_accepted_and_left_for_the_safety_net(
        client, kommo_account, fake_kommo, caplog):
    from crm.actions import stuck_delivery_ids

    remote = fake_kommo.state.create_lead("Pedido", status_id=STATUS_TO_CALL, emit=False)
    body = encode_webhook("leads", "add", [fake_kommo.state.lead_webhook_item(remote["id"], "add")],
                          {"subdomain": "demo", "id": fake_kommo.state.account_id})
    # given Redis (the task queue) is unreachable
    with redis_down(), caplog.at_level(logging.WARNING, logger="core.tasks"):
        # when Kommo posts a webhook
        response = client.post(f"/integrations/kommo/webhook/{kommo_account.webhook_secret}/", body,
                               content_type=FORM)
    # then Kommo gets its 200 (the body is stored: a 5xx would only make it resend what we kept)
    assert response.status_code == 200
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.state == "received" and delivery.processed_at is None
    # and the log says what happened: stored, not queued, left for the safety net
    assert any("stored but not queued" in r.getMessage() for r in caplog.records)
    # and the safety net's query finds it once its minute of grace has passed
    assert stuck_delivery_ids(now=timezone.now() + timedelta(minutes=2)) == [delivery.pk]


def test_a_whatsapp_webhook_stored_while_redis_is_down_is_accepted(client, whatsapp_number, caplog):
    # given Redis is unreachable
    with redis_down(), caplog.at_level(logging.WARNING, logger="core.tasks"):
        # when Meta posts a signed webhook
        response = post(client, whatsapp_number, inbound(whatsapp_number, fw.text_message(WA_ID, "Hola",
                                                                                wamid="wamid.redis-down")))
    # then Meta gets its 200 and the body waits, stored, for the safety net
    assert response.status_code == 200
    assert WhatsappDelivery.objects.filter(state="received").count() == 1
    assert any("stored but not queued" in r.getMessage() for r in caplog.records)
