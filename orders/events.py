"""Domain events of orders (core.events), emitted by orders.actions. `order` is the order as integrators read it
(lines, delivery data, agent): the `data.order` of the outgoing webhook."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _

from core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class _OrderEvent(DomainEvent):
    order_id: int
    number: str
    customer_id: int
    lead_id: int | None
    total: Decimal
    currency: str
    order: dict[str, Any]


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderConfirmed(_OrderEvent):
    """A draft order was confirmed: stock taken, sales recorded, the Kommo sync queued."""

    type = "order.confirmed"
    label = _("Pedido confirmado")


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderCancelled(_OrderEvent):
    """An order was cancelled (`reason` as written; stock returned when it had been confirmed)."""

    type = "order.cancelled"
    label = _("Pedido cancelado")
    reason: str
    was_confirmed: bool


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderDispatched(_OrderEvent):
    """A confirmed order left the warehouse."""

    type = "order.dispatched"
    label = _("Pedido despachado")
