"""Task helpers and the platform's own periodic tasks. Tasks are thin shims over actions (STYLE §8)."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from typing import Any

from channels_lite.models import Event
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.db.models import Q
from django.tasks import task, task_backends
from django.utils import timezone

from core import heartbeats
from core.failpoints import failpoint
from core.models import EventLog
from core.outages import DEPENDENCY_DOWN

logger = logging.getLogger(__name__)


def enqueue_on_commit(task_obj: Any, /, *args: Any, **kwargs: Any) -> None:
    """Enqueue after the surrounding transaction commits, so the worker sees the rows it needs.

    The work is stored by then. If the queue cannot take the task (Redis down), that is logged, not raised: the
    request that stored the work still answers success (a webhook must not get a 5xx for a body we kept, or the
    sender would redeliver it), and the periodic safety net of that work (core.schedule) picks it up."""
    transaction.on_commit(partial(enqueue_or_leave, task_obj, *args, **kwargs))


def enqueue_or_leave(task_obj: Any, /, *args: Any, **kwargs: Any) -> bool:
    """Enqueue now; False (logged) when the queue is unavailable — for work a safety net will find."""
    try:
        task_obj.enqueue(*args, **kwargs)
    except DEPENDENCY_DOWN as exc:  # the queue is Redis (RQ) or the database (its queue)
        logger.warning("%s stored but not queued (queue unavailable: %s); its safety net will pick it up",
                       getattr(task_obj, "name", task_obj), exc)
        return False
    return True


def enqueue_later(task_obj: Any, when: Any, /, *args: Any) -> bool:
    """Enqueue to run at `when` when the backend can defer; otherwise do nothing and return False (the periodic
    jobs in core.schedule are the safety net; only the in-process ImmediateBackend cannot defer)."""

    backend = task_backends[task_obj.backend]
    if not backend.supports_defer:
        return False
    task_obj.using(run_after=when).enqueue(*args)
    return True


@task()
def queue_probe() -> None:
    """Proves the whole path works — the scheduler enqueued this, a worker ran it — and forgets processes not seen for
    a week. Each process's liveness is its own heartbeat (core.heartbeats), not this job."""
    failpoint("queue_probe.running")
    heartbeats.touch_queue_probe()
    heartbeats.prune()


@task()
def prune_event_log() -> int:
    """The domain-event log keeps EVENT_LOG_RETENTION_DAYS days (integrations read it as a feed, not an archive)."""

    cutoff = timezone.now() - timedelta(days=settings.EVENT_LOG_RETENTION_DAYS)
    deleted, _ = EventLog.objects.filter(occurred_at__lt=cutoff).delete()
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

    deleted, _ = Event.objects.filter(Q(delivered=True) | Q(expires_at__lt=timezone.now())).delete()
    return deleted
