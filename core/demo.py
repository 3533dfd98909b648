"""Helpers for the demo seeders (`seed_demo`): a believable month needs each action to happen at its own moment,
not all of them "now". `at(moment)` moves this process's clock there for the actions inside (time-machine), so the
actions themselves — the only writers — stamp their rows, history and events with that moment, and every derived
number (first response, resolution, speed to lead) comes out as it would have in real life.

Only the seeding process travels (a management command); never a server or a worker.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import time_machine
from django.conf import settings


@contextmanager
def at(moment: datetime) -> Iterator[None]:
    with time_machine.travel(moment, tick=False):
        yield


def lognormal_seconds(rng: random.Random, median_seconds: float, spread: float) -> int:
    """A duration with a realistic tail: most near the median, a few much longer (`spread` is sigma)."""
    return max(1, int(median_seconds * math.exp(rng.gauss(0, spread))))


def business_moment(rng: random.Random, day_offset: int, *, now: datetime) -> datetime:
    """A moment `day_offset` days before today, between 8:00 and 18:30 local time (a little busier before noon),
    never in the future."""
    zone = ZoneInfo(settings.TIME_ZONE)
    day = (now.astimezone(zone) - timedelta(days=day_offset)).date()
    minutes = min(10 * 60 + 30, int(abs(rng.gauss(3.5 * 60, 2.6 * 60))))
    moment = datetime.combine(day, time(8, 0), tzinfo=zone) + timedelta(minutes=minutes, seconds=rng.randint(0, 59))
    return min(moment, now - timedelta(minutes=5))
