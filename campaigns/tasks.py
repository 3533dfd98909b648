"""Background work for campaigns: thin shims over sending and actions (STYLE §8)."""

from __future__ import annotations

from django.tasks import task

from campaigns import actions, sending


# On the inbox's queue, in short runs (campaigns.sending.BUDGET): each run queues the next at the back, so a
# customer's message, a reply to them or Meta's statuses wait at most one run behind a campaign. (Task priorities
# would say it better, but the RQ backend refuses them.)
@task(queue_name="messaging")
def send_campaign(campaign_id: int) -> dict[str, int]:
    """One run of a campaign's sender (it queues the next, or finishes the campaign)."""
    return sending.run(campaign_id)


@task()
def start_due_campaigns() -> int:
    """Periodic (every minute): scheduled campaigns whose time came start; stalled senders get a new run."""
    return actions.do_start_due() + sending.resume_stalled()
