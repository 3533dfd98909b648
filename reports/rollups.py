"""Keeping the dashboard's rollups exact: facts in, differences applied.

Every rollup row is a sum over facts. When a conversation changes, its old fact's contribution is subtracted and
the new one's added (`Delta`), so the rollups stay exactly equal to a recount without ever recounting. Customer-
level figures (first day, active months, state trail) are recomputed per touched customer from the customer's
own rows. `rebuild_all` recounts everything from scratch (after a bulk import, or to verify).

One refresher at a time: every writer of rollups first locks the HorizonMark row (SELECT … FOR UPDATE on
PostgreSQL; SQLite's IMMEDIATE transactions already serialize writers).
"""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from core.bulk import bulk_insert
from inbox.choices import SUCCESSFUL_OUTCOMES, ConversationState
from inbox.models import Conversation
from reports.facts import Fact, compute_facts
from reports.models import (
    ConversationFact,
    CustomerDay,
    CustomerFirstDay,
    CustomerMonth,
    CustomerStateTrail,
    DailyAgentStats,
    DailyResolved,
    DailyStats,
    DirtyConversation,
    HorizonMark,
    MonthlyAgentStats,
    MonthlyCustomers,
    StateDelta,
)

WITHIN_48H = 48 * 3600
STATS_FIELDS = ("started", "successful", "first_response_sum", "first_response_count", "resolution_sum",
                "resolution_count", "resolved_within_48h", "reply_sum", "reply_count", "closed", "closed_with_sale",
                "closed_without_response", "open_without_response", "sales", "revenue")


def horizon_start(today: date | None = None) -> date:
    """The first day inside the two-year horizon: the same calendar date two years ago (29 Feb → 28 Feb)."""
    today = today or timezone.localdate()
    try:
        return today.replace(year=today.year - 2)
    except ValueError:
        return today.replace(year=today.year - 2, day=28)


def month_of(day: date) -> date:
    return day.replace(day=1)


def stats_contribution(f: Fact) -> dict[str, Any]:
    closed = f.closed_day is not None
    no_response = f.first_response_seconds is None
    rs = f.resolution_seconds
    return {
        "started": 1,
        "successful": int(f.outcome in SUCCESSFUL_OUTCOMES),
        "first_response_sum": f.first_response_seconds or 0,
        "first_response_count": int(f.first_response_seconds is not None),
        "resolution_sum": rs or 0,
        "resolution_count": int(rs is not None),
        "resolved_within_48h": int(rs is not None and rs <= WITHIN_48H),
        "reply_sum": f.reply_seconds_sum,
        "reply_count": f.reply_count,
        "closed": int(closed),
        "closed_with_sale": int(closed and f.sales > 0),
        "closed_without_response": int(closed and no_response),
        "open_without_response": int(not closed and no_response),
        "sales": f.sales,
        "revenue": f.revenue,
    }


