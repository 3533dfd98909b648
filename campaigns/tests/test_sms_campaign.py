"""An SMS campaign against the fake Twilio: segments counted into the cost, Twilio's 429 honoured, statuses from its
signed callbacks, an abandoned send reconciled by asking Twilio, and "BAJA" by SMS opting the customer out."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from campaigns import actions, sending
from campaigns.choices import CampaignChannel, RecipientState
from campaigns.models import CampaignRecipient
from campaigns.tests.helpers import Clock, customer, marketer, run_sender
from connectors.sms.tests.helpers import post_callback
from connectors.sms.tests.helpers import run_worker as run_sms_worker
from customers.choices import ConsentStatus
from customers.models import Consent, Tag
from inbox.models import Message

pytestmark = pytest.mark.django_db
R = RecipientState


@pytest.fixture
def campaign(sms_account):
    tag = Tag.objects.create(name="Urgente")
    customer("Rosa Díaz", phone="+573004440001", channel="sms", tag=tag)
    customer("Pedro Páez", phone="+573004440002", channel="sms", tag=tag)
    user = marketer()
    c = actions.check_save_campaign(user, None, actions.CampaignInput(
        name="Último día", channel=CampaignChannel.SMS, objective="ventas", audience={"tags": [tag.pk]},
        sms_account_id=sms_account.pk,
        body="{{nombre}}: hoy termina la promo, 30% menos. Responda BAJA para no recibir más.",
        cost_per_message=Decimal("45")))
    c.user = user
    return c


def test_each_customer_gets_one_sms_and_the_segments_set_the_cost(campaign, fake_sms):
    actions.check_launch(campaign.user, campaign.pk)
    run_sender(campaign)
    sent = fake_sms.state.sent
    assert sorted(m["to"] for m in sent) == ["+573004440001", "+573004440002"]
    assert next(m for m in sent if m["to"] == "+573004440001")["body"].startswith("Rosa: hoy termina")
    rosa = CampaignRecipient.objects.get(address="+573004440001")
    # "más" is outside GSM-7: the whole text is UCS-2, 70 characters a segment (67 when split) → 2 segments
    assert (rosa.state, rosa.parts, rosa.cost) == (R.SENT, 2, Decimal("90.0000"))
    assert rosa.external_id.startswith("SM")


def test_twilios_429_is_honoured_and_nobody_is_doubled(campaign, fake_sms):
    fake_sms.state.fail_next(status=429, code=20429, retry_after=2)
    actions.check_launch(campaign.user, campaign.pk)
    clock = Clock()
    tally = run_sender(campaign, clock=clock)
    assert tally.get("later") == 1 and 2.0 in clock.waits  # held back exactly Retry-After
    with time_machine.travel(timezone.now() + timedelta(seconds=3), tick=False):
        run_sender(campaign, clock=clock)
    assert sorted(m["to"] for m in fake_sms.state.sent) == ["+573004440001", "+573004440002"]


def test_callbacks_move_recipients_forward_and_a_failure_keeps_twilios_reason(campaign, fake_sms, client,
                                                                               django_capture_on_commit_callbacks):
    # given Pedro's handset is unreachable (Twilio reports "failed" with 30003)
    fake_sms.state.unreachable.add("+573004440002")
    actions.check_launch(campaign.user, campaign.pk)
    run_sender(campaign)
    # when Twilio's signed callbacks arrive (the fake hands them over; delivered twice, as Twilio may)
    callbacks = fake_sms.state.take_callbacks()
    with django_capture_on_commit_callbacks(execute=True):
        for callback in [*callbacks, *callbacks]:
            post_callback(client, callback)
    run_sms_worker()
    # then Rosa is delivered and Pedro failed with Twilio's words
    rosa = CampaignRecipient.objects.get(address="+573004440001")
    pedro = CampaignRecipient.objects.get(address="+573004440002")
    assert rosa.state == R.DELIVERED and rosa.delivered_at is not None
    assert pedro.state == R.FAILED and "30003" in pedro.error


def test_an_abandoned_send_twilio_accepted_is_adopted_not_resent(campaign, fake_sms):
    actions.check_launch(campaign.user, campaign.pk)
    rosa = CampaignRecipient.objects.get(address="+573004440001")
    started = timezone.now()
    CampaignRecipient.objects.filter(pk=rosa.pk).update(state=R.SENDING, attempts=1, attempt_started_at=started,
                                                        lease_until=started + sending.LEASE)
    # the worker had sent Rosa's SMS and died before recording Twilio's answer
    adapter = sending.adapter_for(campaign)
    r = sending._recipient(CampaignRecipient.objects.filter(pk=rosa.pk).values(*sending.FIELDS).get())
    sid = adapter.send(r, adapter.render(r))
    with time_machine.travel(started + sending.LEASE + timedelta(seconds=1), tick=False):
        tally = run_sender(campaign)
    assert tally.get("reconciled") == 1
    assert [m["to"] for m in fake_sms.state.sent].count("+573004440001") == 1
    rosa.refresh_from_db()
    assert (rosa.state, rosa.external_id) == (R.SENT, sid)


def test_baja_by_sms_records_the_opt_out(campaign, fake_sms, client, django_capture_on_commit_callbacks):
    actions.check_launch(campaign.user, campaign.pk)
    run_sender(campaign)
    with django_capture_on_commit_callbacks(execute=True):
        request = fake_sms.state.inbound_request("+573004440001", "Baja")
        post_callback(client, request)
    with django_capture_on_commit_callbacks(execute=True):
        run_sms_worker()
    consent = Consent.objects.get(customer__name="Rosa Díaz", channel="sms")
    assert (consent.status, consent.opt_out_method) == (ConsentStatus.OPTED_OUT, Consent.Method.KEYWORD)
    confirmation = Message.objects.filter(kind="outbound", meta__automation="campaigns.opt_out")
    assert confirmation.count() == 1 and confirmation.get().conversation.channel == "sms"
