"""Calls: a call worked on the call screen is a conversation on the phone channel (issue 15), so its sales, its
agent and its times reach the same dashboard as WhatsApp, email and web chat.

The inbox does not know leads: the `calls` app (above both) decides when a call starts and ends from the lead's
events and calls these actions with plain values — the customer, the agent, a reference to what was called
(`lead:<id>`), when the call started and how long the customer had waited for it. The call conversations live in
the "Llamadas" inbox, assigned to the agent who called.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.events import emit
from inbox.actions.base import S, _emit, _updated, do_transition_conversation, message_payload
from inbox.choices import OPEN_STATES, Channel, CloseReason, ConversationOutcome, CustomerState, MessageKind
from inbox.events import ConversationAssigned, ConversationCreated
from inbox.models import Conversation, ConversationEvent, Inbox, Message

CALLS_INBOX = "llamadas"
# A call left open (an order confirmed on the call screen, no note) ends this long after its last activity: it no
# longer counts as the agent's open work, and a later note on the lead starts a new call.
CALL_IDLE_MINUTES: Final = 60


def calls_inbox() -> Inbox:
    inbox, _created = Inbox.objects.get_or_create(
        code=CALLS_INBOX, defaults={"name": "Llamadas", "auto_assign": False})  # data, like "Historial importado"
    return inbox


def latest_call(ref: str, agent_id: int) -> Conversation | None:
    """The agent's most recent call conversation about `ref` (open or resolved), locked — its row only: joining the
    inbox or the customer would lock the one "Llamadas" inbox row for every agent's call until commit."""
    return (Conversation.objects.select_for_update()
            .filter(channel=Channel.PHONE, external_ref=ref, assignee_id=agent_id)
            .order_by("-created_at", "-id").first())


def calls_since(ref: str, since: datetime) -> bool:
    """Whether anyone called about `ref` since that moment (the first call after a lead entered the queue is the
    one whose wait counts as its first response)."""
    return Conversation.objects.filter(channel=Channel.PHONE, external_ref=ref, created_at__gte=since).exists()


def do_open_call(*, customer_id: int, agent: User, ref: str, subject: str, started_at: datetime,
                 waited_seconds: int) -> Conversation:
    """A call starts: a phone conversation of the customer, assigned to the agent (pendiente). The agent answers
    the moment the call starts, so its first response is the call's start; `waited_seconds` is how long the
    customer had waited for it (the dashboard's first-response time: the wait since the lead reached the queue
    for the first call, none for the agent's follow-up calls)."""
    # Born assigned and pendiente: the agent is on the phone with the customer (one history row, "X called the
    # customer", at the call's start — not the created / assigned / pendiente rows of a customer's message).
    c = Conversation.objects.create(
        customer_id=customer_id, channel=Channel.PHONE, inbox=calls_inbox(), subject=subject[:250],
        external_ref=ref, assignee=agent, state=S.PENDING, created_at=started_at, last_activity_at=started_at,
        first_response_at=started_at, first_response_seconds=max(0, waited_seconds))
    ConversationEvent.objects.create(conversation=c, cycle=c.cycle, kind="call_started", actor=agent,
                                     data={"subject": c.subject}, created_at=started_at)
    emit(ConversationCreated(conversation_id=c.pk, customer_id=customer_id, channel=Channel.PHONE,
                             inbox=c.inbox.code, subject=c.subject), actor=agent)
    emit(ConversationAssigned(conversation_id=c.pk, customer_id=customer_id, inbox=c.inbox.code, from_user_id=None,
                              to_user_id=agent.pk, how="call"), actor=agent)
    _emit(c, "assigned")
    return c


# The lead's note result → the conversation's result and the customer's state (docs/reports.md).
NOTE_RESULT: dict[str, tuple[str, str]] = {
    "positivo": (ConversationOutcome.RESOLVED, CustomerState.INTERESTED),
    "parcial": ("", CustomerState.FOLLOW_UP),
    "negativo": (ConversationOutcome.UNSOLVED, CustomerState.NOT_INTERESTED),
    "no_clasificado": ("", ""),
}


def do_note_call(c: Conversation, *, agent: User, note: str, result: str, at: datetime | None = None) -> None:
    """The call's note: kept in the conversation as an internal note, it gives the result, and it ends the call
    (resolved, reason "call noted"). A later note of the same call (a correction minutes later) is added to the
    resolved conversation and updates its result. A sale already counted in it keeps "generó venta"."""
    at = at or timezone.now()
    message = Message.objects.create(conversation=c, cycle=c.cycle, kind=MessageKind.NOTE, author=agent,
                                     body=note, created_at=at)
    outcome, customer_state = NOTE_RESULT.get(result, ("", ""))
    if c.outcome == ConversationOutcome.SALE:  # the sale decides the result
        outcome, customer_state = ConversationOutcome.SALE, c.customer_state or CustomerState.CONVERTED
    reclassified = (outcome or c.outcome, customer_state or c.customer_state) != (c.outcome, c.customer_state)
    c.outcome, c.customer_state = outcome or c.outcome, customer_state or c.customer_state
    c.last_activity_at = max(c.last_activity_at, at)
    c.save(update_fields=["outcome", "customer_state", "last_activity_at"])
    _emit(c, "message", message=message_payload(message))
    if c.state in OPEN_STATES:
        do_transition_conversation(c, to=S.RESOLVED, acting_user=agent, reason=CloseReason.CALL_NOTED)
    elif reclassified:
        _updated(c, "classification", acting_user=agent)


def do_touch_call(c: Conversation, *, at: datetime | None = None) -> None:
    """Something happened in the call (an order was confirmed in it): its last activity moves forward, so the idle
    rule measures from there, not from the call's start (the caller holds the row lock)."""
    at = at or timezone.now()
    if at > c.last_activity_at:
        c.last_activity_at = at
        c.save(update_fields=["last_activity_at"])


def do_end_call(c: Conversation) -> None:
    """Ends an open call nobody noted, at its last activity (the caller holds the row lock)."""
    if c.state in OPEN_STATES:
        do_transition_conversation(c, to=S.RESOLVED, acting_user=None, reason=CloseReason.CALL_ENDED,
                                   at=c.last_activity_at)


def do_end_idle_calls(*, now: datetime | None = None) -> int:
    """The sweep (with the pool job, every minute): open calls idle for CALL_IDLE_MINUTES end. Safe to repeat."""
    cutoff = (now or timezone.now()) - timedelta(minutes=CALL_IDLE_MINUTES)
    idle = Conversation.objects.filter(channel=Channel.PHONE, inbox__code=CALLS_INBOX, last_activity_at__lt=cutoff,
                                       state__in=[s.value for s in OPEN_STATES])
    ended = 0
    for pk in list(idle.values_list("pk", flat=True)[:200]):
        with transaction.atomic():
            c = Conversation.objects.select_for_update().get(pk=pk)
            if c.state in OPEN_STATES and c.last_activity_at < cutoff:
                do_end_call(c)
                ended += 1
    return ended
