"""A customer's timeline across apps: conversations opened and closed, orders, calls. Each app above customers
registers a *source* from its AppConfig.ready(): a function of (user, customer, before, limit) returning that many of
its entries older than `before` (None: the newest) that the user may see (None: a system caller, everything), newest
first; the timeline merges them and keeps the newest `limit`.
The profile shows it and `GET /api/v1/customers/{id}/timeline` serves it, paged by the last entry's time."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from customers.models import Customer


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # a stable code: conversation.opened, conversation.closed, order.confirmed, call.noted…
    text: str  # what a person reads: a translated sentence with names, never a code or an id
    url: str = ""  # the page of what it is about ("" when none)
    channel: str = ""
    ref: dict[str, Any] = field(default_factory=dict)  # ids for integrations: {"conversation_id": 12}


Source = Callable[[Any, Customer, datetime | None, int], list[Entry]]
_sources: dict[str, Source] = {}
MAX_LIMIT = 200
MAX_OFFSET = 5_000


def register_timeline_source(name: str, source: Source) -> None:
    _sources[name] = source


def timeline(customer: Customer, *, user: Any = None, before: datetime | None = None, limit: int = 50,
             offset: int = 0) -> list[Entry]:
    """The customer's newest `limit` entries older than `before` that `user` may see, newest first, after skipping
    `offset` of them (the profile pages by position, so entries sharing an instant are never skipped)."""
    limit, offset = max(1, min(limit, MAX_LIMIT)), max(0, min(offset, MAX_OFFSET))
    streams = [source(user, customer, before, offset + limit) for source in _sources.values()]
    return list(heapq.merge(*streams, key=lambda e: e.at, reverse=True))[offset:offset + limit]
