"""Typed domain events: what happened, declared by each app in its `events.py`, delivered after commit.

An event is a frozen, keyword-only dataclass subclassing `DomainEvent`, with a dotted `type` ("conversation.closed")
and a `version` (bumped when its fields change incompatibly). An action emits it with `emit(event, actor=…)`:

* the event is appended to the event log (core.models.EventLog) in the action's transaction, so a rolled-back
  action leaves no event and a committed one always has its row — the feed of `GET /api/v1/events`;
* after the transaction commits, every subscriber of that type (and of "*") is called with the event. A subscriber
  that raises is logged and never breaks the action or the other subscribers; one that is slow should enqueue a task
  (`core.tasks.enqueue_on_commit` is already past the commit there, so it just enqueues).

An action that emits several events in one transaction (a customer's first message: customer.created,
conversation.created, message.received) wraps its transaction's body in `batch()`: the log rows are then written in
one INSERT when the block ends, still inside the transaction (subscribers see the same events in the same order).

A durable outbox that must commit or roll back with the change (the Kommo sync of a confirmed order) subscribes with
`in_transaction=True`: it is called inside `emit`, in the action's transaction, and an error there fails the action.

Subscribers register from their app's `AppConfig.ready()` with `subscribe(EventClass, handler, name=…)`: the app that
reacts depends on the app that emits, never the reverse (automation, SLA timers, campaigns and outgoing webhooks
react to inbox, orders and customers without those apps knowing them).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from django.db import transaction
from django.utils import timezone

from core.models import EventLog

logger = logging.getLogger(__name__)

EVENT_TYPES: dict[str, type[DomainEvent]] = {}
Handler = Callable[["DomainEvent"], None]
_subscribers: dict[str, dict[str, Handler]] = defaultdict(dict)
_in_transaction: dict[str, dict[str, Handler]] = defaultdict(dict)
ANY = "*"


@dataclasses.dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base of every domain event. Subclasses set `type` (and `version` when it changes) as class variables."""

    type: ClassVar[str] = ""
    version: ClassVar[int] = 1
    label: ClassVar[Any] = ""  # what a person reads (webhook subscriptions, the event catalogue): gettext_lazy

    @property
    def log_id(self) -> int | None:
        """The event log row's id once emitted (subscribers read it; outgoing webhooks key on it)."""
        return getattr(self, "_log_id", None)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.type:
            if cls.type in EVENT_TYPES and EVENT_TYPES[cls.type].__qualname__ != cls.__qualname__:
                raise TypeError(f"event type {cls.type!r} declared twice")
            EVENT_TYPES[cls.type] = cls

    def payload(self) -> dict[str, Any]:
        """The event's fields as JSON values (dates as ISO 8601, decimals as strings)."""
        return {f.name: _json(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    return value


def subscribe(event: type[DomainEvent] | str, handler: Handler, *, name: str, in_transaction: bool = False) -> None:
    """Calls `handler(event)` after the commit of every emitted event of that class (or type, or ANY) — or, with
    `in_transaction`, inside the emitting transaction (outbox writers). `name` identifies the subscription:
    subscribing again under the same name replaces it."""
    key = event if isinstance(event, str) else event.type
    if key != ANY and key not in EVENT_TYPES:
        raise ValueError(f"unknown event type {key!r}")
    (_in_transaction if in_transaction else _subscribers)[key][name] = handler


def subscribers(event_type: str) -> list[tuple[str, Handler]]:
    return [*_subscribers.get(event_type, {}).items(), *_subscribers.get(ANY, {}).items()]


class _Delivery:
    """One event's after-commit delivery (its on-commit callback). Django drops the callback with a rolled-back
    savepoint: that is how `batch()` tells which of its events still stand when it writes them."""

    __slots__ = ("event",)

    def __init__(self, event: DomainEvent) -> None:
        self.event = event

    def __call__(self) -> None:
        deliver(self.event)


_batch: ContextVar[list[tuple[EventLog, _Delivery]] | None] = ContextVar("events_batch", default=None)


def emit(event: DomainEvent, *, actor: Any = None) -> int | None:
    """Appends `event` to the event log (inside the current transaction) and delivers it to its subscribers after
    commit; returns the log row's id (None inside `batch()`, which writes the row when it ends)."""
    if not event.type:
        raise TypeError(f"{type(event).__name__} has no event type")
    row = EventLog(type=event.type, version=event.version, payload=event.payload(), occurred_at=timezone.now(),
                   actor=actor if actor is not None and getattr(actor, "pk", None) else None)
    delivery = _Delivery(event)
    pending = _batch.get()
    if pending is None:
        _insert(row)
        object.__setattr__(event, "_log_id", row.pk)  # frozen for its fields; the log id is delivery metadata
    else:
        pending.append((row, delivery))
    for handler in (*_in_transaction.get(event.type, {}).values(), *_in_transaction.get(ANY, {}).values()):
        handler(event)  # part of the action: an error here rolls it back
    transaction.on_commit(delivery)
    return row.pk


def _insert(row: EventLog) -> None:
    """One log row, INSERT … RETURNING id with the values prepared by the model's own fields, instead of
    `Model.save()`: the event log is the most frequent INSERT (every action, often several per transaction), and the
    ORM's statement compilation cost about twice the round trip itself (0.38 ms against 0.13 ms per row, measured
    on PostgreSQL; docs/benchmarks.md, issue 14)."""
    connection = transaction.get_connection()
    fields = [field for field in EventLog._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    table, pk = quote(EventLog._meta.db_table), quote("id")
    columns, values = ", ".join(quote(f.column) for f in fields), ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {table} ({columns}) VALUES ({values}) RETURNING {pk}"  # noqa: S608 - model names; values bound
    params = [field.get_db_prep_save(getattr(row, field.attname), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row.pk = cursor.fetchone()[0]
    row._state.adding = False


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Events emitted inside the block are logged in one INSERT when it ends (instead of one per event), inside
    the transaction the block must run in: `with transaction.atomic(), events.batch():`. Events of a savepoint
    rolled back inside the block are left out, as their delivery is; when the block raises, nothing is written
    (the transaction around it rolls back). Nested blocks write with the outermost; outside a transaction it does
    nothing (each emit writes its row)."""
    connection = transaction.get_connection()
    if _batch.get() is not None or not connection.in_atomic_block:
        yield
        return
    pending: list[tuple[EventLog, _Delivery]] = []
    token = _batch.set(pending)
    try:
        yield
    finally:
        _batch.reset(token)
    standing = {id(entry[1]) for entry in connection.run_on_commit}
    kept = [(row, delivery) for row, delivery in pending if id(delivery) in standing]
    EventLog.objects.bulk_create([row for row, _delivery in kept])
    for row, delivery in kept:
        object.__setattr__(delivery.event, "_log_id", row.pk)


def deliver(event: DomainEvent) -> None:
    for name, handler in subscribers(event.type):
        try:
            handler(event)
        except Exception:  # a subscriber never breaks the action (committed already) or the other subscribers
            logger.exception("event %s #%s: subscriber %s failed", event.type, event.log_id, name)


def catalogue_markdown() -> str:
    """The event catalogue as Markdown, generated from the event classes (docs/events.md, checked by a test)."""
    lines: list[str] = []
    for code, cls in sorted(EVENT_TYPES.items()):
        doc = " ".join(inspect.cleandoc(cls.__doc__ or "").split())
        lines += [f"### `{code}` (v{cls.version})", "",
                  f"*{cls.label}* — declared in `{cls.__module__}.{cls.__name__}`.", "", doc, "",
                  "| field | type | default |", "|---|---|---|"]
        for field in dataclasses.fields(cls):
            default = "" if field.default is dataclasses.MISSING else f"`{field.default!r}`"
            kind = str(field.type).replace("|", "\\|")
            lines.append(f"| `{field.name}` | `{kind}` | {default} |")
        lines.append("")
    return "\n".join(lines)
