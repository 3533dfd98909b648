"""Reports freshness: every domain event that can change a conversation's reporting facts marks that conversation
for a recount, in the same transaction as the change (in-transaction subscribers, core.events), so the rollups can
never miss one: the mark commits with the change or neither does. The periodic refresh (reports.rollups.refresh)
folds the marked conversations in.

What changes a fact, by event: a conversation's creation, assignee (agent and team), state (closed day, resolution
time), result and customer state, inbox, sales and messages (first response, reply times) — the conversation.*
and message.* events below — and an order's cancellation, which removes the sales it counted. A customer merge
moves conversations to the kept customer (customers.merge participant `reports`, rollups.merged_customer); the
history import and the retention job rebuild or trim the rollups themselves."""

from __future__ import annotations

from core.events import DomainEvent
from inbox.events import (
    ConversationAssigned,
    ConversationClosed,
    ConversationCreated,
    ConversationStateChanged,
    ConversationUpdated,
    MessageReceived,
    MessageSent,
)
from orders.events import OrderCancelled
from orders.models import Sale
from reports.rollups import mark_dirty, mark_once

CONVERSATION_EVENTS: tuple[type[DomainEvent], ...] = (
    ConversationCreated, ConversationAssigned, ConversationStateChanged, ConversationClosed, ConversationUpdated,
    MessageReceived, MessageSent,
)


def on_conversation_event(event: DomainEvent) -> None:
    if getattr(event, "automatic", False):  # an automatic answer (a rule's, the bot's) is in no fact (reports.facts)
        return
    conversation_id = getattr(event, "conversation_id", None)
    if conversation_id:
        mark_once(conversation_id)


def on_order_cancelled(event: DomainEvent) -> None:
    """The cancelled order's sales are deleted later in the same action; their conversations are read now."""
    if isinstance(event, OrderCancelled) and event.was_confirmed:
        mark_dirty(Sale.objects.filter(order_id=event.order_id, conversation__isnull=False)
                   .values_list("conversation_id", flat=True))
