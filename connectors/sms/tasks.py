"""SMS background work: thin, idempotent shims over the connector's actions (STYLE §8), queue "messaging"."""

from __future__ import annotations

import logging

from django.tasks import task

from connectors.sms import actions, outbound

logger = logging.getLogger(__name__)


@task(queue_name="messaging")
def process_sms_webhooks(delivery_ids: list[int]) -> dict[str, int]:
    """Each stored webhook processed and recorded on its own (actions.do_process_delivery), so one bad body never
    strands the others; one interrupted (the database went away) stays `received` for the safety net."""
    counts: dict[str, int] = {}
    for delivery_id in delivery_ids:
        try:
            outcome = actions.do_process_delivery(delivery_id)
        except Exception:
            logger.exception("sms webhook %s: processing interrupted", delivery_id)
            outcome = "interrupted"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


@task(queue_name="messaging")
def retry_sms_send(message_id: int) -> str:
    """A deferred (paced, or retried) send of an outbound SMS: the sender decides whether anything is left to do."""
    return outbound.send_outbound(message_id)


@task(queue_name="messaging")
def sms_safety_net() -> dict[str, int]:
    """Periodic: deliveries, sends and statuses whose task was lost are picked up again (actions.do_safety_net)."""
    return actions.do_safety_net()
