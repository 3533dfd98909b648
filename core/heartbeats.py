"""Heartbeats of the background processes, written by each process itself (never by a job another process enqueues).

Every worker and every scheduler owns one row (`worker host:pid`) that it refreshes every BEAT_SECONDS; a dead
scheduler therefore never makes healthy workers look dead, and one dead worker of two is visible. A process that
stops cleanly marks its row `stopped`; one that dies (SIGKILL, the machine) just goes quiet, and after
SILENT_AFTER the system page and the administrators' banner report it, until a newer process of the same kind on
the same host replaces it or an administrator dismisses it. Rows not seen for PRUNE_AFTER are deleted.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from core.models import Heartbeat

logger = logging.getLogger(__name__)
BEAT_SECONDS = 5.0
SILENT_AFTER = timedelta(seconds=60)
SHOWN_FOR = timedelta(hours=24)  # stopped or replaced processes stay on the system page this long
PRUNE_AFTER = timedelta(days=7)
K, S = Heartbeat.Kind, Heartbeat.State


def process_name(kind: str) -> str:
    return f"{kind} {socket.gethostname()}:{os.getpid()}"


def beat(kind: str, *, state: str = S.RUNNING, started_at: datetime | None = None) -> None:
    """Writes this process's row (one UPDATE, an INSERT the first time)."""
    now = timezone.now()
    name = process_name(kind)
    updated = Heartbeat.objects.filter(process=name).update(seen_at=now, state=state)  # a dismissed one is back
    if not updated:
        Heartbeat.objects.update_or_create(process=name, defaults={
            "kind": kind, "host": socket.gethostname()[:100], "pid": os.getpid(), "state": state,
            "started_at": started_at or now, "seen_at": now})


def stopped(kind: str) -> None:
    """A clean stop: the row stays (shown as stopped) and raises no alert."""
    try:
        Heartbeat.objects.filter(process=process_name(kind)).update(state=S.STOPPED, seen_at=timezone.now())
    except DatabaseError:
        logger.warning("%s: could not record the stop (database unavailable)", process_name(kind))


def touch_queue_probe() -> None:
    """The periodic probe job ran: the scheduler enqueued it and a worker completed it."""
    Heartbeat.objects.update_or_create(process="queue", defaults={
        "kind": K.QUEUE, "state": S.RUNNING, "seen_at": timezone.now()})


class BeatThread(threading.Thread):
    """Beats for this process from a thread of its own, so a long job in the main thread does not make a live worker
    look dead. `state()` tells what to record (e.g. `waiting` while Redis is down). The database being down only
    skips beats: the row then ages, which is what the page should show. `extra` runs after each beat (the RQ worker
    refreshes its liveness key in Redis and reclaims abandoned jobs there)."""

    def __init__(self, kind: str, *, state: Callable[[], str] = lambda: S.RUNNING,
                 extra: Callable[[], None] | None = None, interval: float = BEAT_SECONDS) -> None:
        super().__init__(name=f"heartbeat-{kind}", daemon=True)
        self.kind, self.state, self.extra, self.interval = kind, state, extra, interval
        self.started_at = timezone.now()
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.once()
            self.halt.wait(self.interval)
        close_old_connections()
        connection.close()

    def once(self) -> None:
        try:
            beat(self.kind, state=self.state(), started_at=self.started_at)
        except DatabaseError as exc:
            logger.warning("%s: heartbeat not written (%s)", process_name(self.kind), exc)
            connection.close()  # a broken connection is replaced at the next beat
        if self.extra is not None:
            try:
                self.extra()
            except Exception:  # the beat must go on whatever its extra work does
                logger.warning("%s: heartbeat extra work failed", process_name(self.kind), exc_info=True)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=self.interval + 5)


@dataclass(frozen=True)
class ProcessStatus:
    row: Heartbeat
    age: float  # seconds since the last beat
    silent: bool  # went quiet without stopping, and nothing replaced it
    replaced: bool


def statuses(now: datetime | None = None) -> list[ProcessStatus]:
    """The processes the system page lists: running ones, and others seen within SHOWN_FOR (queue probe apart)."""
    now = now or timezone.now()
    rows = list(Heartbeat.objects.exclude(kind=K.QUEUE).exclude(state=S.DISMISSED)
                .filter(seen_at__gte=now - SHOWN_FOR).order_by("kind", "host", "started_at", "pid"))
    result = []
    for row in rows:
        quiet = row.state != S.STOPPED and now - row.seen_at > SILENT_AFTER
        replaced = quiet and any(
            other.kind == row.kind and other.host == row.host and other.pk != row.pk and other.started_at
            and other.started_at >= row.seen_at for other in rows)
        result.append(ProcessStatus(row=row, age=round((now - row.seen_at).total_seconds(), 1),
                                    silent=quiet and not replaced, replaced=replaced))
    return result


def silent(now: datetime | None = None) -> list[ProcessStatus]:
    return [s for s in statuses(now) if s.silent]


def queue_probe_age(now: datetime | None = None) -> float | None:
    row = Heartbeat.objects.filter(process="queue").first()
    if row is None:
        return None
    return round(((now or timezone.now()) - row.seen_at).total_seconds(), 1)


def prune(now: datetime | None = None) -> int:
    deleted, _ = (Heartbeat.objects.exclude(kind=K.QUEUE)
                  .filter(seen_at__lt=(now or timezone.now()) - PRUNE_AFTER).delete())
    return deleted
