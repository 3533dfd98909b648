"""Helpers for tests that start real processes: polling with deadlines (never sleep-and-measure), process checks."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path


def wait_for[T](condition: Callable[[], T], *, timeout: float = 30.0, what: str = "condition",
             on_timeout: Callable[[], str] | None = None) -> T:
    """Poll `condition` until it returns something truthy; fail with `what` (and some context) at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            context = on_timeout() if on_timeout else ""
            raise AssertionError(f"timed out waiting for {what}\n{context}")
        time.sleep(0.1)


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, dead but not yet reaped by its parent, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (children, grandchildren…), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def started_pids(log: Path, name: str) -> list[int]:
    """The pids the supervisor logged for `name`, oldest first ("NAME started (pid N)")."""
    if not log.exists():
        return []
    return [int(m) for m in re.findall(rf" {re.escape(name)} started \(pid (\d+)\)", log.read_text())]


def current_pid(log: Path, name: str) -> int | None:
    pids = started_pids(log, name)
    return pids[-1] if pids and alive(pids[-1]) else None


def kill_all(pids: set[int]) -> None:
    """Cleanup after a failed test: nothing a test started may outlive it."""
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def occupied_port() -> socket.socket:
    """A socket listening on a free port that never answers: "somebody else's server"."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(16)
    return holder


def subprocess_database_url() -> str:
    """The test database as a DATABASE_URL, for a server process started by the test."""
    from urllib.parse import quote

    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "postgres")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a real Centralita process: the test runner's own choices (settings_test's in-process
    layers, pytest's settings module, the suite's database) removed, then `extra`."""
    dropped = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "TASK_BACKEND", "CHANNEL_LAYER",
               "PYTEST_XDIST_WORKER", "PYTEST_CURRENT_TEST", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    return {**env, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1", "PYTHONUNBUFFERED": "1", **extra}
