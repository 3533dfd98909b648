"""What the order pages show of an order's sync with the CRM (Kommo), without orders depending on the app that
syncs: that app (crm) registers two readers from its AppConfig.ready(). Without one, orders show no sync."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class SyncState:
    code: str  # the outbox row's state, for CSS (`sync-<code>`)
    label: str  # the same, as a person reads it (current language)


States = Callable[[Collection[int]], dict[int, SyncState]]  # order id → its latest sync's state
Stages = Callable[[Collection[int]], dict[int, str]]  # order id → the stage name its confirmation sync targets
_readers: dict[str, States | Stages] = {}


def register(*, states: States, stages: Stages) -> None:
    _readers["states"], _readers["stages"] = states, stages


def sync_states(order_ids: Collection[int]) -> dict[int, SyncState]:
    reader = _readers.get("states")
    return reader(order_ids) if reader is not None and order_ids else {}  # type: ignore[return-value]


def sync_stages(order_ids: Collection[int]) -> dict[int, str]:
    reader = _readers.get("stages")
    return reader(order_ids) if reader is not None and order_ids else {}  # type: ignore[return-value]
