"""Real worker processes for crash and fault tests: start one on the test database, kill it with SIGKILL, and
poll for an outcome with a generous deadline (never sleep-and-measure: a busy machine only makes it slower)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings

from tests.integration.test_worker_to_browser import subprocess_database_url

DB_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": settings.TASK_QUEUES}}
DEADLINE = 60.0  # seconds a worker may take to reach a state on a busy CI machine; passing runs take ~1-2 s


def wait_for(condition: Callable[[], Any], what: str, log: Path | None = None) -> Any:
    """Polls until `condition()` is truthy; fails with `what` (and the worker's log) after DEADLINE."""
    give_up = time.monotonic() + DEADLINE
    while time.monotonic() < give_up:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    detail = f"\nworker log:\n{log.read_text()}" if log is not None and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}{detail}")


@contextmanager
def worker(name: str, **extra_env: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A real `manage.py db_worker` on the test database; stopped (gracefully, else killed) on exit."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1", "TASK_BACKEND": "db",
           "CHANNEL_LAYER": "memory", "DATABASE_URL": subprocess_database_url(), "PYTHONUNBUFFERED": "1",
           "MEDIA_ROOT": str(settings.MEDIA_ROOT), **extra_env}
    log = Path(settings.DATA_DIR) / f"worker-crash-{name}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--queue-name", "*", "--no-reload", "--interval", "0.05"],
            cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc, log
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """Stops a process a test started: SIGTERM, then SIGKILL after `grace` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def kill_hard(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL


