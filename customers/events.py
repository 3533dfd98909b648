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
