from __future__ import annotations

from django.tasks import task

from inbox import actions
from inbox.models import Message
from inbox.outbound import sender_for


@task()
def return_stale_conversations() -> int:
    """Conversations whose agent went offline, or that waited too long for a first answer, go back to the pool;
    calls nobody noted end an hour after their last activity."""

    return actions.do_return_stale_to_pool() + actions.do_end_idle_calls()


@task(queue_name="messaging")
def deliver_outbound(message_id: int) -> None:
    """Hands an outbound message to its channel's connector (idempotent: the connector skips sent messages)."""

    channel = Message.objects.filter(pk=message_id).values_list("conversation__channel", flat=True).first()
    sender = sender_for(channel) if channel else None
    if sender is not None:
        sender(message_id)
