"""Readiness probes: each check is small, bounded and returns (ok, detail)."""

from __future__ import annotations

import time
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.models import Heartbeat


def check_database() -> tuple[bool, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return True, connection.vendor


def check_channel_layer() -> tuple[bool, str]:
    layer = get_channel_layer()
    if layer is None:
        return False, "no channel layer configured"
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.send)(channel, {"type": "readyz.ping"})
    message = async_to_sync(layer.receive)(channel)
    return message.get("type") == "readyz.ping", settings.CHANNEL_LAYER


def check_task_queue() -> tuple[bool, str]:
    if settings.TASK_BACKEND == "db":
        from django_tasks_db.models import DBTaskResult

        DBTaskResult.objects.exists()
    elif settings.TASK_BACKEND == "rq":
        import redis

        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
    return True, settings.TASK_BACKEND


CHECKS: dict[str, Callable[[], tuple[bool, str]]] = {
    "database": check_database,
    "channel_layer": check_channel_layer,
    "task_queue": check_task_queue,
}


def run_checks() -> dict[str, dict[str, object]]:
    results: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            ok, detail = check()
        except Exception as exc:  # a probe reports failures, it never raises
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        results[name] = {"ok": ok, "detail": detail, "ms": round((time.perf_counter() - started) * 1000, 1)}
    return results


def heartbeats() -> dict[str, float | None]:
    now = timezone.now()
    ages: dict[str, float | None] = {"worker": None, "scheduler": None}
    for hb in Heartbeat.objects.all():
        ages[hb.process] = round((now - hb.seen_at).total_seconds(), 1)
    return ages
