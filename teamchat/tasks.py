from __future__ import annotations

from django.tasks import task

from core.tasks import enqueue_on_commit
from teamchat import actions


@task()
def sync_team_channels() -> int:
    """One channel per team with the team's members (idempotent)."""
    return actions.do_sync_team_channels()


@task()
def purge_expired() -> int:
    """Deletes one batch of messages past the retention period and queues the next while a full batch went."""
    deleted = actions.do_purge_expired()
    if deleted >= actions.PURGE_BATCH:
        enqueue_on_commit(purge_expired)
    return deleted
