"""Kommo background work: thin, idempotent shims over crm.actions (STYLE §8)."""

from __future__ import annotations

import random
from datetime import timedelta

from django.tasks import task
from django.utils import timezone

from core.tasks import enqueue_later
from crm.client import KommoError


@task(queue_name="crm")
def process_kommo_webhook(delivery_id: int) -> str:
    """Safe to repeat (see do_process_webhook). When Kommo is unavailable the delivery stays `received` and
    this task re-enqueues itself with exponential backoff and jitter, up to the attempt limit."""
    from crm.actions import do_process_webhook
    from crm.models import WebhookDelivery

    try:
        return do_process_webhook(delivery_id)
    except KommoError:
        attempts = WebhookDelivery.objects.filter(pk=delivery_id).values_list("attempts", flat=True).first() or 1
        delay = min(600.0, 2.0 * 2 ** (attempts - 1)) * random.uniform(0.9, 1.1)  # noqa: S311 - jitter
        enqueue_later(process_kommo_webhook, timezone.now() + timedelta(seconds=delay), delivery_id)
        return "retrying"


@task(queue_name="crm")
def process_kommo_webhooks(delivery_ids: list[int]) -> dict[str, int]:
    """One task per intake batch: processes each delivery (idempotent); a delivery Kommo could not be read for
    stays `received` and gets its own retrying task."""
    from crm.actions import do_process_webhook

    counts: dict[str, int] = {}
    for delivery_id in delivery_ids:
        try:
            outcome = do_process_webhook(delivery_id)
        except KommoError:
            enqueue_later(process_kommo_webhook, timezone.now() + timedelta(seconds=2), delivery_id)
            outcome = "retrying"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


@task(queue_name="crm")
def drain_kommo_outbox() -> dict[str, object]:
    """Delivers the Kommo outbox. When Kommo is unavailable it re-enqueues itself for the next due time; the
    periodic job in core.schedule is the safety net, so an outage never depends on one deferred task."""
    from crm.sync import do_drain_kommo_outbox

    result = do_drain_kommo_outbox()
    if result.retry_at is not None:
        enqueue_later(drain_kommo_outbox, result.retry_at)
    return {"delivered": result.delivered, "failed": result.failed,
            "retry_at": result.retry_at.isoformat() if result.retry_at else None}