@dataclass
class Delta:
    """Differences to apply to the rollups, accumulated over a batch of changed facts."""

    by_channel: dict[tuple[date, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_agent: dict[tuple[date, int], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_agent_month: dict[tuple[date, int], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    resolved: Counter[date] = field(default_factory=Counter)
    customer_days: Counter[tuple[int, date]] = field(default_factory=Counter)
    customers: set[int] = field(default_factory=set)

    def add(self, f: Fact, sign: int) -> None:
        contribution = stats_contribution(f)
        for row in (self.by_channel[(f.start_day, f.channel)], self.by_agent[(f.start_day, f.agent_id)],
                    self.by_agent_month[(month_of(f.start_day), f.agent_id)]):
            for name, value in contribution.items():
                row[name] += sign * value
        if f.state == ConversationState.RESOLVED and f.closed_day is not None:
            self.resolved[f.closed_day] += sign
        self.customer_days[(f.customer_id, f.start_day)] += sign
        self.customers.add(f.customer_id)

    def apply(self) -> None:
        for (day, channel), values in self.by_channel.items():
            _increment(DailyStats, {"day": day, "channel": channel}, {k: v for k, v in values.items() if v})
        for (day, agent_id), values in self.by_agent.items():
            _increment(DailyAgentStats, {"day": day, "agent_id": agent_id}, {k: v for k, v in values.items() if v})
        for (month, agent_id), values in self.by_agent_month.items():
            _increment(MonthlyAgentStats, {"day": month, "agent_id": agent_id},
                       {k: v for k, v in values.items() if v})
        for day, value in self.resolved.items():
            if value:
                _increment(DailyResolved, {"day": day}, {"resolved": value})
        emptied = Q()
        for (customer_id, day), value in self.customer_days.items():
            if value:
                _increment(CustomerDay, {"customer_id": customer_id, "day": day}, {"conversations": value})
            if value < 0:
                emptied |= Q(customer_id=customer_id, day=day)
        if emptied:
            CustomerDay.objects.filter(emptied, conversations__lte=0).delete()
        refresh_customers(self.customers)


def _increment(model: type[models.Model], key: dict[str, Any], values: dict[str, Any]) -> None:
    if not values:
        return
    updated = model._default_manager.filter(**key).update(**{k: F(k) + v for k, v in values.items()})
    if not updated:
        model._default_manager.create(**key, **values)


# --- customers: first day, months, state trail ------------------------------------------------------------


def _trail(states: list[tuple[date, str]]) -> list[tuple[str, str, int]]:
    """A customer's stated conversations in start order → the days their current state begins and ends."""
    deltas: list[tuple[str, str, int]] = []
    for i, (day, state) in enumerate(states):
        deltas.append((day.isoformat(), state, 1))
        if i + 1 < len(states):
            deltas.append((states[i + 1][0].isoformat(), state, -1))
    return deltas


def refresh_customers(customer_ids: Iterable[int]) -> None:
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), 500):
        _refresh_customers(ids[start:start + 500])


def _refresh_customers(ids: list[int]) -> None:
    days: dict[int, list[date]] = defaultdict(list)
    for customer_id, day in CustomerDay.objects.filter(customer_id__in=ids).values_list("customer_id", "day"):
        days[customer_id].append(day)
    old_first = dict(CustomerFirstDay.objects.filter(customer_id__in=ids).values_list("customer_id", "day"))
    old_months: dict[int, set[date]] = defaultdict(set)
    for customer_id, month in CustomerMonth.objects.filter(customer_id__in=ids).values_list("customer_id", "month"):
        old_months[customer_id].add(month)
    monthly: dict[date, Counter[str]] = defaultdict(Counter)
    first_rows, first_gone, month_rows, month_gone = [], [], [], []
    for customer_id in ids:
        new_first = min(days[customer_id]) if days[customer_id] else None
        previous = old_first.get(customer_id)
        if previous != new_first:
            if previous is not None:
                monthly[month_of(previous)]["new"] -= 1
                first_gone.append(customer_id)
            if new_first is not None:
                monthly[month_of(new_first)]["new"] += 1
                first_rows.append(CustomerFirstDay(customer_id=customer_id, day=new_first))
        months = {month_of(d) for d in days[customer_id]}
        for month in months - old_months[customer_id]:
            monthly[month]["active"] += 1
            month_rows.append(CustomerMonth(customer_id=customer_id, month=month))
        for month in old_months[customer_id] - months:
            monthly[month]["active"] -= 1
            month_gone.append((customer_id, month))
    CustomerFirstDay.objects.filter(customer_id__in=first_gone).delete()
    CustomerFirstDay.objects.bulk_create(first_rows)
    if month_gone:
        gone = Q()
        for customer_id, month in month_gone:
            gone |= Q(customer_id=customer_id, month=month)
        CustomerMonth.objects.filter(gone).delete()
    CustomerMonth.objects.bulk_create(month_rows)
    for month, values in monthly.items():
        _increment(MonthlyCustomers, {"month": month}, {k: v for k, v in values.items() if v})

    # State trail: the customer's stated conversations in start order (ties by id, as "latest" is by started_at).
    stated: dict[int, list[tuple[date, str]]] = defaultdict(list)
    for customer_id, day, state in (ConversationFact.objects.filter(customer_id__in=ids).exclude(customer_state="")
                                    .order_by("customer_id", "started_at", "conversation_id")
                                    .values_list("customer_id", "start_day", "customer_state")):
        stated[customer_id].append((day, state))
    old_trails = dict(CustomerStateTrail.objects.filter(customer_id__in=ids).values_list("customer_id", "deltas"))
    changes: Counter[tuple[str, str]] = Counter()
    new_trails = []
    for customer_id in ids:
        new = _trail(stated[customer_id])
        old = [tuple(d) for d in old_trails.get(customer_id, [])]
        if new == old:
            continue
        for day_s, state, sign in old:
            changes[(day_s, state)] -= sign
        for day_s, state, sign in new:
            changes[(day_s, state)] += sign
        new_trails.append(CustomerStateTrail(customer_id=customer_id, deltas=[list(d) for d in new]))
    CustomerStateTrail.objects.filter(customer_id__in=[t.customer_id for t in new_trails]).delete()
    CustomerStateTrail.objects.bulk_create([t for t in new_trails if t.deltas])
    for (day_s, state), value in changes.items():
        if value:
            _increment(StateDelta, {"day": date.fromisoformat(day_s), "state": state}, {"delta": value})


# --- the refresher ------------------------------------------------------------------------------------------


def _lock() -> HorizonMark:
    mark = HorizonMark.objects.select_for_update().filter(pk=1).first()
    if mark is None:
        # a random first version: a restored or recreated database never reuses an old cache key
        HorizonMark.objects.get_or_create(pk=1, defaults={"first_day": horizon_start(),
                                                          "version": secrets.randbits(48)})
        mark = HorizonMark.objects.select_for_update().get(pk=1)
    return mark


def _save_facts(changed: dict[int, Fact | None]) -> None:
    ConversationFact.objects.filter(conversation_id__in=list(changed)).delete()
    ConversationFact.objects.bulk_create([ConversationFact(**f.as_row()) for f in changed.values() if f], 2000)


def _apply_changes(old: dict[int, Fact], new: dict[int, Fact | None]) -> int:
    delta = Delta()
    changed: dict[int, Fact | None] = {}
    for cid, fact in new.items():
        before = old.get(cid)
        if before == fact:
            continue
        if before is not None:
            delta.add(before, -1)
        if fact is not None:
            delta.add(fact, +1)
        changed[cid] = fact
    _save_facts(changed)
    delta.apply()
    return len(changed)


def _old_facts(ids: list[int]) -> dict[int, Fact]:
    return {row["conversation_id"]: Fact.from_row(row)
            for row in ConversationFact.objects.filter(conversation_id__in=ids).values()}


def _bump(mark: HorizonMark) -> None:
    mark.version += 1
    mark.save(update_fields=["version"])


def _trim_horizon(mark: HorizonMark) -> None:
    """Facts that fell out of the two-year horizon leave every rollup (as a difference, like any change)."""
    first_day = horizon_start()
    if mark.first_day >= first_day:
        return
    _bump(mark)
    while True:
        ids = list(ConversationFact.objects.filter(start_day__lt=first_day)
                   .values_list("conversation_id", flat=True)[:5000])
        if not ids:
            break
        _apply_changes(_old_facts(ids), dict.fromkeys(ids))
    mark.first_day = first_day
    mark.save(update_fields=["first_day"])


def current_version() -> int:
    """The rollups' version; changes whenever any rollup row does (a cache key for dashboard answers)."""
    return HorizonMark.objects.filter(pk=1).values_list("version", flat=True).first() or 0


def refresh(*, limit: int = 5000) -> int:
    """Folds up to `limit` dirty conversations into the rollups (and trims the horizon when the day changed).
    Returns how many were processed; safe to call from any process at any time. With nothing to do it only
    reads (no write lock), so every dashboard request can call it."""
    mark_now = HorizonMark.objects.filter(pk=1).values_list("first_day", flat=True).first()
    if mark_now is not None and mark_now >= horizon_start() and not DirtyConversation.objects.exists():
        return 0
    with transaction.atomic():
        mark = _lock()
        _trim_horizon(mark)
        dirty = list(DirtyConversation.objects.order_by("marked_at").values_list("conversation_id", "marked_at")
                     [:limit])
        if not dirty:
            return 0
        ids = [cid for cid, _ in dirty]
        if _apply_changes(_old_facts(ids), compute_facts(ids, horizon=mark.first_day)):
            _bump(mark)
        for start in range(0, len(dirty), 300):
            seen = Q()
            for cid, marked_at in dirty[start:start + 300]:
                seen |= Q(conversation_id=cid, marked_at=marked_at)
            DirtyConversation.objects.filter(seen).delete()
        forget_marks()
    return len(dirty)


def refresh_all_dirty() -> int:
    total = 0
    while (done := refresh()) > 0:
        total += done
    return total


def mark_dirty(conversation_ids: Iterable[int]) -> None:
    now = timezone.now()
    rows = [DirtyConversation(conversation_id=cid, marked_at=now) for cid in set(conversation_ids) if cid]
    if rows:
        DirtyConversation.objects.bulk_create(rows, update_conflicts=True, unique_fields=["conversation_id"],
                                              update_fields=["marked_at"])


class _Marked:
    """A no-op on-commit callback standing for "this conversation was marked in this transaction". Django drops the
    callbacks of a savepoint that rolls back, so while it is still queued the mark is too."""

    def __init__(self, marks: dict[int, Any], conversation_id: int) -> None:
        self.marks, self.conversation_id = marks, conversation_id

    def __call__(self) -> None:
        if self.marks.get(self.conversation_id) is self:
            del self.marks[self.conversation_id]


def mark_once(conversation_id: int) -> None:
    """Marks the conversation once per transaction: a create emits conversation.created and message.received, a reply
    message.sent and one or two state changes — one upsert is enough, as the mark commits with all of them."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        mark_dirty([conversation_id])
        return
    marks: dict[int, _Marked] = connection.__dict__.setdefault("reports_marks", {})
    queued = marks.get(conversation_id)
    if queued is not None and any(entry[1] is queued for entry in connection.run_on_commit):
        return
    if len(marks) > 10_000:  # marks of rolled-back transactions never ran their callback
        marks.clear()
    mark_dirty([conversation_id])
    marks[conversation_id] = _Marked(marks, conversation_id)
    transaction.on_commit(marks[conversation_id])


def forget_marks() -> None:
    """This connection's "already marked in this transaction" memory, dropped whenever marks are deleted (a refresh
    or a rebuild in the same transaction as later changes must not make those changes skip their mark)."""
    transaction.get_connection().__dict__.pop("reports_marks", None)


# --- full rebuild ---------------------------------------------------------------------------------------------


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def rebuild_all(*, progress: Any = None) -> int:
    """Recounts every rollup from the live tables (after a bulk import, or to prove the incremental path
    right). Returns the number of facts. `progress(done, total)` is called as it goes."""

    with transaction.atomic():
        mark = _lock()
        first_day = horizon_start()
        for model in (ConversationFact, DailyStats, DailyAgentStats, MonthlyAgentStats, DailyResolved, CustomerDay,
                      CustomerFirstDay,
                      CustomerMonth, MonthlyCustomers, CustomerStateTrail, StateDelta, DirtyConversation):
            model._default_manager.all().delete()
        forget_marks()
        # the horizon in UTC terms, with a day of margin: compute_facts applies the exact local-day rule
        since = datetime.combine(first_day - timedelta(days=1), time.min, tzinfo=timezone.get_current_timezone())
        ids = list(Conversation.objects.filter(created_at__gte=since).order_by("pk").values_list("pk", flat=True))
        delta = Delta()
        facts = 0
        for done, chunk in enumerate(_chunks(ids, 5000)):
            computed = [f for f in compute_facts(chunk, horizon=first_day).values() if f is not None]
            bulk_insert(ConversationFact, (f.as_row() for f in computed))
            for f in computed:
                delta.add(f, +1)
            facts += len(computed)
            if progress:
                progress(min((done + 1) * 5000, len(ids)), len(ids))
        bulk_insert(DailyStats, ({"day": day, "channel": channel, **{k: values.get(k, 0) for k in STATS_FIELDS}}
                                 for (day, channel), values in delta.by_channel.items()))
        bulk_insert(DailyAgentStats, ({"day": day, "agent_id": agent_id, **{k: values.get(k, 0) for k in STATS_FIELDS}}
                                      for (day, agent_id), values in delta.by_agent.items()))
        bulk_insert(MonthlyAgentStats, ({"day": month, "agent_id": agent_id,
                                         **{k: values.get(k, 0) for k in STATS_FIELDS}}
                                        for (month, agent_id), values in delta.by_agent_month.items()))
        bulk_insert(DailyResolved, ({"day": d, "resolved": n} for d, n in delta.resolved.items() if n))
        bulk_insert(CustomerDay, ({"customer_id": c, "day": d, "conversations": n}
                                  for (c, d), n in delta.customer_days.items() if n))
        _rebuild_customers()
        mark.first_day = first_day
        mark.version += 1
        mark.save(update_fields=["first_day", "version"])
    return facts


def _rebuild_customers() -> None:
    firsts: dict[int, date] = dict(CustomerDay.objects.values("customer_id").annotate(first=Min("day"))
                                   .values_list("customer_id", "first"))
    bulk_insert(CustomerFirstDay, ({"customer_id": c, "day": d} for c, d in firsts.items()))
    months = {(c, month_of(d)) for c, d in CustomerDay.objects.values_list("customer_id", "day").iterator(20000)}
    bulk_insert(CustomerMonth, ({"customer_id": c, "month": m} for c, m in months))
    monthly: dict[date, Counter[str]] = defaultdict(Counter)
    for _c, month in months:
        monthly[month]["active"] += 1
    for day in firsts.values():
        monthly[month_of(day)]["new"] += 1
    bulk_insert(MonthlyCustomers, ({"month": m, "active": v["active"], "new": v["new"]} for m, v in monthly.items()))
    stated: dict[int, list[tuple[date, str]]] = defaultdict(list)
    for customer_id, day, state in (ConversationFact.objects.exclude(customer_state="")
                                    .order_by("customer_id", "started_at", "conversation_id")
                                    .values_list("customer_id", "start_day", "customer_state").iterator(20000)):
        stated[customer_id].append((day, state))
    trails, changes = [], Counter[tuple[str, str]]()
    for customer_id, states in stated.items():
        trail = _trail(states)
        trails.append({"customer_id": customer_id, "deltas": [list(d) for d in trail]})
        for day_s, state, sign in trail:
            changes[(day_s, state)] += sign
    bulk_insert(CustomerStateTrail, trails)
    bulk_insert(StateDelta, ({"day": date.fromisoformat(d), "state": s, "delta": v}
                             for (d, s), v in changes.items() if v))


def delete_beyond_horizon(*, batch: int = 1000) -> int:
    """Deletes conversations started before the horizon when settings.RETENTION_MODE is "delete"."""


    if settings.RETENTION_MODE != "delete":
        return 0
    first_day = horizon_start()
    before = datetime.combine(first_day, time.min, tzinfo=timezone.get_current_timezone())
    deleted = 0
    while ids := list(Conversation.objects.filter(created_at__lt=before).values_list("pk", flat=True)[:batch]):
        with transaction.atomic():
            mark_dirty(ids)  # the recount finds them gone and takes their facts out (the horizon trimmed them)
            for conversation in Conversation.objects.filter(pk__in=ids):
                conversation.delete()
        deleted += len(ids)
    return deleted


def merged_customer(keep: Any, gone: Any) -> None:
    """Customer merge participant (customers.merge): the duplicate's conversations now belong to `keep` (moved with a
    bulk update, which fires no signal), so every conversation of `keep` is refolded: its facts take the kept
    customer, and both customers' retention rows are recomputed as the fold moves each contribution."""
    mark_dirty(Conversation.objects.filter(customer_id=keep.pk).values_list("pk", flat=True))
