"""Domain events of customers (core.events)."""

from __future__ import annotations

import dataclasses

from django.utils.translation import gettext_lazy as _

from core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class CustomerMerged(DomainEvent):
    """A duplicate was merged into `customer_id` (its rows moved there; `merged_id` no longer exists)."""

    type = "customer.merged"
    label = _("Clientes fusionados")
    customer_id: int
    merged_id: int
    merged_name: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class CustomerCreated(DomainEvent):
    """A new customer record (from a channel, Kommo, the API or a person)."""

    type = "customer.created"
    label = _("Cliente creado")
    customer_id: int
    name: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class CustomerTagged(DomainEvent):
    """Tags were added to a customer (`tags`: only those it did not have)."""

    type = "customer.tagged"
    label = _("Cliente etiquetado")
    customer_id: int
    tags: list[str]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConsentChanged(DomainEvent):
    """A customer accepted or refused campaign messages on a channel (`method` for an opt-out: keyword, link,
    agent, api, import)."""

    type = "customer.consent_changed"
    label = _("Consentimiento de un cliente cambiado")
    customer_id: int
    channel: str
    status: str
    method: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class SegmentEntered(DomainEvent):
    """A customer started matching a segment's rules (after their activity changed, or in the nightly recompute).
    A segment's first computation, or a recomputation after its rules were edited, announces nobody."""

    type = "segment.entered"
    label = _("Cliente entró en un segmento")
    customer_id: int
    segment: str  # the segment's code
    segment_name: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class SegmentLeft(DomainEvent):
    """A customer no longer matches a segment's rules."""

    type = "segment.left"
    label = _("Cliente salió de un segmento")
    customer_id: int
    segment: str
    segment_name: str
