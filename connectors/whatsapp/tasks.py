"""WhatsApp background work: thin, idempotent shims over the connector's actions (STYLE §8), queue "messaging"."""

from __future__ import annotations

import contextlib
import logging

from django.tasks import task

from connectors.whatsapp import actions, outbound
from core.outages import DEPENDENCY_DOWN
from core.tasks import enqueue_later

logger = logging.getLogger(__name__)


def _process_one(delivery_id: int) -> str:
    """One delivery, isolated from the others of its batch: actions.do_process_delivery records every failure on the
    delivery itself; anything that still escapes (the database went away mid-attempt) is logged and the
    delivery stays `received` for the safety net."""

    try:
        return actions.do_process_delivery(delivery_id)
    except actions.Retry as retry:
        with contextlib.suppress(*DEPENDENCY_DOWN):  # Redis down too: the safety net covers it
            enqueue_later(process_whatsapp_webhook, retry.retry_at, delivery_id)
        return "retrying"
    except Exception:
        logger.exception("whatsapp webhook %s: processing interrupted", delivery_id)
        return "interrupted"


@task(queue_name="messaging")
def process_whatsapp_webhooks(delivery_ids: list[int]) -> dict[str, int]:
    """One task per intake batch. Each delivery is processed and recorded on its own (idempotent), so one bad
    body never strands the others; one Meta could not serve (a media download) stays `received` and gets its
    own retrying task."""
    counts: dict[str, int] = {}
    for delivery_id in delivery_ids:
        outcome = _process_one(delivery_id)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


@task(queue_name="messaging")
def process_whatsapp_webhook(delivery_id: int) -> str:
    """A retry of one delivery, with exponential backoff and jitter up to the attempt limit."""
    return _process_one(delivery_id)


@task(queue_name="messaging")
def retry_whatsapp_send(message_id: int) -> str:
    """A deferred retry of an outbound message (the sender decides whether anything is left to do)."""

    return outbound.send_outbound(message_id)


@task(queue_name="messaging")
def sync_whatsapp_templates() -> dict[str, int | str]:
    """Periodic: approved templates change in Meta's UI; the conversation's picker must offer the current ones."""

    return actions.do_sync_all_templates()


@task(queue_name="messaging")
def whatsapp_safety_net() -> dict[str, int]:
    """Periodic: deliveries and sends whose task was lost are picked up again (see actions.do_safety_net)."""

    return actions.do_safety_net()
