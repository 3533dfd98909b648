from __future__ import annotations

from django.tasks import task
from django.utils import timezone

from core.tasks import enqueue_later
from webhooks import actions


@task(queue_name="default")
def deliver_webhooks() -> int:
    """Delivers due outgoing webhooks; re-enqueues itself for the next retry (the periodic job is the net)."""

    sent = actions.do_deliver_due()
    due = actions.next_due_at()
    if due is not None and due > timezone.now():
        enqueue_later(deliver_webhooks, due)
    return sent


@task(queue_name="default")
def fan_out_missed_events() -> int:
    """The outgoing webhooks' safety net (webhooks.actions.do_fan_out_missed)."""

    return actions.do_fan_out_missed()
