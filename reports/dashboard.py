"""The performance dashboard's numbers under the pinned definitions (docs/reports.md, "Tablero").

Unfiltered views read the rollups (reports.rollups); any filter (team, inbox, channel, agent — an agent always
sees only their own conversations) aggregates the window's facts instead. Both paths produce the same rows; the
tests run each definition through both.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final

from django.conf import settings
from django.core.cache import cache
from django.db import models
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.roles import Perm
from automation.models import SlaDaily
from core.errors import ActionError, PermissionDeniedError
from inbox.choices import SUCCESSFUL_OUTCOMES, ConversationState, CustomerState
from reports import rollups
from reports.models import (
    ConversationFact,
    CustomerDay,
    CustomerFirstDay,
    DailyAgentStats,
    DailyResolved,
    DailyStats,
    MonthlyAgentStats,
    MonthlyCustomers,
    StateDelta,
)

GRANULARITIES: Final = ("day", "week", "month")
REFRESH_ON_READ: Final = 2000  # pending conversations folded in before a read; the periodic job does the rest
CACHE_SECONDS: Final = 3600
MEASURES: Final = rollups.STATS_FIELDS
CHARTS: Final = ("agent_volume", "agent_response_times", "sales_conversations", "revenue_by_agent",
                 "customer_states", "retention", "daily_activity", "sales_by_channel", "sla_compliance",
                 "sla_breaches", "kpis")
SLA_CHARTS: Final = frozenset({"sla_compliance", "sla_breaches"})
# What each role sees (seed 002): the sales director revenue and conversion, supervisors agent performance and
# response times, managers and analysts everything (analysts also export). Agents see every chart, but only
# over their own conversations (the filter is forced on the server).
ROLE_CHARTS: Final[dict[str, frozenset[str]]] = {
    "director_ventas": frozenset({"sales_conversations", "revenue_by_agent", "sales_by_channel", "customer_states",
                                  "retention", "daily_activity", "kpis"}),
    "supervisor": frozenset({"agent_volume", "agent_response_times", "daily_activity", "customer_states",
                             "sales_conversations", "sla_compliance", "sla_breaches", "kpis"}),
}


@dataclass(frozen=True)
class DashboardFilters:
    start: date
    end: date
    granularity: str = "week"
    team: int | None = None
    inbox: int | None = None
    channel: str = ""
    agent: int | None = None

    @property
    def filtered(self) -> bool:
        return bool(self.team or self.inbox or self.channel or self.agent is not None)


def default_window(today: date | None = None) -> tuple[date, date]:
    today = today or timezone.localdate()
    return today - timedelta(days=29), today


def check_dashboard_filters(user: User, *, start: date | None = None, end: date | None = None,
                            granularity: str = "week", team: int | None = None, inbox: int | None = None,
                            channel: str = "", agent: int | None = None) -> DashboardFilters:
    if not user.has_perm_code(Perm.REPORTS_VIEW):
        raise PermissionDeniedError("forbidden", _("No tiene permiso para ver el tablero."))
    default_start, default_end = default_window()
    start, end = start or default_start, end or default_end
    if start > end:
        raise ActionError("invalid_window", _("La fecha inicial es posterior a la final."), field="start")
    if (end - start).days > 3 * 366:
        raise ActionError("window_too_long", _("La ventana puede abarcar hasta tres años."), field="start")
    if granularity not in GRANULARITIES:
        raise ActionError("invalid_granularity", _("Granularidad inválida. Use: %s.") % ", ".join(GRANULARITIES),
                          field="granularity")
    if not user.has_perm_code(Perm.REPORTS_VIEW_ALL):
        agent = user.pk  # an agent's dashboard is their own, whatever they ask for
    return DashboardFilters(start=start, end=end, granularity=granularity, team=team, inbox=inbox,
                            channel=channel.strip().lower(), agent=agent)


def charts_for(user: User) -> frozenset[str]:
    return ROLE_CHARTS.get(user.role, frozenset(CHARTS))


SALES_KPI_KEYS: Final = ("sales", "revenue", "conversion_rate")


def hidden_kpis(allowed: frozenset[str]) -> frozenset[str]:
    """The sales figures among the KPIs follow the charts a role may see: revenue (money) with the revenue chart,
    the number of sales and the conversion rate with the sales-conversations chart (which shows that rate)."""
    hidden = set()
    if "revenue_by_agent" not in allowed:
        hidden.add("revenue")
    if "sales_conversations" not in allowed:
        hidden |= {"sales", "conversion_rate"}
    return frozenset(hidden)


def for_role(data: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    if "kpis" in data:
        hidden = hidden_kpis(allowed)
        data["kpis"] = {k: v for k, v in data["kpis"].items() if k not in hidden}
    return data


# --- buckets ---------------------------------------------------------------------------------------------------


def bucket_of(day: date, granularity: str) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def _next_bucket(bucket: date, granularity: str) -> date:
    if granularity == "day":
        return bucket + timedelta(days=1)
    if granularity == "week":
        return bucket + timedelta(days=7)
    return (bucket.replace(day=28) + timedelta(days=4)).replace(day=1)


def buckets(start: date, end: date, granularity: str) -> list[tuple[date, date]]:
    """(first day, last day) of every bucket overlapping the window; the first may start before `start`."""
    result = []
    bucket = bucket_of(start, granularity)
    while bucket <= end:
        following = _next_bucket(bucket, granularity)
        result.append((bucket, following - timedelta(days=1)))
        bucket = following
    return result


def months(start: date, end: date) -> list[date]:
    return [b for b, _ in buckets(start, end, "month")]


# --- helpers --------------------------------------------------------------------------------------------------


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _mean(total: int, count: int) -> float | None:
    return total / count if count else None


def _money(value: Decimal | int | None) -> str:
    return str(Decimal(value or 0).quantize(Decimal("0.01")))


def _sums(qs: QuerySet[Any], *group: str) -> list[dict[str, Any]]:
    """SUM of every measure, grouped by `group` (rollup rows or facts annotated with the same names)."""
    return list(qs.values(*group).annotate(**{m: Sum(m) for m in MEASURES}).order_by(*group))


def _fact_rows(facts: QuerySet[ConversationFact], *group: str) -> list[dict[str, Any]]:
    """Facts aggregated into the rollups' measures (annotations are prefixed: several measures share their
    name with a fact column)."""
    frs, rs = "first_response_seconds", "resolution_seconds"
    closed, no_response = Q(closed_day__isnull=False), Q(first_response_seconds__isnull=True)
    n = "conversation_id"
    measures = {
        "started": Count(n),
        "successful": Count(n, filter=Q(outcome__in=list(SUCCESSFUL_OUTCOMES))),
        "first_response_sum": Sum(frs), "first_response_count": Count(frs),
        "resolution_sum": Sum(rs), "resolution_count": Count(rs),
        "resolved_within_48h": Count(n, filter=Q(resolution_seconds__lte=rollups.WITHIN_48H)),
        "reply_sum": Sum("reply_seconds_sum"), "reply_count": Sum("reply_count"),
        "closed": Count(n, filter=closed),
        "closed_with_sale": Count(n, filter=closed & Q(sales__gt=0)),
        "closed_without_response": Count(n, filter=closed & no_response),
        "open_without_response": Count(n, filter=~closed & no_response),
        "sales": Sum("sales"), "revenue": Sum("revenue"),
    }
    grouped = facts.values(*group).annotate(**{f"m_{k}": v for k, v in measures.items()}).order_by(*group)
    return [{**{g: row[g] for g in group}, **{k: row[f"m_{k}"] or 0 for k in measures}} for row in grouped]


def _window_facts(f: DashboardFilters) -> QuerySet[ConversationFact]:
    return _narrowed(ConversationFact.objects.all(), f, team="team_id")


def _narrowed[M: models.Model](qs: QuerySet[M], f: DashboardFilters, *, team: str) -> QuerySet[M]:
    """The filters' narrowing of any table keyed by inbox, channel and agent (`team`: how it reaches a team)."""
    if f.team:
        qs = qs.filter(**{team: f.team})
    if f.inbox:
        qs = qs.filter(inbox_id=f.inbox)
    if f.channel:
        qs = qs.filter(channel=f.channel)
    if f.agent is not None:
        qs = qs.filter(agent_id=f.agent)
    return qs


