"""Domain events of the catalogue (core.events), emitted by catalog.actions."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.utils.translation import gettext_lazy as _

from core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class StockChanged(DomainEvent):
    """Availability of one or more products changed in one action (an order confirmed or cancelled, a receipt,
    an adjustment, an import). `products`: [{"product_id", "sku", "on_hand", "reserved", "available"}]."""

    type = "stock.changed"
    label = _("Cambio de stock")
    products: list[dict[str, Any]]
    reason: str = ""
