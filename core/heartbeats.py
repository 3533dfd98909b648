"""Heartbeats of the background processes, written by each process itself (never by a job another process enqueues).

Every worker and every scheduler owns one row (`worker host:pid:token`, see `identity`) that it refreshes every
BEAT_SECONDS; a dead scheduler therefore never makes healthy workers look dead, and one dead worker of two is
visible. A process that stops cleanly marks its row `stopped`; one that dies (SIGKILL, the machine) just goes quiet,
and after SILENT_AFTER the system page and the administrators' banner report it, until a newer process of the same
kind on the same host replaces it, an administrator dismisses it, or SHOWN_FOR passes. Rows not seen for PRUNE_AFTER
are deleted. Times are each host's clock: keep the machines' clocks in sync (NTP), as PostgreSQL replication and
TLS already require.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, close_old_connections, connection
from django.db.models import Max, Q
from django.utils import timezone

from core.models import Heartbeat

logger = logging.getLogger(__name__)
BEAT_SECONDS = 5.0
SILENT_AFTER = timedelta(seconds=60)
SHOWN_FOR = timedelta(hours=24)  # stopped or replaced processes stay on the system page this long
PRUNE_AFTER = timedelta(days=7)
K, S = Heartbeat.Kind, Heartbeat.State


_identity: dict[int, str] = {}


def identity() -> str:
    """This process, "host:pid:token". The token is new at every start: a restarted container keeps its hostname
    and runs as PID 1 again, and must not be taken for the process that died (its RQ worker name, its heartbeat row,
    the leases it held)."""
    pid = os.getpid()
    if pid not in _identity:
        _identity.clear()
        _identity[pid] = f"{socket.gethostname()[:80]}:{pid}:{secrets.token_hex(3)}"
    return _identity[pid]


def process_name(kind: str) -> str:
    return f"{kind} {identity()}"


def beat(kind: str, *, state: str = S.RUNNING, started_at: datetime | None = None) -> None:
    """Writes this process's row (one UPDATE, an INSERT the first time)."""
    now = timezone.now()
    name = process_name(kind)
    updated = Heartbeat.objects.filter(process=name).update(seen_at=now, state=state)
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


# --- leases held by a process that died ------------------------------------------------------------------------
# Work items leased to an attempt (a webhook delivery being processed) record which process holds the lease. A lease
# whose holder's heartbeat went quiet (or that stopped) is void: the item may be taken again at once instead of
# waiting for the lease to run out. A holder without a heartbeat row (a shell, a test) is never judged dead.
LEASE_DEAD_AFTER = timedelta(seconds=30)  # six missed beats


def lease_holder() -> str:
    """This process, as recorded on the leases it takes (core.heartbeats.identity)."""
    return identity()


def _dead_rows(now: datetime) -> Any:
    """Workers whose beats stopped LEASE_DEAD_AFTER before the freshest worker's last beat (or before now, if that is
    earlier). Judged against the peers, not the clock alone: when the database was unreachable for a while every
    row is equally old, and no live worker is taken for dead the moment it comes back."""
    workers = Heartbeat.objects.filter(kind=K.WORKER)
    freshest = workers.aggregate(latest=Max("seen_at"))["latest"]
    reference = min(now, freshest) if freshest is not None else now
    return workers.filter(Q(seen_at__lt=reference - LEASE_DEAD_AFTER) | Q(state__in=[S.STOPPED, S.DISMISSED]))


def holder_is_dead(holder: str, now: datetime | None = None) -> bool:
    if not holder or ":" not in holder:
        return False
    return _dead_rows(now or timezone.now()).filter(process=f"{K.WORKER} {holder}").exists()


def dead_lease_holders(now: datetime | None = None) -> list[str]:
    """Holders (identities) of workers seen within SHOWN_FOR that are dead now: what the safety nets look for."""
    now = now or timezone.now()
    names = _dead_rows(now).filter(seen_at__gte=now - SHOWN_FOR).values_list("process", flat=True)
    return [name.split(" ", 1)[1] for name in names if " " in name]
