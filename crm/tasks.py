"""Kommo background work: thin, idempotent shims over crm.actions (STYLE §8)."""

from __future__ import annotations

import contextlib
import logging

from django.tasks import task

from core.outages import DEPENDENCY_DOWN
from core.tasks import enqueue_later
from crm import actions, sync

logger = logging.getLogger(__name__)


def _process_one(delivery_id: int) -> str:
    """One delivery, isolated from the others of its batch: actions.do_process_webhook records every failure on the
    delivery itself; anything that still escapes (the database went away mid-attempt) is logged and the
    delivery stays `received` for the safety net."""

    try:
        return actions.do_process_webhook(delivery_id)
    except actions.RetryWebhook as retry:
        with contextlib.suppress(*DEPENDENCY_DOWN):  # Redis down too: the safety net covers it
            enqueue_later(process_kommo_webhook, retry.retry_at, delivery_id)
        return "retrying"
    except Exception:
        logger.exception("kommo webhook %s: processing interrupted", delivery_id)
        return "interrupted"


@task(queue_name="crm")
def process_kommo_webhook(delivery_id: int) -> str:
    """Safe to repeat (see actions.do_process_webhook). When Kommo is unavailable the delivery stays `received` and
    this task re-enqueues itself with exponential backoff and jitter, up to the attempt limit."""
    return _process_one(delivery_id)


@task(queue_name="crm")
def process_kommo_webhooks(delivery_ids: list[int]) -> dict[str, int]:
    """One task per intake batch: each delivery is processed and recorded on its own, so one bad body never
    strands the others; a delivery Kommo could not be read for gets its own retrying task."""
    counts: dict[str, int] = {}
    for delivery_id in delivery_ids:
        outcome = _process_one(delivery_id)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


@task(queue_name="crm")
def kommo_safety_net() -> int:
    """Periodic: `received` deliveries whose task was lost (a worker killed mid-batch, a lost deferred retry)
    are queued again after a minute (see crm.actions.stuck_delivery_ids), in chunks of SAFETY_NET_CHUNK so that
    every worker takes a share of a backlog (after a Redis outage: every webhook that arrived meanwhile)."""

    stuck = actions.stuck_delivery_ids()
    for start in range(0, len(stuck), SAFETY_NET_CHUNK):
        process_kommo_webhooks.enqueue(stuck[start:start + SAFETY_NET_CHUNK])
    return len(stuck)


SAFETY_NET_CHUNK = 25


@task(queue_name="crm")
def drain_kommo_outbox() -> dict[str, object]:
    """Delivers the Kommo outbox. When Kommo is unavailable it re-enqueues itself for the next due time; the
    periodic job in core.schedule is the safety net, so an outage never depends on one deferred task."""

    result = sync.do_drain_kommo_outbox()
    if result.retry_at is not None:
        enqueue_later(drain_kommo_outbox, result.retry_at)
    return {"delivered": result.delivered, "failed": result.failed,
            "retry_at": result.retry_at.isoformat() if result.retry_at else None}
