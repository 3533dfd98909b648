from __future__ import annotations

from django.tasks import task

from bots import actions


@task(queue_name="messaging")
def handle_message(message_id: int) -> str:
    """A customer's message, for the bot (idempotent: bots.actions.do_handle_message)."""
    return actions.do_handle_message(message_id)


@task()
def sweep_runs() -> int:
    """Expires runs whose customer stopped answering; resumes paused ones whose time came."""
    return actions.do_sweep()
