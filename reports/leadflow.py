"""Lead-flow report: calls, contacted leads, closures, outcomes and speed-to-lead over a date window.

Selectors only (pure reads). The page, the JSON API and the CSV export all call `lead_flow_report`, so the
three can never disagree. Definitions of every number live in docs/reports.md; the short version:

* the window is [start 00:00, end + 1 day 00:00) in settings.TIME_ZONE (both dates inclusive, DST-safe);
* a *call* is a lead note (`LeadNote`) created in the window, attributed to its author;
* a lead is *contacted* when it has a note in the window (counted once per operator, and once in the totals);
* a lead is *closed* when its `closed_at` is in the window, attributed to `closed_by`;
* *speed-to-lead* is `queue_entered_at` → the lead's first note ever, for leads whose first note falls in the
  window, attributed to that note's author;
* *sales* are the orders confirmed on the call screen (they have a lead) in the window and not cancelled since,
  attributed to the order's agent (who built it on the call screen: the call's agent, also when a supervisor
  confirmed it); *revenue* is the sum of their sold lines (the same `Sale` rows the
  dashboard counts, which a cancellation deletes).

Every table is one GROUP BY query in the database: the report costs `QUERIES` queries whatever the number of
notes (pinned by a test). This reads the live tables rather than pre-aggregated counts (STYLE habit 11) because
the aggregates go through the (author, created_at) and (lead, -created_at) note indexes and the window is capped
at `MAX_DAYS`; the dashboard's conversation charts will read rollups instead.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Exists, F, FloatField, Func, OuterRef, Q, QuerySet, Sum
from django.db.models.aggregates import Aggregate, Avg
from django.db.models.functions import ExtractHour
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.roles import ROLE_PERMISSIONS, Perm
from core.errors import ActionError
from leads.choices import Outcome
from leads.models import Lead, LeadNote
from orders.models import Sale

DEFAULT_DAYS = 30
# A year and a day: enough for "this year vs last" questions, small enough that the live aggregate stays fast.
MAX_DAYS = 366
QUERIES = 7  # totals, notes by operator, closures by operator, speed-to-lead, by hour, outcomes, sales
OUTCOME_COLUMNS: dict[str, str] = {
    Outcome.POSITIVE: "positivo",
    Outcome.NEGATIVE: "negativo",
    Outcome.PARTIAL: "parcial",
    Outcome.UNCLASSIFIED: "no_clasificado",
}


# --- SQL helpers ------------------------------------------------------------------------------------


class ElapsedSeconds(Func):
    """`end - start` in seconds, as a float, on both supported databases."""

    output_field = FloatField()
    arity = 2

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # SQLite stores datetimes as ISO text; julianday() keeps microseconds to ~50 µs at today's dates.
        return self.as_sql(compiler, connection,
                           template="((julianday(%(expressions)s)) * 86400.0)", arg_joiner=") - julianday(",
                           **extra)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection,
                           template="CAST(EXTRACT(EPOCH FROM (%(expressions)s)) AS double precision)",
                           arg_joiner=" - ", **extra)


class _PythonMedian:
    """SQLite aggregate (registered per connection): the median of the non-null values of the group."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value: float | None) -> None:
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        return statistics.median(self.values) if self.values else None


class Median(Aggregate):
    """The median inside the GROUP BY query, so speed-to-lead stays one query on both databases.

    PostgreSQL: `percentile_cont(0.5)` (the mean of the two middle values for an even count). SQLite has no
    median, so it gets a Python aggregate function with the same definition (`statistics.median`), registered
    on the connection; it holds one float per row of the group while the query runs (one row per first
    contact of one operator in the window), never the notes themselves.
    """

    function = "PERCENTILE_CONT"
    name = "Median"
    output_field = FloatField()
    allow_distinct = False
    SQLITE_FUNCTION = "centralita_median"

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection,
                           template="PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY %(expressions)s)", **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        connection.ensure_connection()
        # Idempotent and cheap; done here so every connection (threads, the test live server) has it.
        connection.connection.create_aggregate(self.SQLITE_FUNCTION, 1, _PythonMedian)
        return self.as_sql(compiler, connection, template=f"{self.SQLITE_FUNCTION}(%(expressions)s)", **extra)


# --- filters ----------------------------------------------------------------------------------------


def report_time_zone() -> ZoneInfo:
    """Reports count days and hours in the organisation's zone, not the server's or the viewer's."""
    return ZoneInfo(settings.TIME_ZONE)


