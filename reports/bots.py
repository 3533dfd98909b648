"""The bot report (issue 18): per flow, the conversations the bot started in a window and how they ended —
completed, handed to a person, expired, stopped by an agent — with the completion and handoff rates, and the same
table as CSV. Rates are over the runs that ended (a run still open has no outcome yet)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bots.choices import OPEN_STATES, RunState
from bots.models import BotRun
from core.exports import Column


@dataclass
class FlowRow:
    flow_id: int
    name: str
    started: int
    open: int
    completed: int
    handed_over: int
    expired: int
    stopped: int

    @property
    def ended(self) -> int:
        return self.started - self.open

    @property
    def completion_rate(self) -> float | None:
        return self.completed / self.ended if self.ended else None

    @property
    def handoff_rate(self) -> float | None:
        return self.handed_over / self.ended if self.ended else None


def bot_report(start: date, end: date) -> list[FlowRow]:
    """Runs started between `start` and `end` (inclusive, in the organisation's time zone), per flow (one query)."""
    tz = timezone.get_current_timezone()
    since = datetime.combine(start, time.min, tzinfo=tz)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)
    rows = (BotRun.objects.filter(started_at__gte=since, started_at__lt=until)
            .values("flow_id", "flow__name")
            .annotate(started=Count("id"), open=Count("id", filter=Q(state__in=sorted(OPEN_STATES))),
                      completed=Count("id", filter=Q(state=RunState.COMPLETED)),
                      handed_over=Count("id", filter=Q(state=RunState.HANDED_OVER)),
                      expired=Count("id", filter=Q(state=RunState.EXPIRED)),
                      stopped=Count("id", filter=Q(state=RunState.STOPPED)))
            .order_by("flow__name"))
    return [FlowRow(flow_id=r["flow_id"], name=r["flow__name"], started=r["started"], open=r["open"],
                    completed=r["completed"], handed_over=r["handed_over"], expired=r["expired"],
                    stopped=r["stopped"]) for r in rows]


def csv_columns() -> list[Column]:
    return [
        Column("flow", _("Flujo")), Column("started", _("Conversaciones iniciadas"), "int"),
        Column("open", _("En curso"), "int"), Column("completed", _("Completadas"), "int"),
        Column("handed_over", _("Derivadas a una persona"), "int"), Column("expired", _("Expiradas"), "int"),
        Column("stopped", _("Detenidas por un agente"), "int"),
        Column("completion_rate", _("Tasa de finalización"), "rate"),
        Column("handoff_rate", _("Tasa de derivación"), "rate"),
    ]


def csv_rows(rows: list[FlowRow]) -> list[Mapping[str, Any]]:
    return [{"flow": r.name, "started": r.started, "open": r.open, "completed": r.completed,
             "handed_over": r.handed_over, "expired": r.expired, "stopped": r.stopped,
             "completion_rate": r.completion_rate, "handoff_rate": r.handoff_rate} for r in rows]
