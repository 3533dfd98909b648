"""Domain events of the call queue (core.events), emitted by leads.actions."""

from __future__ import annotations

import dataclasses

from django.utils.translation import gettext_lazy as _

from core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class LeadArrived(DomainEvent):
    """A Kommo lead entered the call queue (new, or back in the to-call stage); a redelivery emits nothing."""

    type = "lead.arrived"
    label = _("Lead en la cola")
    lead_id: int
    kommo_id: int
    customer_id: int | None
    name: str
    stage_name: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class LeadNoted(DomainEvent):
    """An operator wrote a call note on a lead (`outcome`: the call's result)."""

    type = "lead.noted"
    label = _("Nota de llamada")
    lead_id: int
    note_id: int
    author_id: int
    outcome: str
    template: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class LeadClosed(DomainEvent):
    """A lead's work was completed (closed by an operator or supervisor)."""

    type = "lead.closed"
    label = _("Lead completado")
    lead_id: int
    kommo_id: int
    closed_by_id: int | None
    reason: str = ""
