"""Domain events of automation (core.events), emitted by automation.actions after commit."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.utils.translation import gettext_lazy as _

from core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class _ScheduledEvent(DomainEvent):
    scheduled_message_id: int
    conversation_id: int
    author_id: int | None  # None: an automation rule scheduled it
    send_at: datetime


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScheduledMessageSent(_ScheduledEvent):
    """A scheduled message went out at its time (`message_id`: the conversation's message)."""

    type = "scheduled_message.sent"
    label = _("Mensaje programado enviado")
    message_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScheduledMessageCancelled(_ScheduledEvent):
    """Someone cancelled a scheduled message before its time."""

    type = "scheduled_message.cancelled"
    label = _("Mensaje programado cancelado")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScheduledMessageFailed(_ScheduledEvent):
    """A scheduled message could not be sent at its time (`reason`, e.g. WhatsApp's 24-hour window had closed)."""

    type = "scheduled_message.failed"
    label = _("Mensaje programado no enviado")
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class SlaBreached(DomainEvent):
    """A conversation missed a service-level target (`target`: first_response, next_response, resolution) or was
    not resolved in time after its assignment (`escalation`: the policy then hands it to a supervisor). `due_at`:
    when the target fell due; `assignee_id`: who had it then."""

    type = "sla.breached"
    label = _("SLA incumplido")
    conversation_id: int
    customer_id: int
    channel: str
    inbox: str
    target: str
    due_at: datetime
    assignee_id: int | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class _EnrollmentEvent(DomainEvent):
    enrollment_id: int
    sequence_id: int
    sequence: str
    conversation_id: int
    customer_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class SequenceStarted(_EnrollmentEvent):
    """A conversation started a sequence of messages (`steps`: how many are scheduled), by an automation rule."""

    type = "sequence.started"
    label = _("Secuencia iniciada")
    steps: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class SequenceEnded(_EnrollmentEvent):
    """A conversation's sequence ended: `state` completada (its last message went out) or detenida, with `reason`
    (customer_replied, resolved, stopped, steps_cancelled, steps_failed, sequence_deleted); its remaining messages
    were cancelled."""

    type = "sequence.ended"
    label = _("Secuencia terminada")
    state: str
    reason: str
