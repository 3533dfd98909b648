"""`manage.py run_worker`: django-tasks-db's `db_worker`, kept running through database outages.

django-tasks-db 0.13.0 ignores "database is locked" only inside its claim query; the same error at the start of
its exclusive transaction (another process holds SQLite's write lock past the busy timeout, e.g. a long import),
or any lost PostgreSQL connection, ends the worker with a traceback. This command runs `db_worker` unchanged and,
when it stops on such an error, closes the broken connections and starts it again after a backoff. Anything else
still ends the process (the supervisor of `make run` restarts it).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import InterfaceError, OperationalError

from core.supervisor import Backoff, reset_connections

logger = logging.getLogger("core.worker")


class Command(BaseCommand):
    help = "Run the database task worker (db_worker) and retry when the database is locked or unreachable."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queue-name", default="*", help="Queues, comma-separated; '*' for all (default).")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between polls of an empty queue.")

    def handle(self, *args: Any, queue_name: str, interval: float, **options: Any) -> None:
        backoff = Backoff(initial=1.0, cap=30.0, stable_after=60.0)
        while True:
            started = time.monotonic()
            try:
                # db_worker returns only when asked to stop (SIGTERM/Ctrl-C), exiting through SystemExit otherwise.
                call_command("db_worker", queue_name=queue_name, interval=interval, reload=False,
                             startup_delay=False, verbosity=options.get("verbosity", 1))
                return
            except (OperationalError, InterfaceError) as exc:
                delay = backoff.next_delay(time.monotonic() - started)
                logger.warning("worker: database unavailable (%s); retrying in %g s", exc, delay)
                reset_connections()
                time.sleep(delay)

