"""Readiness probes for /readyz and the system page: each check is small, bounded and returns (ok, detail).

Every check opens its own short-lived connection with its own timeouts (a raw SQLite/psycopg connection, a fresh
Redis client) and closes it. None of them touches the app's channel layer: a round trip through it from a sync
view once started the layer's receive loop inside a request's thread executor, and when that request ended the
loop kept calling a dead executor ("CurrentThreadExecutor already quit"), breaking every live update until the
server restarted. So the layer's *backing store* is checked (Redis PING, the layer's table), not the layer object.

The checks run in parallel on a small pool of their own; whatever has not answered within READY_BUDGET_SECONDS
is reported as failed, so /readyz answers within 2 s whatever a dependency does.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import closing, contextmanager
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connections
from django.utils import timezone

from core.models import Heartbeat

READY_BUDGET_SECONDS = 1.5  # the whole probe; a load balancer's typical timeout is 2 s or more
CONNECT_TIMEOUT_SECONDS = 1.0
_pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="readyz")
# Options Django reads itself, not libpq connection parameters.
_DJANGO_ONLY_OPTIONS = {"pool", "server_side_binding", "assume_role", "isolation_level", "cursor_factory",
                        "context", "init_command", "transaction_mode", "timeout"}


@contextmanager
def _database(db: dict[str, Any]) -> Iterator[Any]:
    """A new DB-API connection to `db` (a settings.DATABASES entry), never one of Django's own."""
    engine = db["ENGINE"]
    if engine.endswith("sqlite3"):
        # mode=rw: a missing database file is an error, not a new empty database.
        uri = f"file:{quote(str(db['NAME']))}?mode=rw"
        with closing(sqlite3.connect(uri, uri=True, timeout=CONNECT_TIMEOUT_SECONDS)) as conn:
            yield conn
    elif "postgresql" in engine:
        import psycopg

        options = {k: v for k, v in (db.get("OPTIONS") or {}).items() if k not in _DJANGO_ONLY_OPTIONS}
        params = {"dbname": db["NAME"], "user": db.get("USER") or None, "password": db.get("PASSWORD") or None,
                  "host": db.get("HOST") or None, "port": db.get("PORT") or None}
        # libpq's connect_timeout has a floor of 2 s; the overall budget still bounds the answer.
        with psycopg.connect(**{k: v for k, v in params.items() if v is not None}, **options, connect_timeout=2,
                             options="-c statement_timeout=1000", autocommit=True) as conn:
            yield conn
    else:
        raise RuntimeError(f"no readiness check for {engine}")


def _select(db: dict[str, Any], sql: str) -> None:
    with _database(db) as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        cursor.fetchall()


def _table_readable(model: Any, db: dict[str, Any]) -> None:
    table = '"{}"'.format(model._meta.db_table.replace('"', '""'))  # standard SQL quoting: SQLite and PostgreSQL
    _select(db, f"SELECT 1 FROM {table} LIMIT 1")  # noqa: S608 - a model's own table name, quoted


def _redis_ping(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=CONNECT_TIMEOUT_SECONDS,
                                  socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, retry_on_timeout=False)
    try:
        client.ping()
    finally:
        client.close()


def _default_db() -> dict[str, Any]:
    # The configured dict (the test database's NAME under pytest), read without opening one of Django's
    # per-thread connections in the pool's threads.
    return connections.settings["default"]


def check_database() -> tuple[bool, str]:
    db = _default_db()
    _select(db, "SELECT 1")
    return True, "sqlite" if db["ENGINE"].endswith("sqlite3") else "postgresql"


def check_channel_layer() -> tuple[bool, str]:
    layer = getattr(settings, "CHANNEL_LAYERS", {}).get("default")
    if not layer:
        return False, "no channel layer configured"
    backend, config = layer["BACKEND"], layer.get("CONFIG", {})
    if backend.startswith("channels_redis."):
        host = config["hosts"][0]
        _redis_ping(host if isinstance(host, str) else host["address"])
    elif backend.startswith("channels_lite."):
        from channels_lite.models import Event

        _table_readable(Event, connections.settings[config.get("database", "default")])
    elif backend.startswith("channels_postgres."):
        from channels_postgres.models import Message

        _table_readable(Message, {**config, "ENGINE": "django.db.backends.postgresql", "OPTIONS": {}})
    elif backend != "channels.layers.InMemoryChannelLayer":  # in-process: nothing to reach
        return True, f"{settings.CHANNEL_LAYER} (not checked)"
    return True, settings.CHANNEL_LAYER


def check_task_queue() -> tuple[bool, str]:
    if settings.TASK_BACKEND == "db":
        from django_tasks_db.models import DBTaskResult

        _table_readable(DBTaskResult, _default_db())
    elif settings.TASK_BACKEND == "rq":
        _redis_ping(settings.REDIS_URL)
    return True, settings.TASK_BACKEND


CHECKS: dict[str, Callable[[], tuple[bool, str]]] = {
    "database": check_database,
    "channel_layer": check_channel_layer,
    "task_queue": check_task_queue,
}


def _timed(check: Callable[[], tuple[bool, str]]) -> tuple[bool, str, float]:
    started = time.perf_counter()
    try:
        ok, detail = check()
    except Exception as exc:  # a probe reports failures, it never raises
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return ok, detail, round((time.perf_counter() - started) * 1000, 1)


def run_checks(budget: float = READY_BUDGET_SECONDS) -> dict[str, dict[str, object]]:
    """Every check in parallel; one still running after `budget` seconds is reported failed (it finishes on its
    own timeouts in the background)."""
    futures: dict[str, Future[tuple[bool, str, float]]] = {
        name: _pool.submit(_timed, check) for name, check in CHECKS.items()}
    wait(futures.values(), timeout=budget)
    results: dict[str, dict[str, object]] = {}
    for name, future in futures.items():
        if future.done():
            ok, detail, ms = future.result()
        else:
            ok, detail, ms = False, f"no answer within {budget:g} s", round(budget * 1000, 1)
        results[name] = {"ok": ok, "detail": detail, "ms": ms}
    return results


def heartbeats() -> dict[str, float | None]:
    now = timezone.now()
    ages: dict[str, float | None] = {"worker": None, "scheduler": None}
    for hb in Heartbeat.objects.all():
        ages[hb.process] = round((now - hb.seen_at).total_seconds(), 1)
    return ages
