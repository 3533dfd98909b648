"""Task helpers and the platform's own periodic tasks. Tasks are thin shims over actions (STYLE §8)."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.tasks import task
from django.utils import timezone

from core.models import Heartbeat


def enqueue_on_commit(task_obj: Any, /, *args: Any, **kwargs: Any) -> None:
    """Enqueue after the surrounding transaction commits, so the worker sees the rows it needs."""
    transaction.on_commit(partial(task_obj.enqueue, *args, **kwargs))


def enqueue_later(task_obj: Any, when: Any, /, *args: Any) -> bool:
    """Enqueue to run at `when` when the backend can defer; otherwise do nothing and return False (the periodic
    jobs in core.schedule are the safety net; only the in-process ImmediateBackend cannot defer)."""
    from django.tasks import task_backends

    backend = task_backends[task_obj.backend]
    if not backend.supports_defer:
        return False
    task_obj.using(run_after=when).enqueue(*args)
    return True


def touch_heartbeat(process: str) -> None:
    Heartbeat.objects.update_or_create(process=process, defaults={"seen_at": timezone.now()})


@task()
def worker_heartbeat() -> None:
    """Proves a worker is consuming the queue; /readyz and the system page read its age."""
    touch_heartbeat("worker")


@task()
def prune_login_failures(days: int = 30) -> int:
    from accounts.models import LoginFailure

    deleted, _ = LoginFailure.objects.filter(created_at__lt=timezone.now() - timedelta(days=days)).delete()
    return deleted


@task()
def prune_finished_task_results(days: int = 7) -> None:
    """Keeps the database queue small (embedded mode only; RQ expires its own results)."""
    if settings.TASK_BACKEND == "db":
        call_command("prune_db_task_results", min_age_days=days, verbosity=0)


@task()
def prune_channel_layer() -> int:
    """Removes delivered and expired messages from the SQLite channel layer (embedded mode only).

    (channels-lite's own `clean_channels` command needs its optional aio extra, so we do the one query here.)
    """
    if settings.CHANNEL_LAYER != "lite":
        return 0
    from channels_lite.models import Event
    from django.db.models import Q

    deleted, _ = Event.objects.filter(Q(delivered=True) | Q(expires_at__lt=timezone.now())).delete()
    return deleted
