"""Small formatters of the workspace: a compact waiting time ("3 h", "2 d") that the page's script keeps fresh."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _

register = template.Library()

MINUTE, HOUR, DAY = 60, 3600, 86400


@register.filter
def short_wait(since: datetime | None, now: datetime | None = None) -> str:
    """How long ago `since` was, in the largest whole unit: "menos de 1 min", "12 min", "3 h", "5 d"."""
    if since is None:
        return ""
    seconds = max(0, int(((now or timezone.now()) - since).total_seconds()))
    if seconds < MINUTE:
        return _("menos de 1 min")
    if seconds < HOUR:
        return _("%d min") % (seconds // MINUTE)
    if seconds < DAY:
        return _("%d h") % (seconds // HOUR)
    return _("%d d") % (seconds // DAY)


@register.inclusion_tag("inbox/_sla_badge.html")
def sla_badge(c: object, now: datetime | None = None) -> dict[str, object]:
    """The service-level countdown of an open conversation (its nearest due target, kept by automation.sla): grey
    while on time, amber once 80 % of the time is used, red when breached. The page's script keeps it fresh."""
    due: datetime | None = getattr(c, "sla_due_at", None)
    if due is None or getattr(c, "state", "") == "resuelta":
        return {"due": None}
    now = now or timezone.now()
    warn: datetime | None = getattr(c, "sla_warn_at", None)
    level = "late" if now >= due else ("warn" if warn is not None and now >= warn else "ok")
    text = (_("SLA vencido hace %s") % short_wait(due, now) if level == "late"
            else _("SLA %s") % short_wait(now, due))
    return {"due": due, "warn": warn, "level": level, "text": text}