def _agent_names(ids: Iterable[int]) -> dict[int, str]:
    return {u.pk: u.display_name for u in User.objects.filter(pk__in=[i for i in ids if i])}


# --- the dashboard --------------------------------------------------------------------------------------------


def dashboard(f: DashboardFilters, *, charts: Iterable[str] = CHARTS) -> dict[str, Any]:
    """Every chart's rows for the window. Pending changes are folded in first, so the numbers are current; an
    answer is cached under the rollups' version, so a repeated question costs one query until anything changes
    (and "today" is part of the key: the default window and the horizon move at midnight)."""
    rollups.refresh(limit=REFRESH_ON_READ)
    wanted = sorted(set(charts))
    key = "dashboard:" + hashlib.sha256(repr((rollups.current_version(), timezone.localdate(), f, wanted,
                                              settings.TIME_ZONE, get_language())).encode()).hexdigest()
    cached: dict[str, Any] | None = cache.get(key)
    if cached is None:
        cached = _compute(f, set(wanted) - SLA_CHARTS)
        cache.set(key, cached, timeout=CACHE_SECONDS)
    if SLA_CHARTS & set(wanted):
        # Service levels count when a target is decided (automation.SlaDaily, kept in the deciding transaction),
        # not through the rollups' version: read fresh, one grouped query over the window's days.
        cached = {**cached, **_sla_charts(f, set(wanted))}
    return cached


