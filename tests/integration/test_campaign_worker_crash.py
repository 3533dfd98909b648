"""Issue 17, "campaign idempotency with a real worker killed mid-send": real `db_worker` processes running a campaign's
sender, killed with SIGKILL while Meta holds a template send, then a fresh worker — against the test database (a
SQLite file, or PostgreSQL when DATABASE_URL says so).

The fake Graph API parks one send (fakes.server.RequestHolds) so the kill lands mid-call deterministically: either the
call dies with its client (Meta never took it) or Meta takes it anyway and its "sent" status arrives later carrying
the recipient (biz_opaque_callback_data). The leases running out are simulated by moving them into the past from the
test (the workers are other processes: time-machine cannot reach them). Every wait polls the database or the fake
with a generous deadline; nothing asserts on elapsed time. Asserted: every customer got exactly one message.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from campaigns import actions, tasks
from campaigns.choices import CampaignState, RecipientState
from campaigns.models import Campaign, CampaignRecipient
from campaigns.tests.helpers import customer, marketer, promo_template, whatsapp_campaign
from connectors.whatsapp.tests.helpers import clear_tasks, post, statuses
from customers.models import Tag
from fakes import whatsapp as fw
from tests.processes import DB_QUEUE, kill_hard, wait_for, worker

pytestmark = pytest.mark.faults
PHONES = [f"+5730011100{n:02d}" for n in range(1, 7)]


@pytest.fixture
def campaign(transactional_db, whatsapp_number, fake_whatsapp):
    clear_tasks()
    tag = Tag.objects.create(name="Crash")
    for n, phone in enumerate(PHONES):
        customer(f"Cliente {n}", phone=phone, tag=tag)
    user = marketer()
    c = whatsapp_campaign(user, whatsapp_number, promo_template(whatsapp_number, fake_whatsapp), tag,
                          rate_per_second=50)
    c.user = user
    return c


def _expire_leases(campaign: Campaign) -> None:
    past = timezone.now() - timedelta(seconds=1)
    Campaign.objects.filter(pk=campaign.pk).update(sender_lease_until=past)
    CampaignRecipient.objects.filter(campaign=campaign, state=RecipientState.SENDING).update(lease_until=past)


def _finished(campaign: Campaign) -> bool:
    return Campaign.objects.get(pk=campaign.pk).state == CampaignState.FINISHED


def test_a_send_dropped_with_its_killed_worker_is_sent_once_by_the_next(campaign, fake_whatsapp):
    # given Meta parks the first send and drops it if its client dies meanwhile
    fake_whatsapp.state.hold_next(path="/messages", method="POST", on_disconnect="drop")
    with override_settings(TASKS=DB_QUEUE):
        actions.check_launch(campaign.user, campaign.pk)
        tasks.send_campaign.enqueue(campaign_id=campaign.pk)
        # when the worker sending it is killed mid-call
        with worker("campaign-1") as (first, log):
            wait_for(lambda: fake_whatsapp.state.holds.snapshot()["held"] == 1, "a send to reach the fake", log)
            kill_hard(first)
        wait_for(lambda: fake_whatsapp.state.holds.snapshot()["dropped"] == 1, "the fake to see the client die")
        stuck = CampaignRecipient.objects.get(campaign=campaign, state=RecipientState.SENDING)
        assert stuck.attempt_started_at is not None
        # and, the leases run out, a new worker runs the every-minute job
        _expire_leases(campaign)
        with worker("campaign-2") as (_second, log):
            tasks.start_due_campaigns.enqueue()
            wait_for(lambda: _finished(campaign), "the campaign to finish", log)
    # then every customer got exactly one message
    assert sorted(Counter(s["to"] for s in fake_whatsapp.state.sent).items()) == \
        [(p.lstrip("+"), 1) for p in PHONES]
    assert CampaignRecipient.objects.filter(campaign=campaign, state=RecipientState.SENT).count() == len(PHONES)


def test_a_send_meta_took_before_the_kill_is_reconciled_by_its_status_not_resent(campaign, fake_whatsapp, client,
                                                                                whatsapp_number):
    # given Meta parks a send and completes it even though the client dies (it took the message)
    fake_whatsapp.state.hold_next(path="/messages", method="POST", on_disconnect="complete")
    with override_settings(TASKS=DB_QUEUE):
        actions.check_launch(campaign.user, campaign.pk)
        tasks.send_campaign.enqueue(campaign_id=campaign.pk)
        with worker("campaign-3") as (first, log):
            wait_for(lambda: fake_whatsapp.state.holds.snapshot()["held"] == 1, "a send to reach the fake", log)
            kill_hard(first)
        fake_whatsapp.state.release()
        wait_for(lambda: len(fake_whatsapp.state.sent) >= 1, "Meta to take the parked send")
        taken = fake_whatsapp.state.sent[-1]
        # and Meta's "sent" status for it reaches our webhook (processed by the next worker)
        post(client, whatsapp_number, statuses(whatsapp_number, fw.status_item(
            taken["wamid"], "sent", taken["to"], callback_data=taken["payload"]["biz_opaque_callback_data"])))
        _expire_leases(campaign)
        with worker("campaign-4") as (_second, log):
            tasks.start_due_campaigns.enqueue()
            wait_for(lambda: _finished(campaign), "the campaign to finish", log)
    # then the customer whose send was interrupted got one message, the one Meta took
    counts = Counter(s["to"] for s in fake_whatsapp.state.sent)
    assert sorted(counts.items()) == [(p.lstrip("+"), 1) for p in PHONES]
    reconciled = CampaignRecipient.objects.get(campaign=campaign, external_id=taken["wamid"])
    assert reconciled.state == RecipientState.SENT and reconciled.attempts == 1
