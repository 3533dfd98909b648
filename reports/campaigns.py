"""The campaigns report (issue 17): every campaign launched in a window with its results, cost, revenue and ROI,
totals by channel, and the same table as CSV. Reads campaigns.stats (one grouped query for all campaigns)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.choices import CampaignChannel, CampaignState, Objective
from campaigns.models import Campaign
from campaigns.stats import Summary, summaries
from core.exports import Column

MAX_DAYS = 731


@dataclass
class Row:
    campaign: Campaign
    summary: Summary


@dataclass
class CampaignReport:
    start: date
    end: date
    rows: list[Row] = field(default_factory=list)
    totals: dict[str, Summary] = field(default_factory=dict)  # by channel, plus "" for all

    @property
    def total(self) -> Summary:
        return self.totals.get("", Summary())


def _add(into: Summary, s: Summary) -> None:
    for state, n in s.by_state.items():
        into.by_state[state] = into.by_state.get(state, 0) + n
    for reason, n in s.skipped_by_reason.items():
        into.skipped_by_reason[reason] = into.skipped_by_reason.get(reason, 0) + n
    into.clicked += s.clicked
    into.replied += s.replied
    into.converted += s.converted
    into.unsubscribed += s.unsubscribed
    into.cost += s.cost
    into.revenue += s.revenue


def window(start: date | None, end: date | None, *, today: date | None = None) -> tuple[date, date]:
    """The window the report reads (the last 90 days by default; at most MAX_DAYS; start after end swapped)."""
    today = today or timezone.localdate()
    end = min(end or today, today)
    start = start or end - timedelta(days=89)
    if start > end:
        start, end = end, start
    if (end - start).days >= MAX_DAYS:
        start = end - timedelta(days=MAX_DAYS - 1)
    return start, end


def campaign_report(start: date, end: date) -> CampaignReport:
    """Campaigns launched between `start` and `end` (inclusive, in the organisation's time zone), newest first."""
    tz = timezone.get_current_timezone()
    since = datetime.combine(start, time.min, tzinfo=tz)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)
    campaigns = list(Campaign.objects.filter(launched_at__gte=since, launched_at__lt=until)
                     .exclude(state=CampaignState.DRAFT).order_by("-launched_at", "-pk"))
    sums = summaries(c.pk for c in campaigns)
    report = CampaignReport(start=start, end=end, rows=[Row(c, sums[c.pk]) for c in campaigns])
    for row in report.rows:
        for key in ("", row.campaign.channel):
            _add(report.totals.setdefault(key, Summary()), row.summary)
    return report


def csv_columns() -> list[Column]:
    return [
        Column("campaign", _("Campaña")), Column("channel", _("Canal"), "code", dict(CampaignChannel.choices)),
        Column("objective", _("Objetivo"), "code", dict(Objective.choices)),
        Column("state", _("Estado"), "code", dict(CampaignState.choices)),
        Column("launched_at", _("Lanzada"), "datetime"), Column("recipients", _("Destinatarios"), "int"),
        Column("skipped", _("Omitidos"), "int"), Column("sent", _("Enviados"), "int"),
        Column("delivered", _("Entregados"), "int"), Column("read", _("Leídos / abiertos"), "int"),
        Column("failed", _("Fallidos"), "int"), Column("clicked", _("Con clic"), "int"),
        Column("replied", _("Respondieron"), "int"), Column("converted", _("Compraron"), "int"),
        Column("unsubscribed", _("Bajas"), "int"), Column("cost", _("Costo"), "money"),
        Column("revenue", _("Ingresos"), "money"), Column("roi", _("ROI"), "decimal"),
    ]


def csv_rows(report: CampaignReport) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for row in report.rows:
        s, c = row.summary, row.campaign
        out.append({"campaign": c.name, "channel": c.channel, "objective": c.objective, "state": c.state,
                    "launched_at": c.launched_at, "recipients": s.recipients, "skipped": s.skipped, "sent": s.sent,
                    "delivered": s.delivered, "read": s.read, "failed": s.failed, "clicked": s.clicked,
                    "replied": s.replied, "converted": s.converted, "unsubscribed": s.unsubscribed,
                    "cost": s.cost, "revenue": s.revenue,
                    "roi": None if s.roi is None else s.roi.quantize(Decimal("0.01"))})
    return out
