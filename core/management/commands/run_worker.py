"""`manage.py run_worker`: the task worker of the configured backend, kept running through outages.

* TASK_BACKEND=db (embedded mode): django-tasks-db's `db_worker`. django-tasks-db 0.13.0 ignores "database is
  locked" only inside its claim query; the same error at the start of its exclusive transaction (another process
  holds SQLite's write lock past the busy timeout, e.g. a long import), or any lost PostgreSQL connection, ends
  the worker with a traceback. This command runs `db_worker` unchanged and, when it stops on such an error, closes
  the broken connections and starts it again after a backoff.
* TASK_BACKEND=rq (scale mode, REDIS_URL set): RQ's SimpleWorker on every queue with RQ's scheduler for deferred
  jobs, restarted through Redis and PostgreSQL outages, reclaiming the jobs of workers killed mid-job
  (core.rq_worker).

Both write this process's own heartbeat from a thread (core.heartbeats) and return only on SIGTERM/SIGINT.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import InterfaceError, OperationalError

from core.heartbeats import BeatThread, stopped
from core.models import Heartbeat
from core.rq_worker import ResilientWorker
from core.supervisor import Backoff, reset_connections

logger = logging.getLogger("core.worker")


class Command(BaseCommand):
    help = "Run the task worker of the configured backend (database queue or RQ), riding out outages."
    # No system checks at start: SQLite's JSON probe among them reads a database locked by a long import as "no JSON
    # support" (fields.E180) and the process would exit, again and again under its supervisor, until the lock is
    # gone. The web process and `migrate` run the checks; this loop rides out the lock itself.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queue-name", default="*",
                            help="Queues, comma-separated; '*' for all (default).")
        parser.add_argument("--interval", type=float, default=1.0,
                            help="Seconds between polls of an empty queue (database queue only).")

    def handle(self, *args: Any, queue_name: str, interval: float, **options: Any) -> None:
        queues = settings.TASK_QUEUES if queue_name == "*" else [q.strip() for q in queue_name.split(",") if q.strip()]
        if settings.TASK_BACKEND == "rq":
            ResilientWorker(list(queues)).run()
            return
        beats = BeatThread(Heartbeat.Kind.WORKER)
        beats.start()
        try:
            self._run_db_worker(queue_name, interval, options.get("verbosity", 1))
        finally:
            beats.stop()
            stopped(Heartbeat.Kind.WORKER)

    def _run_db_worker(self, queue_name: str, interval: float, verbosity: int) -> None:
        backoff = Backoff(initial=1.0, cap=30.0, stable_after=60.0)
        while True:
            started = time.monotonic()
            try:
                # db_worker returns only when asked to stop (SIGTERM/Ctrl-C), exiting through SystemExit otherwise.
                call_command("db_worker", queue_name=queue_name, interval=interval, reload=False,
                             startup_delay=False, verbosity=verbosity)
                return
            except (OperationalError, InterfaceError) as exc:
                delay = backoff.next_delay(time.monotonic() - started)
                logger.warning("worker: database unavailable (%s); retrying in %g s", exc, delay)
                reset_connections()
                time.sleep(delay)
