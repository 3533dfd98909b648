"""Domain events of customers (core.events)."""

from __future__ import annotations

import dataclasses

from core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class CustomerMerged(DomainEvent):
    """A duplicate was merged into `customer_id` (its rows moved there; `merged_id` no longer exists)."""

    type = "customer.merged"
    customer_id: int
    merged_id: int
    merged_name: str
