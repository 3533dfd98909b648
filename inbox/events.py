"""Domain events of the inbox (core.events). Emitted by inbox.actions; the event catalogue in docs/events.md is
generated from these classes (`manage.py event_catalogue`)."""

from __future__ import annotations

import dataclasses

from django.utils.translation import gettext_lazy as _

from core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConversationCreated(DomainEvent):
    """A customer's first message (or a channel) started a new conversation."""

    type = "conversation.created"
    label = _("Conversación creada")
    conversation_id: int
    customer_id: int
    channel: str
    inbox: str
    subject: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class MessageReceived(DomainEvent):
    """A customer's message was stored in a conversation (new, continued or reopened)."""

    type = "message.received"
    label = _("Mensaje recibido")
    message_id: int
    conversation_id: int
    customer_id: int
    channel: str
    inbox: str
    body: str
    attachments: int = 0


@dataclasses.dataclass(frozen=True, kw_only=True)
class MessageSent(DomainEvent):
    """An answer to the customer was stored (`delivery_status`: queued for a connector, or sent): an agent's, or
    the system's when `automatic` (an automation rule's reply, `author_id` None) — nobody's response then."""

    type = "message.sent"
    label = _("Mensaje enviado")
    message_id: int
    conversation_id: int
    customer_id: int
    channel: str
    author_id: int | None
    body: str
    delivery_status: str
    automatic: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConversationAssigned(DomainEvent):
    """The conversation's assignee changed (`how`: assigned, transferred, taken, auto…; `to_user_id` None when it
    went back to the pool)."""

    type = "conversation.assigned"
    label = _("Conversación asignada")
    conversation_id: int
    customer_id: int
    inbox: str
    from_user_id: int | None
    to_user_id: int | None
    how: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConversationUpdated(DomainEvent):
    """Something about the conversation other than its state or assignee changed. `changes` names what: `inbox`
    (moved to another inbox), `classification` (its result or the customer's state), `sale` (an order of the
    customer was counted in it), `messages` (a duplicate conversation was merged into it), `details` (priority,
    tags, company or external ticket)."""

    type = "conversation.updated"
    label = _("Conversación actualizada")
    conversation_id: int
    customer_id: int
    inbox: str
    changes: list[str]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConversationStateChanged(DomainEvent):
    """A conversation moved from one state to another through the transition function (`reason`: the closure
    reason, or why the system moved it, e.g. "customer_wrote_again")."""

    type = "conversation.state_changed"
    label = _("Cambio de estado de conversación")
    conversation_id: int
    customer_id: int
    channel: str
    from_state: str
    to_state: str
    reason: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConversationClosed(DomainEvent):
    """A conversation was resolved (after its conversation.state_changed): the documented reason, the cycle it
    closed and the resolution time the dashboard counts."""

    type = "conversation.closed"
    label = _("Conversación cerrada")
    conversation_id: int
    customer_id: int
    channel: str
    inbox: str
    reason: str
    cycle: int
    resolution_seconds: int
    assignee_id: int | None
