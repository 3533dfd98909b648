"""Scheduled messages ("Enviar más tarde"): when they may go, and the shortcuts the composer offers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.hours import DEFAULT_OPENING, next_business_day
from inbox.models import Conversation

MIN_AHEAD = timedelta(minutes=1)
MAX_AHEAD = timedelta(days=365)


@dataclass(frozen=True)
class Suggestion:
    label: str
    at: datetime

    @property
    def value(self) -> str:
        """As the form's field takes it (local time, minutes)."""
        return timezone.localtime(self.at).strftime("%Y-%m-%dT%H:%M")


def suggestions(c: Conversation, *, now: datetime | None = None) -> list[Suggestion]:
    """In one hour; tomorrow at 9:00; the next business day of the conversation's team at its opening time (team
    hours and holidays, in TIME_ZONE) — skipped when it is the same moment as tomorrow 9:00."""
    now = now or timezone.now()
    local = timezone.localtime(now)
    in_hour = (now + timedelta(hours=1)).replace(second=0, microsecond=0)
    tomorrow = timezone.make_aware(datetime.combine(local.date() + timedelta(days=1), DEFAULT_OPENING))
    found = [Suggestion(_("En 1 hora (%s)") % _time(in_hour), in_hour),
             Suggestion(_("Mañana, %s") % _day_time(tomorrow), tomorrow)]
    team = c.inbox.teams.order_by("pk").first() if c.inbox_id else None
    business = next_business_day(team, now)
    if business is not None and business != tomorrow:
        found.append(Suggestion(_("Próximo día hábil, %s") % _day_time(business), business))
    return found


def _time(at: datetime) -> str:
    return date_format(timezone.localtime(at), "TIME_FORMAT")


def _day_time(at: datetime) -> str:
    local = timezone.localtime(at)
    return f"{date_format(local, 'D j M')} {date_format(local, 'TIME_FORMAT')}"

