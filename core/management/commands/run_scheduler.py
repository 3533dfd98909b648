from __future__ import annotations

import logging
import signal
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand
from django.db import InterfaceError, OperationalError

from core.scheduler import tick
from core.supervisor import Backoff, reset_connections
from core.tasks import touch_heartbeat

logger = logging.getLogger("core.scheduler")


def transient_errors() -> tuple[type[Exception], ...]:
    """Errors a later tick can outlive: SQLite's "database is locked" past the busy timeout (a long import holds
    the write lock), a lost PostgreSQL connection, Redis briefly unreachable (RQ enqueue)."""
    errors: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
    try:
        import redis.exceptions
    except ImportError:  # pragma: no cover - redis is a dependency, but the embedded mode never needs it
        return errors
    return (*errors, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class Command(BaseCommand):
    help = "Enqueue the periodic jobs declared in core/schedule.py when they are due (runs until stopped)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between checks.")
        parser.add_argument("--once", action="store_true", help="Check once and exit.")

    def handle(self, *args: Any, interval: float, once: bool, **options: Any) -> None:
        running = True

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal running
            running = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        retryable = transient_errors()
        backoff = Backoff(initial=interval, cap=30.0, stable_after=float("inf"))  # reset on success
        self.stdout.write("scheduler started")
        while running:
            pause = interval
            try:
                for name in tick():
                    self.stdout.write(f"enqueued {name}")
                touch_heartbeat("scheduler")
                backoff.failures = 0
            except retryable as exc:
                if once:
                    raise
                # One failed tick loses nothing: each job's claim and enqueue commit together (core.scheduler),
                # so a job not enqueued now is still due at the next tick.
                pause = backoff.next_delay(0.0)
                logger.warning("scheduler: database or queue unavailable (%s); retrying in %g s", exc, pause)
                reset_connections()
            if once:
                break
            time.sleep(pause)
        self.stdout.write("scheduler stopped")
