from __future__ import annotations

from django.tasks import task


@task()
def return_stale_conversations() -> int:
    """Conversations whose agent went offline, or that waited too long for a first answer, go back to the pool."""
    from inbox.actions import do_return_stale_to_pool

    return do_return_stale_to_pool()
