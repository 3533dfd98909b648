"""A customer's activity columns (first and last contact, channels, open conversations, purchases, spend, lead state),
computed from what the apps above know and kept on the customer row for the list, the profile and segments.

customers sits below inbox, orders and leads, so it cannot read their tables. Each of them registers a *source*
from its AppConfig.ready(): a function of (customer ids, now) returning, per customer it knows something about, the
columns it contributes. `compute` combines the sources column by column (earliest first contact, latest last
contact, any channel, sums of counts and money), and `do_refresh_activity` writes the rows that changed.

When: the apps subscribe (inside the emitting transaction) to the events that move a column and call
`refresh_on_commit(customer_id)`; the customers touched by one transaction are refreshed once, right after it
commits, each under its row lock so that two refreshes of one customer never write an older view over a newer one.
The "last 90 days / 12 months" columns move with the calendar alone, and imported history writes without events:
`rebuild_customer_activity` (nightly, and after an import) recomputes everyone in batches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone

from customers.models import NEVER, Customer
from customers.segments import evaluate

logger = logging.getLogger(__name__)

Source = Callable[[Sequence[int], datetime], Mapping[int, Mapping[str, Any]]]
_sources: dict[str, Source] = {}


def _earliest(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _latest(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _first_given(values: list[Any]) -> Any:
    return next((v for v in values if v), "")


# Each activity column, its value when no source knows anything, and how the sources' values combine.
COLUMNS: Final[Mapping[str, tuple[Any, Callable[[list[Any]], Any]]]] = {
    "first_contact_at": (None, _earliest),
    "last_contact_at": (None, _latest),
    "last_inbound_at": (None, _latest),
    "conversations_count": (0, sum),
    "open_conversations": (0, sum),
    "on_whatsapp": (False, any),
    "on_email": (False, any),
    "on_webchat": (False, any),
    "on_phone": (False, any),
    "on_sms": (False, any),
    "orders_count": (0, sum),
    "orders_90d": (0, sum),
    "total_spent": (Decimal(0), lambda values: sum(values, Decimal(0))),
    "spent_12m": (Decimal(0), lambda values: sum(values, Decimal(0))),
    "last_order_at": (None, _latest),
    "lead_state": ("", _first_given),
}
REBUILD_BATCH = 2000


def register_activity_source(name: str, source: Source) -> None:
    """`source(customer_ids, now)` → {customer_id: {column: value}} for the customers it knows (registering again
    under the same name replaces it). Columns are those of COLUMNS; a source leaves out what it does not know."""
    _sources[name] = source


def compute(customer_ids: Sequence[int], now: datetime) -> dict[int, dict[str, Any]]:
    """Every customer's activity columns, combined from all sources (the defaults for a customer nobody knows)."""
    gathered: dict[int, dict[str, list[Any]]] = {pk: {column: [] for column in COLUMNS} for pk in customer_ids}
    for source in _sources.values():
        for pk, values in source(customer_ids, now).items():
            if pk in gathered:
                for column, value in values.items():
                    gathered[pk][column].append(value)
    return {pk: {column: (COLUMNS[column][1](found) if found else COLUMNS[column][0])
                 for column, found in columns.items()}
            for pk, columns in gathered.items()}


def do_refresh_activity(customer_ids: Iterable[int], *, now: datetime | None = None, announce: bool = True) -> int:
    """Recomputes these customers' activity columns and writes those that changed, under their row locks (taken in
    id order, so two refreshes never deadlock), then re-checks their segments (`announce`=False: segment changes are
    recorded without events — an import describes the past). Returns how many customers changed."""
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    now = now or timezone.now()
    fields = [*COLUMNS, "contact_sort_at", "activity_at"]
    with transaction.atomic():
        current = {c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=ids).order_by("pk")
                   .only("pk", *fields)}
        changed = []
        for pk, values in compute(list(current), now).items():
            customer = current[pk]
            values["contact_sort_at"] = values["last_contact_at"] or NEVER
            if any(getattr(customer, column) != value for column, value in values.items()):
                for column, value in values.items():
                    setattr(customer, column, value)
                customer.activity_at = now
                changed.append(customer)
        if changed:
            _write(changed, fields)
        # tags and lists move segments too, so every refreshed customer is re-checked, changed columns or not
        evaluate(list(current), now=now, announce=announce)
    return len(changed)


def _write(customers: list[Customer], fields: list[str]) -> None:
    """One UPDATE per customer, sent with executemany (pipelined by psycopg): far cheaper than bulk_update()'s
    CASE WHEN id = … per column, which grows with the batch on both databases (a 300,000-customer rebuild went from
    minutes to seconds)."""
    meta = Customer._meta
    columns: list[Field[Any, Any]] = [meta.get_field(name) for name in fields]  # type: ignore[misc]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(str(field.column))} = %s" for field in columns)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(str(meta.pk.column))} = %s"  # noqa: S608
    rows = [[field.get_db_prep_save(getattr(c, field.attname), connection) for field in columns] + [c.pk]
            for c in customers]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def refresh_many(customer_ids: Iterable[int], *, now: datetime | None = None, batch: int = REBUILD_BATCH,
                 progress: Callable[[int, int], None] | None = None, announce: bool = True) -> int:
    """Refreshes many customers (an import's), `batch` at a time, each batch its own short transaction. Returns how
    many changed."""
    ids, now, changed = sorted(set(customer_ids)), now or timezone.now(), 0
    for start in range(0, len(ids), batch):
        changed += do_refresh_activity(ids[start:start + batch], now=now, announce=announce)
        if progress is not None:
            progress(min(start + batch, len(ids)), len(ids))
    return changed


def rebuild_customer_activity(*, now: datetime | None = None, batch: int = REBUILD_BATCH) -> tuple[int, int]:
    """Recomputes every customer, `batch` at a time (each batch its own short transaction): the nightly job, which
    also moves the "last 90 days / 12 months" columns with the calendar. Returns (customers seen, changed)."""
    now = now or timezone.now()
    seen = changed = 0
    last = 0
    while True:
        ids = list(Customer.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            return seen, changed
        changed += do_refresh_activity(ids, now=now)
        seen += len(ids)
        last = ids[-1]


class _Pending:
    """The customers whose activity the current transaction moved; refreshed once when it commits."""

    __slots__ = ("done", "ids")

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.done = False

    def __call__(self) -> None:
        self.done = True
        try:
            do_refresh_activity(self.ids)
        except Exception:  # the change itself is committed; the nightly rebuild repairs the columns
            logger.exception("customer activity refresh failed for %s", sorted(self.ids))


def refresh_on_commit(customer_id: int | None) -> None:
    """Refreshes the customer's activity after the current transaction commits (immediately outside one). The
    customers of one transaction share one refresh; a rolled-back transaction drops it with its other callbacks."""
    if customer_id is None:
        return
    if not connection.in_atomic_block:
        _refresh_now(customer_id)
        return
    pending = getattr(connection, "_customer_activity_pending", None)
    # Django drops the callbacks of a rolled-back transaction or savepoint: a pending set whose callback is no
    # longer queued belongs to one of those, and is replaced; so is one that ran already.
    if pending is None or pending.done or not any(entry[1] is pending for entry in connection.run_on_commit):
        pending = _Pending()
        connection._customer_activity_pending = pending  # type: ignore[attr-defined]
        transaction.on_commit(pending)
    pending.ids.add(customer_id)


def _refresh_now(customer_id: int) -> None:
    pending = _Pending()
    pending.ids.add(customer_id)
    pending()
