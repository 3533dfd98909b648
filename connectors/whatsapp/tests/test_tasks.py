"""The periodic safety net: work whose task was lost is queued again; stale unmatched receipts are pruned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.tasks import default_task_backend
from django.utils import timezone

from connectors.whatsapp.models import OutboundSend, StatusReceipt, WebhookDelivery
from connectors.whatsapp.tasks import whatsapp_safety_net
from connectors.whatsapp.tests.helpers import clear_tasks
from inbox.actions import do_receive_inbound

pytestmark = pytest.mark.django_db


def test_lost_deliveries_and_sends_are_queued_again(whatsapp_number):
    clear_tasks()
    now = timezone.now()
    # given a delivery nobody picked up, one in flight (its lease in `processed_at` still running), one whose
    # retry was lost, one waiting for its retry, and a fresh one
    lost = WebhookDelivery.objects.create(number=whatsapp_number, body="{}", received_at=now - timedelta(minutes=3))
    WebhookDelivery.objects.create(number=whatsapp_number, body="{}", attempts=1,
                                   received_at=now - timedelta(minutes=3), processed_at=now + timedelta(minutes=4))
    abandoned = WebhookDelivery.objects.create(number=whatsapp_number, body="{}", attempts=2, error="unavailable",
                                               received_at=now - timedelta(hours=2),
                                               processed_at=now - timedelta(minutes=5))
    WebhookDelivery.objects.create(number=whatsapp_number, body="{}", attempts=2, error="unavailable",
                                   received_at=now - timedelta(minutes=5), processed_at=now + timedelta(seconds=40))
    WebhookDelivery.objects.create(number=whatsapp_number, body="{}")
    # and a send whose deferred retry is overdue, and an unmatched receipt a week old
    _c, message, _new = do_receive_inbound(channel="api", body="hola", customer_name="Ana", phones=["3001234567"])
    OutboundSend.objects.create(message=message, state="retrying", next_attempt_at=now - timedelta(minutes=5))
    old = StatusReceipt.objects.create(wamid="wamid.x", status="read")
    StatusReceipt.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=8))
    # when the periodic job runs
    result = whatsapp_safety_net.call()
    # then exactly the lost work is queued again
    assert result == {"deliveries": 2, "sends": 1, "pruned_receipts": 1}
    queued = {(r.task.name, str(r.args)) for r in default_task_backend.results}
    assert ("process_whatsapp_webhooks", str([[lost.pk, abandoned.pk]])) in queued
    assert ("retry_whatsapp_send", str([message.pk])) in queued
    clear_tasks()
