"""Business days and opening times of a team (its BusinessHours and holidays, in TIME_ZONE): what scheduling
suggests ("next business day") and what out-of-hours answers announce."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone

from accounts.models import BusinessHours, Holiday, Team

DEFAULT_OPENING = time(9, 0)
SEARCH_DAYS = 60  # a team closed longer than this has no next business day worth suggesting


def _closed_days(team: Team | None, start: date, end: date) -> set[date]:
    holidays = Holiday.objects.filter(date__gte=start, date__lte=end)
    holidays = holidays.filter(Q(team__isnull=True) | Q(team=team)) if team else holidays.filter(team__isnull=True)
    return set(holidays.values_list("date", flat=True))


def opening_times(team: Team | None) -> dict[int, time]:
    """Weekday → the first opening of that day; a team without declared hours (or no team): Monday to Friday at
    DEFAULT_OPENING."""
    rows = BusinessHours.objects.filter(team=team).order_by("weekday", "opens_at") if team else []
    found: dict[int, time] = {}
    for row in rows:
        found.setdefault(row.weekday, row.opens_at)
    return found or dict.fromkeys(range(5), DEFAULT_OPENING)


def next_business_day(team: Team | None, after: datetime) -> datetime | None:
    """The opening of the first business day after `after`'s day (holidays and closed weekdays skipped)."""
    local = timezone.localtime(after)
    opens = opening_times(team)
    first = local.date() + timedelta(days=1)
    closed = _closed_days(team, first, first + timedelta(days=SEARCH_DAYS))
    for offset in range(SEARCH_DAYS):
        day = first + timedelta(days=offset)
        if day.weekday() in opens and day not in closed:
            return timezone.make_aware(datetime.combine(day, opens[day.weekday()]))
    return None
