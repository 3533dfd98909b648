"""Every periodic job, its cadence and why (STYLE §8). `manage.py run_scheduler` enqueues them.

The scheduler only enqueues; the worker of the configured backend (database queue or RQ) runs the
job, so the same schedule works in embedded and scale mode. Later issues append to SCHEDULE.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: str  # dotted path of a django.tasks Task
    every: timedelta
    reason: str


SCHEDULE: tuple[PeriodicJob, ...] = (
    PeriodicJob("worker_heartbeat", "core.tasks.worker_heartbeat", timedelta(seconds=30),
                "Lets /readyz and the system page tell whether a worker is consuming the queue."),
    PeriodicJob("prune_login_failures", "core.tasks.prune_login_failures", timedelta(hours=6),
                "Login failures older than 30 days are not needed for throttling."),
    PeriodicJob("prune_finished_task_results", "core.tasks.prune_finished_task_results", timedelta(hours=1),
                "The database queue keeps finished results; a week is enough to debug."),
    PeriodicJob("drain_kommo_outbox", "crm.tasks.drain_kommo_outbox", timedelta(seconds=30),
                "Safety net for the Kommo outbox: rows due after an outage go out even if a deferred task is lost."),
    PeriodicJob("deliver_webhooks", "webhooks.tasks.deliver_webhooks", timedelta(seconds=30),
                "Safety net for outgoing signed webhooks (same reason)."),
    PeriodicJob("return_stale_conversations", "inbox.tasks.return_stale_conversations", timedelta(seconds=60),
                "Conversations held by an agent who went offline or did not answer in time return to the pool."),
    PeriodicJob("prune_channel_layer", "core.tasks.prune_channel_layer", timedelta(minutes=5),
                "The SQLite channel layer keeps delivered and expired messages until cleaned."),
)