def _sla_charts(f: DashboardFilters, wanted: set[str]) -> dict[str, Any]:
    # a team: its agents' conversations (a service-level count knows its agent, not the team it was worked in)
    qs = _narrowed(SlaDaily.objects.filter(day__gte=f.start, day__lte=f.end), f, team="agent__teams")
    rows = list(qs.values("day", "channel", "agent_id", "target").annotate(met=Sum("met"), late=Sum("breached"))
                .order_by())
    out: dict[str, Any] = {}
    if "sla_compliance" in wanted:
        met: Counter[tuple[date, str]] = Counter()
        late: Counter[tuple[date, str]] = Counter()
        for r in rows:
            if r["target"] == "first_response":
                key = (bucket_of(r["day"], f.granularity), r["channel"])
                met[key] += r["met"] or 0
                late[key] += r["late"] or 0
        out["sla_compliance"] = [
            {"bucket": b.isoformat(), "channel": ch, "met": met[(b, ch)], "breached": late[(b, ch)],
             "compliance_rate": _rate(met[(b, ch)], met[(b, ch)] + late[(b, ch)])}
            for b, ch in sorted(set(met) | set(late))]
    if "sla_breaches" in wanted:
        per_agent: dict[int, Counter[str]] = defaultdict(Counter)
        for r in rows:
            if r["agent_id"] and r["late"]:
                per_agent[r["agent_id"]][r["target"]] += r["late"]
        names = _agent_names(per_agent)
        out["sla_breaches"] = sorted(
            ({"agent_id": agent, "agent_name": names.get(agent, ""),
              **{t: counts[t] for t in ("first_response", "next_response", "resolution", "escalation")},
              "total": sum(counts.values())} for agent, counts in per_agent.items()),
            key=lambda r: (-r["total"], r["agent_name"]))
    return out