@dataclass(frozen=True)
class LeadFlowFilters:
    start: date
    end: date  # inclusive
    operator: User | None = None  # None: every operator

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=report_time_zone())

    @property
    def end_before(self) -> datetime:
        # Half-open on the next local midnight: a 23- or 25-hour DST day is still exactly one day.
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=report_time_zone())


def default_window(*, today: date | None = None) -> tuple[date, date]:
    """The last DEFAULT_DAYS days ending today (inclusive) in the report time zone."""
    today = today or timezone.localdate(timezone=report_time_zone())
    return today - timedelta(days=DEFAULT_DAYS - 1), today


def check_leadflow_filters(user: User, *, start: date | None, end: date | None,
                           operator: str | None) -> LeadFlowFilters:
    """Validates the filters and applies the viewer's scope.

    Without `reports.view_all` the operator is always the viewer, whatever `operator` says: an agent sees only
    their own numbers on the page, in the JSON and in the CSV. Raises ActionError (400) for a reversed or too
    long window or an unknown operator.
    """
    end = end or default_window()[1]
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ActionError("invalid_window", _("La fecha inicial es posterior a la final."), field="start")
    if (end - start).days + 1 > MAX_DAYS:
        raise ActionError("window_too_long", _("El período no puede superar %(days)d días.") % {"days": MAX_DAYS},
                          field="end")
    if not user.has_perm_code(Perm.REPORTS_VIEW_ALL):
        return LeadFlowFilters(start=start, end=end, operator=user)
    if not operator:
        return LeadFlowFilters(start=start, end=end)
    chosen = User.objects.filter(username=operator).first()
    if chosen is None:
        raise ActionError("unknown_operator", _("El operador «%(name)s» no existe.") % {"name": operator},
                          field="operator")
    return LeadFlowFilters(start=start, end=end, operator=chosen)


def leadflow_operators() -> list[tuple[str, str]]:
    """(username, display name) of everyone who can work leads, for the operator filter."""
    roles = [r.value for r, perms in ROLE_PERMISSIONS.items() if Perm.LEADS_WORK in perms]
    users = User.objects.filter(is_active=True, role__in=roles).order_by("full_name", "username")
    return [(u.username, u.display_name) for u in users.only("username", "full_name")[:500]]


# --- the report -------------------------------------------------------------------------------------


@dataclass
class OperatorRow:
    operator: str
    operator_name: str
    calls: int = 0
    unique_leads: int = 0
    closed: int = 0
    positivo: int = 0
    negativo: int = 0
    parcial: int = 0
    no_clasificado: int = 0
    speed_to_lead_mean_seconds: float | None = None
    speed_to_lead_median_seconds: float | None = None
    speed_to_lead_count: int = 0
    sales: int = 0
    revenue: Decimal = Decimal(0)


@dataclass(frozen=True)
class HourRow:
    hour: int
    calls: int
    sales: int = 0
    revenue: Decimal = Decimal(0)


@dataclass(frozen=True)
class OutcomeRow:
    outcome: str
    label: str
    calls: int


@dataclass(frozen=True)
class Totals:
    calls: int
    unique_leads: int
    closed: int
    sales: int = 0
    revenue: Decimal = Decimal(0)


@dataclass(frozen=True)
class LeadFlowReport:
    start: date
    end: date
    time_zone: str
    operator: str | None
    totals: Totals
    by_operator: list[OperatorRow] = field(default_factory=list)
    by_hour: list[HourRow] = field(default_factory=list)
    outcomes: list[OutcomeRow] = field(default_factory=list)


def _notes(filters: LeadFlowFilters) -> QuerySet[LeadNote]:
    qs = LeadNote.objects.filter(created_at__gte=filters.start_at, created_at__lt=filters.end_before)
    if filters.operator is not None:
        qs = qs.filter(author=filters.operator)
    return qs.order_by()  # no default ordering in GROUP BY


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


