"""Keyset pagination in any declared order: the next page starts strictly after the last row shown, so page 200
costs what page 1 costs (an index walk cut at the page) and rows arriving meanwhile never shift the pages. Used by
the inbox's list and the customer list.

A cursor is the last row's sort values as URL-safe base64 JSON; a mangled cursor decodes to None and the caller shows
the first page rather than an error."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import CharField, DateTimeField, DecimalField, F, Model, Q, QuerySet
from django.db.models.expressions import OrderBy
from django.utils import timezone

from core.validators import text_problem

INT64_MAX = 2**63 - 1


def _parse_time(value: Any) -> Any:
    return datetime.fromisoformat(value)


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = False
    nulls_last: bool = False  # rows without a value come after every row with one, in either direction
    # How a cursor's JSON value becomes the column's value again (None: as is; *_at and *_since fields: a datetime).
    parse: Callable[[Any], Any] | None = None

    def value_from_cursor(self, value: Any) -> Any:
        if value is None:
            return None
        if self.parse is not None:
            return self.parse(value)
        if self.field.endswith(("_at", "_since")):
            return _parse_time(value)
        return value

    def order(self) -> OrderBy:
        if self.descending:
            return F(self.field).desc(nulls_last=self.nulls_last or None)
        return F(self.field).asc(nulls_last=self.nulls_last or None)


def after(keys: Sequence[SortKey], values: Sequence[object]) -> Q:
    """Rows strictly after `values` in the order `keys` (lexicographic, NULLS LAST where declared)."""
    condition = Q(pk__in=[])
    equal = Q()
    for key, value in zip(keys, values, strict=True):
        if value is None:
            later = Q(pk__in=[])  # nothing sorts after a NULL in a NULLS LAST key, except equal NULLs below
            same = Q(**{f"{key.field}__isnull": True})
        else:
            later = Q(**{f"{key.field}__{'lt' if key.descending else 'gt'}": value})
            if key.nulls_last:
                later |= Q(**{f"{key.field}__isnull": True})
            same = Q(**{key.field: value})
        condition |= equal & later
        equal &= same
    return condition


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def encode(row: Model, keys: Sequence[SortKey]) -> str:
    values = [_json_value(getattr(row, key.field)) for key in keys]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def decode(cursor: str, keys: Sequence[SortKey], model: type[Model]) -> list[object] | None:
    """The cursor's sort values, each checked against its column of `model` (a cursor is the client's text: a forged
    one must never reach the database as a value it cannot compare); None when it does not decode or fit."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor.encode()).decode())
        values = [key.value_from_cursor(value) for key, value in zip(keys, raw, strict=True)]
    except (ValueError, TypeError, UnicodeDecodeError, ArithmeticError):
        return None
    return fitted(values, keys, model)


def fitted(values: Sequence[object], keys: Sequence[SortKey], model: type[Model]) -> list[object] | None:
    """`values` made comparable with their columns (datetimes in UTC: ISO 8601 allows offsets PostgreSQL refuses), or
    None when one cannot be: a wrong type, a NaN, a NUL, out of range."""
    out: list[object] = []
    for key, value in zip(keys, values, strict=True):
        if value is None:
            out.append(None)
            continue
        try:
            field = model._meta.get_field(key.field)
        except FieldDoesNotExist:  # an annotation (the inbox's priority rank): a small integer
            field = None
        if isinstance(field, DateTimeField):
            if not isinstance(value, datetime) or not timezone.is_aware(value):
                return None
            try:
                out.append(value.astimezone(UTC))
            except OverflowError:
                return None
            continue
        elif isinstance(field, DecimalField):
            if not isinstance(value, Decimal) or not value.is_finite() or abs(value) >= Decimal("1e14"):
                return None
        elif isinstance(field, CharField):
            if not isinstance(value, str) or len(value) > (field.max_length or 0) or text_problem(value) is not None:
                return None
        elif isinstance(value, bool) or not isinstance(value, int) or not -INT64_MAX <= value <= INT64_MAX:
            return None
        out.append(value)
    return out


def page[M: Model](qs: QuerySet[M], keys: Sequence[SortKey], *, after_values: Sequence[object] | None = None,
                   size: int = 50) -> tuple[list[M], str | None]:
    """One page of `qs` in the order `keys` (the last key must be unique: the id), starting after the row whose
    sort values are `after_values` (a decoded cursor; None: the first page), and the next page's cursor (None on the
    last one)."""
    if after_values is not None:
        qs = qs.filter(after(keys, after_values))
    rows = list(qs.order_by(*(key.order() for key in keys))[:size + 1])
    return rows[:size], (encode(rows[size - 1], keys) if len(rows) > size else None)
