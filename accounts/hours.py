"""Business days and opening times of a team (its BusinessHours and holidays, in TIME_ZONE): what scheduling
suggests ("next business day") and what out-of-hours answers announce."""

from __future__ import annotations

from collections.abc import Iterator
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


DEFAULT_HOURS: tuple[tuple[time, time], ...] = ((time(9, 0), time(18, 0)),)  # Monday to Friday, no declared hours


class BusinessClock:
    """Time measured inside a team's opening hours (its BusinessHours, closed on its holidays and the national
    ones), in TIME_ZONE: what service-level targets "in business hours" count. A team without declared hours (or
    no team) opens Monday to Friday, 9:00 to 18:00. `calendar=True` counts every second instead, with the same
    interface, so callers never branch on the policy.

    Loads the team's hours once; holidays are read per call for the days it walks (one query)."""

    def __init__(self, team: Team | None, *, calendar: bool = False) -> None:
        self.calendar = calendar
        self.team = team
        self.hours: dict[int, list[tuple[time, time]]] = {}
        if not calendar:
            rows = BusinessHours.objects.filter(team=team).order_by("weekday", "opens_at") if team else []
            for row in rows:
                self.hours.setdefault(row.weekday, []).append((row.opens_at, row.closes_at))
            if not self.hours:
                self.hours = {day: list(DEFAULT_HOURS) for day in range(5)}

    def _intervals(self, start: datetime, days: int) -> Iterator[tuple[datetime, datetime]]:
        """The opening intervals from `start`'s day on, for `days` days, as aware datetimes (holidays skipped)."""
        first = timezone.localtime(start).date()
        closed = _closed_days(self.team, first, first + timedelta(days=days))
        for offset in range(days):
            day = first + timedelta(days=offset)
            if day in closed:
                continue
            for opens, closes in self.hours.get(day.weekday(), ()):
                yield (timezone.make_aware(datetime.combine(day, opens)),
                       timezone.make_aware(datetime.combine(day, closes)))

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment `seconds` of counted time after `start` (a start outside hours counts from the next
        opening). A team closed for SEARCH_DAYS answers with calendar time, never with no deadline."""
        if self.calendar or seconds <= 0:
            return start + timedelta(seconds=max(seconds, 0))
        left = float(seconds)
        for opens, closes in self._intervals(start, SEARCH_DAYS):
            begin = max(opens, start)
            if begin >= closes:
                continue
            span = (closes - begin).total_seconds()
            if left <= span:
                return begin + timedelta(seconds=left)
            left -= span
        return start + timedelta(seconds=seconds)

    def between(self, start: datetime, end: datetime) -> float:
        """Counted seconds from `start` to `end` (negative when `end` comes first)."""
        if end < start:
            return -self.between(end, start)
        if self.calendar:
            return (end - start).total_seconds()
        days = (timezone.localtime(end).date() - timezone.localtime(start).date()).days + 1
        total = 0.0
        for opens, closes in self._intervals(start, days):
            begin, stop = max(opens, start), min(closes, end)
            if stop > begin:
                total += (stop - begin).total_seconds()
        return total