def _compute(f: DashboardFilters, wanted: set[str]) -> dict[str, Any]:
    window = Q(day__gte=f.start, day__lte=f.end)
    if f.filtered:
        facts = _window_facts(f)
        in_window = facts.filter(start_day__gte=f.start, start_day__lte=f.end)
        per_agent = _fact_rows(in_window, "agent_id")
        per_day_channel = _fact_rows(in_window, "start_day", "channel")
        for row in per_day_channel:
            row["day"] = row.pop("start_day")
        resolved_days: Counter[date] = Counter()
        for day, n in (facts.filter(state=ConversationState.RESOLVED, closed_day__gte=f.start, closed_day__lte=f.end)
                       .values("closed_day").annotate(n=Count("conversation_id")).values_list("closed_day", "n")):
            if day is not None:
                resolved_days[day] += n
    else:
        per_agent = _agent_sums(f)
        per_day_channel = _sums(DailyStats.objects.filter(window), "day", "channel")
        resolved_days = Counter(dict(DailyResolved.objects.filter(window).values_list("day", "resolved")))
    per_agent = [r for r in per_agent if r["agent_id"] and r["started"]]
    names = _agent_names(r["agent_id"] for r in per_agent)
    per_agent.sort(key=lambda r: (names.get(r["agent_id"], ""), r["agent_id"]))
    totals: Counter[str] = Counter()
    for row in per_day_channel:
        for m in MEASURES:
            totals[m] += row[m] or 0
    spans = buckets(f.start, f.end, f.granularity)
    result: dict[str, Any] = {"start": f.start.isoformat(), "end": f.end.isoformat(), "granularity": f.granularity,
                              "time_zone": settings.TIME_ZONE}
    if "agent_volume" in wanted:
        result["agent_volume"] = [
            {"agent_id": r["agent_id"], "agent_name": names.get(r["agent_id"], ""), "conversations": r["started"],
             "successful": r["successful"], "success_rate": _rate(r["successful"], r["started"])} for r in per_agent]
    if "agent_response_times" in wanted:
        result["agent_response_times"] = [
            {"agent_id": r["agent_id"], "agent_name": names.get(r["agent_id"], ""),
             "avg_first_response_seconds": _mean(r["first_response_sum"] or 0, r["first_response_count"]),
             "avg_resolution_seconds": _mean(r["resolution_sum"] or 0, r["resolution_count"])} for r in per_agent]
    if "sales_conversations" in wanted:
        result["sales_conversations"] = {
            "closed": totals["closed"], "with_sale": totals["closed_with_sale"],
            "without_sale": totals["closed"] - totals["closed_with_sale"],
            "conversion_rate": _rate(totals["closed_with_sale"], totals["closed"])}
    if "revenue_by_agent" in wanted:
        result["revenue_by_agent"] = [
            {"agent_id": r["agent_id"], "agent_name": names.get(r["agent_id"], ""), "revenue": _money(r["revenue"])}
            for r in per_agent]
    if "customer_states" in wanted:
        result["customer_states"] = _customer_states(f, spans)
    if "retention" in wanted:
        result["retention"] = _retention(f)
    if "daily_activity" in wanted:
        started: Counter[date] = Counter()
        resolved: Counter[date] = Counter()
        for row in per_day_channel:
            started[bucket_of(row["day"], f.granularity)] += row["started"]
        for day, n in resolved_days.items():
            resolved[bucket_of(day, f.granularity)] += n
        result["daily_activity"] = [{"bucket": b.isoformat(), "started": started[b], "resolved": resolved[b]}
                                    for b, _ in spans]
    if "sales_by_channel" in wanted:
        sales: Counter[tuple[date, str]] = Counter()
        for row in per_day_channel:
            if row["sales"]:
                sales[(bucket_of(row["day"], f.granularity), row["channel"])] += row["sales"]
        result["sales_by_channel"] = [{"bucket": b.isoformat(), "channel": ch, "sales": n}
                                      for (b, ch), n in sorted(sales.items()) if n]
    if "kpis" in wanted:
        result["kpis"] = {
            "avg_first_response_seconds": _mean(totals["first_response_sum"], totals["first_response_count"]),
            "avg_reply_seconds": _mean(totals["reply_sum"], totals["reply_count"]),
            "unanswered_open": totals["open_without_response"],
            "closed_without_response": totals["closed_without_response"],
            "avg_resolution_seconds": _mean(totals["resolution_sum"], totals["resolution_count"]),
            "resolved_within_48h_rate": _rate(totals["resolved_within_48h"], totals["resolution_count"]),
            "sales": totals["sales"],
            "revenue": _money(totals["revenue"]),
            "conversion_rate": _rate(totals["closed_with_sale"], totals["closed"]),
        }
    return result


