"""Claims due periodic jobs with compare-and-set, so any number of schedulers enqueue each slot once."""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from core.models import PeriodicRun
from core.schedule import SCHEDULE, PeriodicJob

logger = logging.getLogger(__name__)


def ensure_rows(now: datetime) -> None:
    existing = set(PeriodicRun.objects.values_list("name", flat=True))
    for job in SCHEDULE:
        if job.name not in existing:
            with contextlib.suppress(IntegrityError):  # another scheduler created it first
                PeriodicRun.objects.create(name=job.name, next_run_at=now)


def claim(job: PeriodicJob, now: datetime) -> bool:
    updated = PeriodicRun.objects.filter(name=job.name, next_run_at__lte=now).update(
        next_run_at=now + job.every, last_enqueued_at=now, runs=F("runs") + 1
    )
    return updated == 1


def tick(now: datetime | None = None) -> list[str]:
    """Enqueue every due job once; returns the names enqueued.

    Each job's claim and enqueue commit together: if either fails (SQLite locked by a long import, PostgreSQL or
    Redis gone) the slot stays due and the next tick takes it, instead of a claimed slot whose job never ran. With
    RQ the enqueue is in Redis, so a commit failing after it can enqueue a slot twice; the tasks are idempotent.
    Only due rows are claimed, so an idle tick writes nothing (no write lock every second on SQLite).
    """
    now = now or timezone.now()
    ensure_rows(now)
    due = set(PeriodicRun.objects.filter(next_run_at__lte=now).values_list("name", flat=True))
    enqueued = []
    for job in SCHEDULE:
        if job.name not in due:
            continue
        with transaction.atomic():
            if claim(job, now):
                import_string(job.task).enqueue()
                enqueued.append(job.name)
    return enqueued
