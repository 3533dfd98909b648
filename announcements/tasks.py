"""Background work for announcements: a thin shim over the actions (STYLE §8)."""

from __future__ import annotations

from django.tasks import task

from announcements import actions


@task()
def publish_due_announcements() -> int:
    """Periodic (every minute): scheduled announcements whose time came are published, a bounded batch per run;
    while some remain (a backlog after downtime) the task queues itself again. Safe to repeat (the action locks and
    re-checks each one)."""
    published = actions.do_publish_due()
    if published >= actions.DUE_BATCH and actions.due_remaining():
        publish_due_announcements.enqueue()
    return published
