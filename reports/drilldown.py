"""The conversations behind one data point of the dashboard, and the per-conversation export.

Every point is read from ConversationFact (the same snapshot the rollups are sums of) with exactly the definition
of that point in reports/dashboard.py, inside the same filters (`DashboardFilters`: team, inbox, channel and —
for users without reports.view_all — the caller as agent). So the number of rows behind a bar is the bar.

Points that count customers rather than conversations (customer_states, retention) list one conversation per
customer: for customer_states the customer's latest stated conversation up to the bucket's cut-off (the one whose
state is counted); for retention the customer's latest conversation of the month (inside the window).
sales_by_channel counts sale rows: its conversations carry their `sales`, whose sum is the bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils.translation import gettext as _

from accounts.models import User
from core.errors import ActionError
from customers.models import Customer
from inbox.choices import SUCCESSFUL_OUTCOMES, ConversationOutcome, ConversationState, CustomerState
from inbox.models import Conversation
from reports.dashboard import DashboardFilters, _window_facts, bucket_of, buckets
from reports.models import ConversationFact, CustomerFirstDay

PAGE_SIZE: Final = 50

# chart → the series a point of it may name (the first is the default)
SERIES: Final[dict[str, tuple[str, ...]]] = {
    "agent_volume": ("conversations", "successful"),
    "agent_response_times": ("first_response", "resolution"),
    "sales_conversations": ("closed", "with_sale", "without_sale"),
    "revenue_by_agent": ("revenue",),
    "customer_states": tuple(CustomerState.values),
    "retention": ("active", "new", "returning"),
    "daily_activity": ("started", "resolved"),
    "sales_by_channel": ("sales",),
    "kpis": ("unanswered_open", "closed_without_response", "first_response", "resolution"),
}
PER_AGENT: Final = frozenset({"agent_volume", "agent_response_times", "revenue_by_agent"})
PER_BUCKET: Final = frozenset({"customer_states", "retention", "daily_activity", "sales_by_channel"})


@dataclass(frozen=True)
class DrillPoint:
    chart: str
    series: str
    bucket: date | None = None  # first day of the bucket (retention: of the month)
    agent_id: int | None = None


def check_drill_point(filters: DashboardFilters, allowed: frozenset[str], *, chart: str, series: str = "",
                      bucket: date | None = None, agent_id: int | None = None) -> DrillPoint:
    """Validates a point of a chart the caller may see."""
    if chart not in allowed or chart not in SERIES:
        raise ActionError("invalid_chart", _("Indique un gráfico: %s.") % ", ".join(sorted(allowed & set(SERIES))),
                          field="chart")
    series = series or SERIES[chart][0]
    if series not in SERIES[chart]:
        raise ActionError("invalid_series", _("Serie inválida para %(chart)s. Use: %(ok)s.") % {
            "chart": chart, "ok": ", ".join(SERIES[chart])}, field="series")
    if chart in PER_AGENT and agent_id is None:
        raise ActionError("missing_agent", _("Indique el agente (agent_id)."), field="agent_id")
    if chart in PER_BUCKET:
        if bucket is None:
            raise ActionError("missing_bucket", _("Indique el intervalo (bucket, AAAA-MM-DD)."), field="bucket")
        bucket = bucket_of(bucket, "month" if chart == "retention" else filters.granularity)
        if bucket > filters.end or _bucket_last(bucket, chart, filters) < filters.start:
            raise ActionError("invalid_bucket", _("El intervalo está fuera del período."), field="bucket")
    return DrillPoint(chart=chart, series=series, bucket=bucket if chart in PER_BUCKET else None,
                      agent_id=agent_id if chart in PER_AGENT else None)


def _bucket_last(first: date, chart: str, f: DashboardFilters) -> date:
    granularity = "month" if chart == "retention" else f.granularity
    span = buckets(first, first, granularity)
    return span[0][1]


def _clip(first: date, last: date, f: DashboardFilters) -> tuple[date, date]:
    return max(first, f.start), min(last, f.end)


def _latest_per_customer(qs: QuerySet[ConversationFact]) -> QuerySet[ConversationFact]:
    """The facts of `qs` with no later fact of the same customer in `qs` (later = started_at, then id)."""
    later = qs.filter(customer_id=OuterRef("customer_id")).filter(
        Q(started_at__gt=OuterRef("started_at"))
        | Q(started_at=OuterRef("started_at"), conversation_id__gt=OuterRef("conversation_id")))
    return qs.filter(~Exists(later))


_CLOSED: Final = Q(closed_day__isnull=False)
_NO_RESPONSE: Final = Q(first_response_seconds__isnull=True)
# charts over the window (no bucket): the condition of each series on the window's facts (none: all of them)
_SERIES_WHERE: Final[dict[str, dict[str, Q]]] = {
    "agent_volume": {"successful": Q(outcome__in=list(SUCCESSFUL_OUTCOMES))},
    "agent_response_times": {"first_response": ~_NO_RESPONSE, "resolution": Q(resolution_seconds__isnull=False)},
    "sales_conversations": {"closed": _CLOSED, "with_sale": _CLOSED & Q(sales__gt=0),
                            "without_sale": _CLOSED & Q(sales=0)},
    "revenue_by_agent": {"revenue": Q(sales__gt=0)},
    "kpis": {"unanswered_open": ~_CLOSED & _NO_RESPONSE, "closed_without_response": _CLOSED & _NO_RESPONSE,
             "first_response": ~_NO_RESPONSE, "resolution": Q(resolution_seconds__isnull=False)},
}


def point_facts(f: DashboardFilters, p: DrillPoint) -> QuerySet[ConversationFact]:
    """The facts behind the point (unordered)."""
    scope = _window_facts(f)
    if p.bucket is None:
        qs = scope.filter(start_day__gte=f.start, start_day__lte=f.end)
        if p.agent_id is not None:
            qs = qs.filter(agent_id=p.agent_id)
        return qs.filter(_SERIES_WHERE[p.chart].get(p.series, Q()))
    lo, hi = _clip(p.bucket, _bucket_last(p.bucket, p.chart, f), f)
    if p.chart == "daily_activity" and p.series == "resolved":
        return scope.filter(state=ConversationState.RESOLVED, closed_day__gte=lo, closed_day__lte=hi)
    if p.chart in {"daily_activity", "sales_by_channel"}:
        started = scope.filter(start_day__gte=lo, start_day__lte=hi)
        return started.filter(sales__gt=0) if p.chart == "sales_by_channel" else started
    if p.chart == "customer_states":
        stated = scope.exclude(customer_state="").filter(start_day__lte=hi)
        return _latest_per_customer(stated).filter(customer_state=p.series)
    return _retention_facts(scope, p.bucket, lo, hi, p.series)


def _retention_facts(scope: QuerySet[ConversationFact], month: date, lo: date, hi: date,
                     series: str) -> QuerySet[ConversationFact]:
    """Customers active in the month ∩ window (their latest conversation there); "new" = first conversation ever
    (in the horizon) that month, whoever handled it; returning = the others."""
    active = _latest_per_customer(scope.filter(start_day__gte=lo, start_day__lte=hi))
    month_last = buckets(month, month, "month")[0][1]
    first_here = CustomerFirstDay.objects.filter(day__gte=month, day__lte=month_last).values("customer_id")
    if series == "new":
        return active.filter(customer_id__in=first_here)
    if series == "returning":
        return active.exclude(customer_id__in=first_here)
    return active


# --- rows -----------------------------------------------------------------------------------------------------

_STATE_LABELS = dict(ConversationState.choices)
_OUTCOME_LABELS = dict(ConversationOutcome.choices)


def _names(qs: QuerySet[ConversationFact]) -> QuerySet[ConversationFact]:
    return qs.annotate(
        customer_name=Subquery(Customer.objects.filter(pk=OuterRef("customer_id")).values("name")[:1]),
        agent_full_name=Subquery(User.objects.filter(pk=OuterRef("agent_id")).values("full_name")[:1]),
        agent_username=Subquery(User.objects.filter(pk=OuterRef("agent_id")).values("username")[:1]),
    )


_DRILL_FIELDS: Final = ("conversation_id", "customer_id", "customer_name", "agent_id", "agent_full_name",
                        "agent_username", "channel", "state", "outcome", "started_at", "sales", "revenue")


def drill_page(f: DashboardFilters, p: DrillPoint, *, page: int = 1, revenue: bool = True) -> dict[str, Any]:
    """One page (PAGE_SIZE rows, most recent first) of the conversations behind the point, and their count."""
    qs = point_facts(f, p)
    count = qs.count()
    pages = max(1, -(-count // PAGE_SIZE))
    offset = (page - 1) * PAGE_SIZE
    facts = list(_names(qs).order_by("-started_at", "-conversation_id")[offset:offset + PAGE_SIZE]
                 .values(*_DRILL_FIELDS))
    closed_at = dict(Conversation.objects.filter(pk__in=[r["conversation_id"] for r in facts])
                     .values_list("pk", "closed_at"))
    rows = [{
        "conversation_id": r["conversation_id"], "customer_id": r["customer_id"],
        "customer_name": r["customer_name"] or "", "agent_id": r["agent_id"] or None,
        "agent_name": r["agent_full_name"] or r["agent_username"] or "", "channel": r["channel"],
        "state": r["state"], "state_label": str(_STATE_LABELS.get(r["state"], r["state"])),
        "outcome": r["outcome"], "outcome_label": str(_OUTCOME_LABELS.get(r["outcome"], r["outcome"])),
        "started_at": r["started_at"], "closed_at": closed_at.get(r["conversation_id"]),
        "sales": r["sales"], "revenue": str(r["revenue"]) if revenue else None,
    } for r in facts]
    return {"chart": p.chart, "series": p.series, "bucket": p.bucket, "agent_id": p.agent_id, "count": count,
            "page": page, "pages": pages, "page_size": PAGE_SIZE, "results": rows}
