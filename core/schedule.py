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
    PeriodicJob("sync_whatsapp_templates", "connectors.whatsapp.tasks.sync_whatsapp_templates", timedelta(hours=1),
                "Templates get approved or paused in Meta's UI; the conversation's picker must show the current ones."),
    PeriodicJob("whatsapp_safety_net", "connectors.whatsapp.tasks.whatsapp_safety_net", timedelta(minutes=1),
                "WhatsApp webhooks and sends whose task was lost (worker died, deferred task gone) are retried."),
    PeriodicJob("poll_mailboxes", "connectors.mail.tasks.poll_due_mailboxes", timedelta(seconds=15),
                "IMAP mailboxes whose polling interval passed are polled (each mailbox sets its own interval)."),
    PeriodicJob("retry_mail", "connectors.mail.tasks.retry_mail", timedelta(minutes=1),
                "Outbound emails due for a retry and webhook mails whose processing failed or was lost."),
    PeriodicJob("notify_due_tasks", "connectors.mail.tasks.notify_due_tasks", timedelta(minutes=1),
                "The responsible of a task that fell due gets an email (once per due date)."),
    PeriodicJob("prune_mail_log", "connectors.mail.tasks.prune_mail_log", timedelta(hours=24),
                "Raw webhook bodies are kept a week to debug, intake log rows three months."),
    PeriodicJob("refresh_reports", "reports.tasks.refresh_reports", timedelta(seconds=20),
                "Dashboard rollups stay within a minute of the live data (the dashboard also folds pending changes "
                "in before it reads); crossing midnight trims the two-year horizon."),
    PeriodicJob("fail_abandoned_imports", "reports.tasks.fail_abandoned_imports", timedelta(minutes=30),
                "A history import whose worker died would show \"procesando\" forever; it ends as failed instead."),
    PeriodicJob("apply_retention", "reports.tasks.apply_retention", timedelta(hours=24),
                "RETENTION_MODE=delete removes conversations older than the two-year horizon."),
    PeriodicJob("prune_channel_layer", "core.tasks.prune_channel_layer", timedelta(minutes=5),
                "The SQLite channel layer keeps delivered and expired messages until cleaned."),
)
