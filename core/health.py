"""Readiness probes for /readyz and the system page: each check is small, bounded and returns (ok, detail).

Every check opens its own short-lived connection with its own timeouts (a raw SQLite/psycopg connection, a fresh
Redis client) and closes it. None of them touches the app's channel layer: a round trip through it from a sync
view once started the layer's receive loop inside a request's thread executor, and when that request ended the
loop kept calling a dead executor ("CurrentThreadExecutor already quit"), breaking every live update until the
server restarted. So the layer's *backing store* is checked (Redis PING, the layer's table), not the layer object.

The checks run in parallel on a small pool of their own; whatever has not answered within READY_BUDGET_SECONDS
is reported as failed, so /readyz answers within 2 s whatever a dependency does. /readyz is public, so only one
probe runs at a time (callers arriving meanwhile get the last result) and a result is reused for CACHE_SECONDS:
a flood of probes cannot open a flood of database connections. A check still running from an earlier probe is
waited for, never started twice, so at most one thread per check exists. Failure details (exception text, which
may name hosts, ports and users) are logged here and shown only on the staff system page, never by /readyz.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import closing, contextmanager
from typing import Any
from urllib.parse import quote

import psycopg
import redis
from channels_lite.models import Event
from django.conf import settings
from django.db import connections
from django_tasks_db.models import DBTaskResult

READY_BUDGET_SECONDS = 1.5  # the whole probe; a load balancer's typical timeout is 2 s or more
CONNECT_TIMEOUT_SECONDS = 1.0
CACHE_SECONDS = 1.0
logger = logging.getLogger(__name__)
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
        with psycopg.connect(**pg_connect_kwargs(db)) as conn:
            yield conn
    else:
        raise RuntimeError(f"no readiness check for {engine}")


def pg_connect_kwargs(db: dict[str, Any]) -> dict[str, Any]:
    """psycopg.connect() keywords for a settings.DATABASES entry: the entry's own OPTIONS merged with the probe's
    short timeouts (an OPTIONS `connect_timeout` or `options` must not be passed twice)."""
    kwargs: dict[str, Any] = {k: v for k, v in (db.get("OPTIONS") or {}).items() if k not in _DJANGO_ONLY_OPTIONS}
    params = {"dbname": db["NAME"], "user": db.get("USER") or None, "password": db.get("PASSWORD") or None,
              "host": db.get("HOST") or None, "port": db.get("PORT") or None}
    kwargs.update({k: v for k, v in params.items() if v is not None})
    # libpq's connect_timeout has a floor of 2 s; a longer configured one would outlast the probe's budget.
    configured = kwargs.get("connect_timeout")
    kwargs["connect_timeout"] = min(int(configured), 2) if configured else 2
    kwargs["options"] = " ".join(filter(None, [str(kwargs.get("options") or ""), "-c statement_timeout=1000"]))
    kwargs["autocommit"] = True
    return kwargs


def _select(db: dict[str, Any], sql: str) -> None:
    with _database(db) as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        cursor.fetchall()


def _table_readable(model: Any, db: dict[str, Any]) -> None:
    table = '"{}"'.format(model._meta.db_table.replace('"', '""'))  # standard SQL quoting: SQLite and PostgreSQL
    _select(db, f"SELECT 1 FROM {table} LIMIT 1")  # noqa: S608 - a model's own table name, quoted


def _redis_ping(url: str) -> None:
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
        _table_readable(Event, connections.settings[config.get("database", "default")])
    elif settings.CHANNEL_LAYER == "postgres":
        from channels_postgres.models import Message  # noqa: PLC0415 - its models exist only when the PostgreSQL channel layer is installed

        _table_readable(Message, {**config, "ENGINE": "django.db.backends.postgresql", "OPTIONS": {}})
    elif backend != "channels.layers.InMemoryChannelLayer":  # in-process: nothing to reach
        return True, f"{settings.CHANNEL_LAYER} (not checked)"
    return True, settings.CHANNEL_LAYER


def check_task_queue() -> tuple[bool, str]:
    if settings.TASK_BACKEND == "db":
        _table_readable(DBTaskResult, _default_db())
    elif settings.TASK_BACKEND == "rq":
        _redis_ping(settings.REDIS_URL)
    return True, settings.TASK_BACKEND


# What readiness needs: without the database a web process can serve nothing. Without Redis (channel layer, queue)
# pages and the API still work — live updates pause and background work waits, webhooks are stored and picked up
# by the safety nets — so those checks make /readyz "degraded", never failing: a load balancer following it must
# not take the whole site down for a Redis blip.
REQUIRED = frozenset({"database"})
CHECKS: dict[str, Callable[[], tuple[bool, str]]] = {
    "database": check_database,
    "channel_layer": check_channel_layer,
    "task_queue": check_task_queue,
}


def _timed(name: str, check: Callable[[], tuple[bool, str]]) -> tuple[bool, str, float]:
    started = time.perf_counter()
    try:
        ok, detail = check()
    except Exception as exc:  # a probe reports failures, it never raises
        logger.warning("readiness check %s failed", name, exc_info=True)
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return ok, detail, round((time.perf_counter() - started) * 1000, 1)


_pool = ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="readyz")
_running: dict[str, Future[tuple[bool, str, float]]] = {}  # one future per check, while it runs
_probe_lock = threading.Lock()  # one probe at a time
_cache: dict[str, tuple[float, dict[str, dict[str, object]]]] = {}  # "last": (monotonic time, results)


def _run_once(budget: float) -> dict[str, dict[str, object]]:
    for name, check in CHECKS.items():
        if name not in _running or _running[name].done():  # a check stuck since an earlier probe is not repeated
            _running[name] = _pool.submit(_timed, name, check)
    wait([_running[name] for name in CHECKS], timeout=budget)
    results: dict[str, dict[str, object]] = {}
    for name in CHECKS:
        future = _running[name]
        if future.done():
            ok, detail, ms = future.result()
        else:
            logger.warning("readiness check %s gave no answer within %g s", name, budget)
            ok, detail, ms = False, f"no answer within {budget:g} s", round(budget * 1000, 1)
        results[name] = {"ok": ok, "detail": detail, "ms": ms}
    return results


def run_checks(budget: float = READY_BUDGET_SECONDS) -> dict[str, dict[str, object]]:
    """Every check in parallel; one still running after `budget` seconds is reported failed (it finishes on its
    own timeouts in the background). Single-flight: a caller arriving while a probe runs gets the last result
    (or waits for the running one when there is none yet); a result younger than CACHE_SECONDS is reused."""
    last = _cache.get("last")
    if last is not None and time.monotonic() - last[0] < CACHE_SECONDS:
        return last[1]
    if not _probe_lock.acquire(blocking=last is None, timeout=budget + 0.2 if last is None else -1):
        if "last" in _cache:
            return _cache["last"][1]
        return {name: {"ok": False, "detail": "busy", "ms": 0.0} for name in CHECKS}
    try:
        newer = _cache.get("last")
        if newer is not None and newer is not last and time.monotonic() - newer[0] < CACHE_SECONDS:
            return newer[1]  # another caller finished a probe while this one waited for the lock
        results = _run_once(budget)
        _cache["last"] = (time.monotonic(), results)
        return results
    finally:
        _probe_lock.release()


def reset_cache() -> None:
    """Forgets the last result and lets checks still running from an earlier probe end (tests change settings
    between probes; a check of the old settings must not answer for the new ones)."""
    wait(list(_running.values()), timeout=5)
    _running.clear()
    _cache.clear()