def _agent_sums(f: DashboardFilters) -> list[dict[str, Any]]:
    """Per-agent sums over the window: whole months from MonthlyAgentStats, the cut months at the edges from
    DailyAgentStats (a two-year window reads ~24 rows per agent, not ~730)."""
    full = [m for m in months(f.start, f.end) if m >= f.start and _next_bucket(m, "month") - timedelta(days=1) <= f.end]
    parts: list[dict[str, Any]] = []
    if full:
        full_stop = _next_bucket(full[-1], "month")  # the day after the last whole month
        parts += _sums(MonthlyAgentStats.objects.filter(day__gte=full[0], day__lte=full[-1]), "agent_id")
        edges = Q(day__gte=f.start, day__lt=full[0]) | Q(day__gte=full_stop, day__lte=f.end)
    else:
        edges = Q(day__gte=f.start, day__lte=f.end)
    parts += _sums(DailyAgentStats.objects.filter(edges), "agent_id")
    merged: dict[int, dict[str, Any]] = {}
    for row in parts:
        into = merged.setdefault(row["agent_id"], {"agent_id": row["agent_id"], **dict.fromkeys(MEASURES, 0)})
        for m in MEASURES:
            into[m] += row[m] or 0
    return list(merged.values())


def _customer_states(f: DashboardFilters, spans: list[tuple[date, date]]) -> list[dict[str, Any]]:
    """Customers by the state of their latest stated conversation started on or before min(bucket end, end)."""
    cutoffs = [min(last, f.end) for _first, last in spans]
    counts: dict[date, Counter[str]] = {}
    if not f.filtered:
        changes: dict[date, Counter[str]] = defaultdict(Counter)
        for day, state, delta in StateDelta.objects.filter(day__lte=f.end).values_list("day", "state", "delta"):
            changes[day][state] += delta
        running: Counter[str] = Counter()
        days = sorted(changes)
        i = 0
        for cutoff in cutoffs:
            while i < len(days) and days[i] <= cutoff:
                running.update(changes[days[i]])
                i += 1
            counts[cutoff] = Counter(running)
    else:
        stated = (_window_facts(f).exclude(customer_state="").filter(start_day__lte=f.end)
                  .order_by("customer_id", "started_at", "conversation_id")
                  .values_list("customer_id", "start_day", "customer_state"))
        per_customer: dict[int, list[tuple[date, str]]] = defaultdict(list)
        for customer_id, day, state in stated.iterator(10000):
            per_customer[customer_id].append((day, state))
        for cutoff in cutoffs:
            tally: Counter[str] = Counter()
            for history in per_customer.values():
                latest = None
                for day, state in history:
                    if day > cutoff:
                        break
                    latest = state
                if latest:
                    tally[latest] += 1
            counts[cutoff] = tally
    return [{"bucket": first.isoformat(), **{s.value: counts[cutoff][s.value] for s in CustomerState}}
            for (first, _last), cutoff in zip(spans, cutoffs, strict=True)]


def _retention(f: DashboardFilters) -> list[dict[str, Any]]:
    """Per calendar month touching the window: active, new (first conversation ever that month), returning."""
    rows = []
    full = {}
    if not f.filtered:
        full = {m: (a, n) for m, a, n in MonthlyCustomers.objects.filter(month__gte=f.start.replace(day=1),
                                                                           month__lte=f.end)
                .values_list("month", "active", "new")}
    for month in months(f.start, f.end):
        month_end = _next_bucket(month, "month") - timedelta(days=1)
        lo, hi = max(month, f.start), min(month_end, f.end)
        if not f.filtered and lo == month and hi == month_end:
            active, new = full.get(month, (0, 0))
        else:
            active, new = _partial_month(f, lo, hi, month, month_end)
        rows.append({"month": month.strftime("%Y-%m"), "active": active, "new": new, "returning": active - new,
                     "returning_rate": _rate(active - new, active)})
    return rows


def _partial_month(f: DashboardFilters, lo: date, hi: date, month: date, month_end: date) -> tuple[int, int]:
    """A month cut by the window's edge, or any month of a filtered view. "New" is about the customer, not the
    filter: their first conversation ever (inside the horizon) is in this month, whoever handled it."""
    active_qs: Any
    if f.filtered:
        active_qs = (_window_facts(f).filter(start_day__gte=lo, start_day__lte=hi).values("customer_id")
                     .distinct())
    else:
        active_qs = CustomerDay.objects.filter(day__gte=lo, day__lte=hi).values("customer_id").distinct()
    active = active_qs.count()
    new = CustomerFirstDay.objects.filter(day__gte=month, day__lte=month_end, customer_id__in=active_qs).count()
    return active, new

