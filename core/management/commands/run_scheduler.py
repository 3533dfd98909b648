from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from core.heartbeats import BEAT_SECONDS, beat, stopped
from core.models import Heartbeat
from core.outages import DEPENDENCY_DOWN
from core.scheduler import tick
from core.supervisor import Backoff, reset_connections

logger = logging.getLogger("core.scheduler")


class Command(BaseCommand):
    help = "Enqueue the periodic jobs declared in core/schedule.py when they are due (runs until stopped)."
    # No system checks at start: SQLite's JSON probe among them reads a database locked by a long import as "no JSON
    # support" (fields.E180) and the process would exit, again and again under its supervisor, until the lock is
    # gone. The web process and `migrate` run the checks; this loop rides out the lock itself.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between checks.")
        parser.add_argument("--once", action="store_true", help="Check once and exit.")

    def handle(self, *args: Any, interval: float, once: bool, **options: Any) -> None:
        running = True

        wake = threading.Event()

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal running
            running = False
            wake.set()  # a backoff pause of up to 30 s must not outlast the supervisor's stop timeout

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        retryable = DEPENDENCY_DOWN  # a later tick outlives them: a long import's lock, PostgreSQL or Redis gone
        backoff = Backoff(initial=interval, cap=30.0, stable_after=float("inf"))  # reset on success
        self.stdout.write("scheduler started")
        started_at, last_beat = timezone.now(), 0.0
        while running:
            pause = interval
            try:
                for name in tick():
                    self.stdout.write(f"enqueued {name}")
                if time.monotonic() - last_beat >= BEAT_SECONDS:  # written by the scheduler itself, from its loop
                    beat(Heartbeat.Kind.SCHEDULER, started_at=started_at)
                    last_beat = time.monotonic()
                backoff.failures = 0
            except retryable as exc:
                if once:
                    raise
                # One failed tick loses nothing: each job's claim and enqueue commit together (core.scheduler),
                # so a job not enqueued now is still due at the next tick.
                pause = backoff.next_delay(0.0)
                logger.warning("scheduler: database or queue unavailable (%s); retrying in %g s", exc, pause)
                reset_connections()
                with contextlib.suppress(*retryable):  # the database may be up while Redis is not
                    beat(Heartbeat.Kind.SCHEDULER, state=Heartbeat.State.WAITING, started_at=started_at)
            if once:
                break
            wake.wait(pause)
        stopped(Heartbeat.Kind.SCHEDULER)
        self.stdout.write("scheduler stopped")