def lead_flow_report(*, filters: LeadFlowFilters) -> LeadFlowReport:
    """The whole report in `QUERIES` queries (see the module docstring for the definitions)."""
    tz = report_time_zone()
    notes = _notes(filters)
    outcome_counts = {column: Count("id", filter=Q(outcome=value)) for value, column in OUTCOME_COLUMNS.items()}

    totals = notes.aggregate(calls=Count("id"), unique_leads=Count("lead_id", distinct=True))
    rows: dict[int, OperatorRow] = {}

    def row(user_id: int, username: str, full_name: str) -> OperatorRow:
        if user_id not in rows:
            rows[user_id] = OperatorRow(operator=username, operator_name=full_name or username)
        return rows[user_id]

    # Typed loosely: the outcome columns are dynamic keyword annotations the stubs cannot follow.
    by_author = cast(Iterable[dict[str, Any]], notes.values("author_id", "author__username", "author__full_name")
                     .annotate(calls=Count("id"), unique_leads=Count("lead_id", distinct=True), **outcome_counts))
    for r in by_author:
        target = row(r["author_id"], r["author__username"], r["author__full_name"])
        target.calls, target.unique_leads = r["calls"], r["unique_leads"]
        for column in OUTCOME_COLUMNS.values():
            setattr(target, column, r[column])

    closed = Lead.objects.filter(closed_at__gte=filters.start_at, closed_at__lt=filters.end_before).order_by()
    if filters.operator is not None:
        closed = closed.filter(closed_by=filters.operator)
    closed_total = 0
    for c in closed.values("closed_by_id", "closed_by__username", "closed_by__full_name").annotate(n=Count("id")):
        closed_total += c["n"]
        if c["closed_by_id"] is not None:  # closed by a since-deleted user: in the total, on nobody's row
            row(c["closed_by_id"], c["closed_by__username"], c["closed_by__full_name"]).closed = c["n"]

    earlier = LeadNote.objects.filter(lead_id=OuterRef("lead_id")).filter(
        Q(created_at__lt=OuterRef("created_at")) | Q(created_at=OuterRef("created_at"), id__lt=OuterRef("id")))
    first_contacts = (notes.filter(~Exists(earlier))
                      .alias(seconds=ElapsedSeconds(F("created_at"), F("lead__queue_entered_at")))
                      # A lead that came back to the queue after its first note has a later arrival time; its
                      # original arrival is not kept on the lead, so it is left out rather than counted negative.
                      .filter(seconds__gte=0))
    for s in (first_contacts.values("author_id", "author__username", "author__full_name")
              .annotate(n=Count("id"), mean=Avg("seconds"), median=Median("seconds"))):
        target = row(s["author_id"], s["author__username"], s["author__full_name"])
        target.speed_to_lead_count = s["n"]
        target.speed_to_lead_mean_seconds = _seconds(s["mean"])
        target.speed_to_lead_median_seconds = _seconds(s["median"])

    per_hour = dict(notes.annotate(hour=ExtractHour("created_at", tzinfo=tz)).values("hour")
                    .annotate(n=Count("id")).values_list("hour", "n"))
    per_outcome = dict(notes.values("outcome").annotate(n=Count("id")).values_list("outcome", "n"))

    sold = Sale.objects.filter(order__lead__isnull=False, order__confirmed_at__gte=filters.start_at,
                               order__confirmed_at__lt=filters.end_before).order_by()
    if filters.operator is not None:
        sold = sold.filter(order__agent=filters.operator)
    hour_sales: dict[int, tuple[int, Decimal]] = {}
    total_sales, total_revenue = 0, Decimal(0)
    # One query by (agent, hour): an order is confirmed at one moment, so summing its hours is exact.
    for sale in (sold.annotate(hour=ExtractHour("order__confirmed_at", tzinfo=tz))
              .values("order__agent_id", "order__agent__username", "order__agent__full_name", "hour")
              .annotate(orders=Count("order_id", distinct=True), revenue=Sum("amount"))):
        revenue = sale["revenue"] or Decimal(0)
        target = row(sale["order__agent_id"], sale["order__agent__username"], sale["order__agent__full_name"])
        target.sales += sale["orders"]
        target.revenue += revenue
        n, amount = hour_sales.get(sale["hour"], (0, Decimal(0)))
        hour_sales[sale["hour"]] = (n + sale["orders"], amount + revenue)
        total_sales, total_revenue = total_sales + sale["orders"], total_revenue + revenue

    return LeadFlowReport(
        start=filters.start, end=filters.end, time_zone=settings.TIME_ZONE,
        operator=filters.operator.username if filters.operator is not None else None,
        totals=Totals(calls=totals["calls"], unique_leads=totals["unique_leads"], closed=closed_total,
                      sales=total_sales, revenue=total_revenue),
        by_operator=sorted(rows.values(), key=lambda o: (-o.calls, -o.closed, o.operator_name.lower(), o.operator)),
        by_hour=[HourRow(hour=h, calls=per_hour.get(h, 0), sales=hour_sales.get(h, (0, Decimal(0)))[0],
                         revenue=hour_sales.get(h, (0, Decimal(0)))[1]) for h in range(24)],
        outcomes=[OutcomeRow(outcome=o.value, label=str(o.label), calls=per_outcome.get(o.value, 0))
                  for o in Outcome],
    )
