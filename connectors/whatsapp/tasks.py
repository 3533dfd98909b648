"""WhatsApp background work: thin, idempotent shims over the connector's actions (STYLE §8), queue "messaging"."""

from __future__ import annotations

import random
from datetime import timedelta

from django.tasks import task
from django.utils import timezone

from core.tasks import enqueue_later


@task(queue_name="messaging")
def process_whatsapp_webhooks(delivery_ids: list[int]) -> dict[str, int]:
    """One task per intake batch. Each delivery is processed on its own (idempotent); one Meta could not serve
    (a media download) stays `received` and gets its own retrying task."""
    from connectors.whatsapp.actions import Retry, do_process_delivery

    counts: dict[str, int] = {}
    for delivery_id in delivery_ids:
        try:
            outcome = do_process_delivery(delivery_id)
        except Retry:
            enqueue_later(process_whatsapp_webhook, timezone.now() + timedelta(seconds=5), delivery_id)
            outcome = "retrying"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


@task(queue_name="messaging")
def process_whatsapp_webhook(delivery_id: int) -> str:
    """A retry of one delivery, with exponential backoff and jitter up to the attempt limit."""
    from connectors.whatsapp.actions import Retry, do_process_delivery
    from connectors.whatsapp.models import WebhookDelivery

    try:
        return do_process_delivery(delivery_id)
    except Retry:
        attempts = WebhookDelivery.objects.filter(pk=delivery_id).values_list("attempts", flat=True).first() or 1
        delay = min(600.0, 5.0 * 2 ** (attempts - 1)) * random.uniform(0.9, 1.1)  # noqa: S311 - jitter
        enqueue_later(process_whatsapp_webhook, timezone.now() + timedelta(seconds=delay), delivery_id)
        return "retrying"


@task(queue_name="messaging")
def retry_whatsapp_send(message_id: int) -> str:
    """A deferred retry of an outbound message (the sender decides whether anything is left to do)."""
    from connectors.whatsapp.outbound import send_outbound

    return send_outbound(message_id)


@task(queue_name="messaging")
def sync_whatsapp_templates() -> dict[str, int | str]:
    """Periodic: approved templates change in Meta's UI; the conversation's picker must offer the current ones."""
    from connectors.whatsapp.actions import do_sync_all_templates

    return do_sync_all_templates()


@task(queue_name="messaging")
def whatsapp_safety_net() -> dict[str, int]:
    """Periodic: deliveries and sends whose task was lost are picked up again (see do_safety_net)."""
    from connectors.whatsapp.actions import do_safety_net

    return do_safety_net()
