"""Business days and opening times of a team (its BusinessHours and holidays, in TIME_ZONE): what scheduling
suggests ("next business day") and what out-of-hours answers announce."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

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


def next_opening(team: Team | None, after: datetime) -> datetime | None:
    """The next moment `team` is open from `after` on (`after` itself when open then; holidays skipped), or None
    when it opens nowhere in the next SEARCH_DAYS days: what an out-of-hours reply announces."""
    clock = BusinessClock(team)
    first = timezone.localtime(after).date()
    moment = after.astimezone(UTC)
    for opens, closes in clock._intervals(first, SEARCH_DAYS):
        if closes > moment:
            return timezone.localtime(max(opens, moment))
    return None


class BusinessClock:
    """Time measured inside a team's opening hours (its BusinessHours, closed on its holidays and the national
    ones), in TIME_ZONE: what service-level targets "in business hours" count. A team without declared hours (or
    no team) is open all day, every day but holidays — as `accounts.models.business_hours_open` says. With
    `calendar=True` every second counts, with the same interface, so callers never branch on the policy.

    Arithmetic is done in UTC (a daylight-saving change inside an opening interval counts its real length).
    Loads the team's hours once; holidays are read per chunk of days walked (one query each)."""

    CHUNK_DAYS = 60

    def __init__(self, team: Team | None, *, calendar: bool = False) -> None:
        self.calendar = calendar
        self.team = team
        self.hours: dict[int, list[tuple[time, time | None]]] = {}
        if not calendar:
            rows = BusinessHours.objects.filter(team=team).order_by("weekday", "opens_at") if team else []
            for row in rows:
                self.hours.setdefault(row.weekday, []).append((row.opens_at, row.closes_at))
            if not self.hours:
                self.hours = {day: [(time(0), None)] for day in range(7)}  # None: until midnight

    def _intervals(self, first: date, days: int) -> Iterator[tuple[datetime, datetime]]:
        """The opening intervals of `days` days from `first`, in UTC (holidays skipped)."""
        closed = _closed_days(self.team, first, first + timedelta(days=days))
        for offset in range(days):
            day = first + timedelta(days=offset)
            if day in closed:
                continue
            for opens, closes in self.hours.get(day.weekday(), ()):
                end = (timezone.make_aware(datetime.combine(day + timedelta(days=1), time(0))) if closes is None
                       else timezone.make_aware(datetime.combine(day, closes)))
                yield timezone.make_aware(datetime.combine(day, opens)).astimezone(UTC), end.astimezone(UTC)

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment `seconds` of counted time after `start` (a start outside hours counts from the next
        opening). Walks as many chunks of days as the time needs; a chunk without any opening (a team closed for
        two months) answers with calendar time rather than no deadline."""
        if self.calendar or seconds <= 0:
            return start + timedelta(seconds=max(seconds, 0))
        left, moment = float(seconds), start.astimezone(UTC)
        first = timezone.localtime(start).date()
        while True:
            opened = False
            for opens, closes in self._intervals(first, self.CHUNK_DAYS):
                begin = max(opens, moment)
                if begin >= closes:
                    continue
                opened = True
                span = (closes - begin).total_seconds()
                if left <= span:
                    return begin + timedelta(seconds=left)
                left -= span
            if not opened:
                return start + timedelta(seconds=seconds)
            first += timedelta(days=self.CHUNK_DAYS)

    def between(self, start: datetime, end: datetime) -> float:
        """Counted seconds from `start` to `end` (negative when `end` comes first)."""
        if end < start:
            return -self.between(end, start)
        if self.calendar:
            return (end - start).total_seconds()
        first = timezone.localtime(start).date()
        days = (timezone.localtime(end).date() - first).days + 1
        a, b = start.astimezone(UTC), end.astimezone(UTC)
        total = 0.0
        for opens, closes in self._intervals(first, days):
            begin, stop = max(opens, a), min(closes, b)
            if stop > begin:
                total += (stop - begin).total_seconds()
        return total
