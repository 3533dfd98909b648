"""Campaigns end to end against the fake vendors: the audience stored at launch with who is left out and why, each
recipient sent once at the channel's rate (429 honoured, a killed worker reconciled), statuses moving forward only,
replies and opt-out keywords, clicks, conversions, pause/resume/cancel."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from campaigns import actions, results, sending, tracking
from campaigns.channels import Recipient, adapter_for
from campaigns.choices import CampaignState, RecipientState, ScheduleMode, SkipReason
from campaigns.models import CampaignRecipient, CampaignSettings
from campaigns.stats import summary
from campaigns.tests.helpers import Clock, customer, marketer, promo_template, run_sender, whatsapp_campaign
from connectors.whatsapp.actions import client_for as whatsapp_client_for
from connectors.whatsapp.tests.helpers import clear_tasks, inbound, post, run_worker, statuses
from core.errors import ActionError, InvalidTransition
from core.models import EventLog
from customers.actions import check_merge_customers
from customers.choices import ConsentStatus
from customers.models import Consent, Tag
from fakes import whatsapp as fw
from inbox.models import Message
from orders.events import OrderConfirmed

pytestmark = pytest.mark.django_db
R = RecipientState


@pytest.fixture(autouse=True)
def _tasks():
    clear_tasks()
    yield
    clear_tasks()


@pytest.fixture
def tag(db):
    return Tag.objects.create(name="Inactivo 2026")


@pytest.fixture
def audience(tag):
    """Three reachable customers, and one of each reason to be left out."""
    return {
        "ana": customer("Ana Peña", phone="+573001110001", tag=tag),
        "beto": customer("Alberto Ruiz", phone="+573001110002", tag=tag),
        "carla": customer("Carla Gómez", phone="+573001110003", tag=tag),
        "dora": customer("Dora Ríos", phone="+573001110004", tag=tag, consent=ConsentStatus.OPTED_OUT),
        "eva": customer("Eva Luna", phone="+573001110005", tag=tag, consent=None),
        "fabio": customer("Fabio Paz", tag=tag),
        "otro": customer("Fuera del público", phone="+573001110009"),
    }


@pytest.fixture
def campaign(whatsapp_number, fake_whatsapp, tag, audience):
    user = marketer()
    template = promo_template(whatsapp_number, fake_whatsapp)
    c = whatsapp_campaign(user, whatsapp_number, template, tag)
    c.user = user
    return c


def test_the_launch_stores_the_audience_and_says_who_is_left_out_and_why(campaign):
    # when the marketer launches the campaign
    actions.check_launch(campaign.user, campaign.pk)
    # then the three reachable customers are queued and the others are kept with their reason
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SENDING
    assert (campaign.recipients_count, campaign.skipped_count) == (3, 3)
    reasons = dict(CampaignRecipient.objects.filter(state=R.SKIPPED).values_list("customer__name", "skip_reason"))
    assert reasons == {"Dora Ríos": SkipReason.OPTED_OUT, "Eva Luna": SkipReason.NO_CONSENT,
                       "Fabio Paz": SkipReason.NO_ADDRESS}
    # and a second launch (a double click) is refused without storing anyone twice
    with pytest.raises(InvalidTransition):
        actions.check_launch(campaign.user, campaign.pk)
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 6


def test_each_recipient_gets_the_template_once_with_their_name(campaign, fake_whatsapp):
    actions.check_launch(campaign.user, campaign.pk)
    # when the sender runs, and runs again (a duplicated task)
    tally = run_sender(campaign)
    again = run_sender(campaign)
    # then Meta received one template per reachable customer, named, with our callback data
    sent = fake_whatsapp.state.sent
    assert tally["sent"] == 3 and "sent" not in again
    assert sorted(s["to"] for s in sent) == ["573001110001", "573001110002", "573001110003"]
    ana = next(s for s in sent if s["to"] == "573001110001")
    params = ana["payload"]["template"]["components"][0]["parameters"]
    assert [p["text"] for p in params] == ["Ana", "20%"]
    rid = CampaignRecipient.objects.get(address="+573001110001").pk
    assert ana["payload"]["biz_opaque_callback_data"] == f"campaign:{rid}"
    # and the campaign finished, each recipient with Meta's id
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.FINISHED
    assert set(CampaignRecipient.objects.filter(state=R.SENT).values_list("external_id", flat=True)) == \
        {s["wamid"] for s in sent}


def test_statuses_move_forward_only_and_failures_keep_metas_reason(campaign, fake_whatsapp, whatsapp_number,
                                                                   client, django_capture_on_commit_callbacks):
    actions.check_launch(campaign.user, campaign.pk)
    run_sender(campaign)
    sent = {s["to"]: s for s in fake_whatsapp.state.sent}
    ana, beto = sent["573001110001"], sent["573001110002"]
    # given Meta reports read, then (late) delivered for Ana, and a failure for Alberto
    with django_capture_on_commit_callbacks(execute=True):
        post(client, whatsapp_number, statuses(
            whatsapp_number, fw.status_item(ana["wamid"], "read", ana["to"]),
            fw.status_item(ana["wamid"], "delivered", ana["to"]),
            fw.status_item(beto["wamid"], "failed", beto["to"], error_code=131026)))
    run_worker()
    # then Ana stays read (delivered time filled), Alberto failed with Meta's words
    a = CampaignRecipient.objects.get(address="+573001110001")
    b = CampaignRecipient.objects.get(address="+573001110002")
    assert a.state == R.READ and a.delivered_at is not None and a.read_at is not None
    assert b.state == R.FAILED and "131026" in b.error
    s = summary(campaign)
    assert (s.sent, s.delivered, s.read, s.failed) == (2, 1, 1, 1)


def test_a_status_that_overtakes_the_send_answer_names_the_recipient_by_callback(campaign):
    # given the recipient is being sent (the answer not recorded yet) when Meta's "delivered" arrives
    actions.check_launch(campaign.user, campaign.pk)
    r = CampaignRecipient.objects.filter(state=R.PENDING).first()
    CampaignRecipient.objects.filter(pk=r.pk).update(state=R.SENDING, lease_until=timezone.now() + sending.LEASE)
    assert results.on_whatsapp_status("wamid.X", "delivered", f"campaign:{r.pk}", "", timezone.now())
    # then the row is delivered with the wamid, and recording the send later keeps it delivered
    sending._sent(r.pk, external_id="wamid.X", now=timezone.now(), cost=Decimal("0"), parts=1)
    r.refresh_from_db()
    assert (r.state, r.external_id) == (R.DELIVERED, "wamid.X") and r.sent_at is not None


def test_a_worker_killed_after_meta_accepted_does_not_send_again(campaign, fake_whatsapp, whatsapp_number, client,
                                                                django_capture_on_commit_callbacks):
    actions.check_launch(campaign.user, campaign.pk)
    # given a worker sent Ana's message and died before recording it (the row stays "sending", leased)
    r = CampaignRecipient.objects.get(address="+573001110001")
    started = timezone.now()
    CampaignRecipient.objects.filter(pk=r.pk).update(state=R.SENDING, attempts=1, attempt_started_at=started,
                                                     lease_until=started + sending.LEASE)
    adapter = adapter_for(campaign)
    wamid = adapter.send(Recipient(id=r.pk, address=r.address, customer={"name": "Ana"}),
                         adapter.render(Recipient(id=r.pk, address=r.address, customer={"name": "Ana"})))
    # and Meta's "sent" status reached us meanwhile
    with django_capture_on_commit_callbacks(execute=True):
        post(client, whatsapp_number, statuses(whatsapp_number, fw.status_item(
            wamid, "sent", "573001110001", callback_data=f"campaign:{r.pk}")))
    run_worker()
    # when the lease expires and the sender runs again
    with time_machine.travel(started + sending.LEASE + timedelta(seconds=5), tick=False):
        run_sender(campaign)
    # then Ana got exactly one message, and everyone else one each
    tos = [s["to"] for s in fake_whatsapp.state.sent]
    assert sorted(tos) == ["573001110001", "573001110002", "573001110003"]
    assert CampaignRecipient.objects.get(pk=r.pk).external_id == wamid


def test_an_abandoned_send_that_never_reached_meta_is_sent_after_the_lease(campaign, fake_whatsapp):
    actions.check_launch(campaign.user, campaign.pk)
    r = CampaignRecipient.objects.get(address="+573001110002")
    started = timezone.now()
    CampaignRecipient.objects.filter(pk=r.pk).update(state=R.SENDING, attempts=1, attempt_started_at=started,
                                                     lease_until=started + sending.LEASE)
    # while the lease holds, the row is not touched
    run_sender(campaign)
    assert "573001110002" not in [s["to"] for s in fake_whatsapp.state.sent]
    # after it expires, it is sent once
    with time_machine.travel(started + sending.LEASE + timedelta(seconds=1), tick=False):
        run_sender(campaign)
    assert [s["to"] for s in fake_whatsapp.state.sent].count("573001110002") == 1


def test_sending_is_paced_to_the_rate(campaign, fake_whatsapp):
    # given a campaign at 2 messages per second
    actions.check_save_campaign(campaign.user, campaign.pk, actions.CampaignInput(rate_per_second=2))
    actions.check_launch(campaign.user, campaign.pk)
    clock = Clock()
    run_sender(campaign, clock=clock)
    # then the sender waited about half a second between sends (none for the first)
    assert len(fake_whatsapp.state.sent) == 3
    assert len(clock.waits) == 2 and all(0.49 < w <= 0.5 for w in clock.waits)


def test_metas_rate_limit_is_honoured_and_nobody_is_lost_or_doubled(campaign, fake_whatsapp, settings):
    # given Meta takes 1 message per second and the campaign tries 50
    settings.WHATSAPP_CLIENT_BACKOFF = 0.001
    fake_whatsapp.state.max_per_second = 1
    actions.check_save_campaign(campaign.user, campaign.pk, actions.CampaignInput(rate_per_second=50))
    actions.check_launch(campaign.user, campaign.pk)
    clock = Clock()
    tally = run_sender(campaign, clock=clock)
    # then throttled sends went back in line with a wait, the sender held back…
    assert fake_whatsapp.state.throttled >= 1 and tally.get("later", 0) >= 1
    assert any(w >= 1.0 for w in clock.waits)
    # …and once the waits pass every recipient gets exactly one message
    for _ in range(10):
        if not CampaignRecipient.objects.filter(state__in=[R.PENDING, R.SENDING]).exists():
            break
        with time_machine.travel(timezone.now() + timedelta(minutes=15), tick=False):
            CampaignRecipient.objects.update(next_attempt_at=None)
            fake_whatsapp.state.max_per_second = None
            run_sender(campaign, clock=clock)
    assert sorted(s["to"] for s in fake_whatsapp.state.sent) == ["573001110001", "573001110002", "573001110003"]


def test_pause_stops_the_sender_and_resume_continues(campaign, fake_whatsapp):
    actions.check_launch(campaign.user, campaign.pk)
    actions.check_pause(campaign.user, campaign.pk)
    assert run_sender(campaign) == {"busy": 1}  # not sending: nobody claims it
    assert fake_whatsapp.state.sent == []
    actions.check_resume(campaign.user, campaign.pk)
    run_sender(campaign)
    assert len(fake_whatsapp.state.sent) == 3


def test_cancel_keeps_what_was_sent_and_sends_nothing_more(campaign, fake_whatsapp):
    actions.check_launch(campaign.user, campaign.pk)
    first = CampaignRecipient.objects.filter(state=R.PENDING).order_by("pk").values("pk", "address", "state",
                                                                                     "attempts",
                                                                                     "attempt_started_at",
                                                                                     "customer__name",
                                                                                     "customer__city",
                                                                                     "customer__department",
                                                                                     "customer__language").first()
    adapter = adapter_for(campaign)
    assert sending.send_one(adapter, first, now=timezone.now()) == "sent"
    actions.check_cancel(campaign.user, campaign.pk)
    run_sender(campaign)
    assert len(fake_whatsapp.state.sent) == 1
    s = summary(campaign)
    assert (s.sent, s.cancelled) == (1, 2)


def test_a_scheduled_campaign_starts_at_its_time(campaign, fake_whatsapp):
    start = timezone.now() + timedelta(hours=2)
    actions.check_save_campaign(campaign.user, campaign.pk, actions.CampaignInput(schedule_mode=ScheduleMode.AT,
                                                                                   starts_at=start))
    actions.check_launch(campaign.user, campaign.pk)
    assert actions.do_start_due() == 0
    with time_machine.travel(start + timedelta(seconds=1), tick=False):
        assert actions.do_start_due() == 1
        run_sender(campaign)
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.FINISHED and len(fake_whatsapp.state.sent) == 3


def test_local_time_sends_inside_the_customers_allowed_hours():
    bogota, mexico = ZoneInfo("America/Bogota"), ZoneInfo("America/Mexico_City")
    window = (time(9), time(19))
    # 07:00 in Bogotá waits until 09:00 there; 12:00 goes at once; 20:00 waits for tomorrow's 09:00
    early = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # 07:00 Bogotá
    assert actions.local_send_time(early, bogota, window) == datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    noon = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
    assert actions.local_send_time(noon, bogota, window) == noon
    late = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)  # 20:00 Bogotá, 19:00 Ciudad de México
    assert actions.local_send_time(late, bogota, window) == datetime(2026, 12, 8, 14, 0, tzinfo=UTC)
    assert actions.local_send_time(late, mexico, window) == datetime(2026, 12, 8, 15, 0, tzinfo=UTC)
    # and a phone number tells the zone
    assert str(actions.zone_for("+573001110001")) == "America/Bogota"
    assert str(actions.zone_for("+525512345678")) == "America/Mexico_City"


def test_the_daily_tier_holds_the_rest_for_later(campaign, fake_whatsapp):
    config = CampaignSettings.load()
    config.whatsapp_daily_limit = 2
    config.save()
    actions.check_launch(campaign.user, campaign.pk)
    tally = run_sender(campaign)
    assert len(fake_whatsapp.state.sent) == 2 and tally.get("daily_limit") == 1
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SENDING and "límite diario" in campaign.sender_note


# --- replies, opt-outs, clicks, conversions ----------------------------------------------------------------


def _customer_writes(client, number, phone: str, text: str, wamid: str, capture) -> Message:
    with capture(execute=True):
        post(client, number, inbound(number, fw.text_message(phone, text, wamid=wamid), wa_id=phone))
    with capture(execute=True):
        run_worker()
    return Message.objects.get(external_id=wamid)


def test_a_reply_lands_in_the_inbox_attributed_to_the_campaign(campaign, client, whatsapp_number,
                                                              django_capture_on_commit_callbacks):
    actions.check_launch(campaign.user, campaign.pk)
    run_sender(campaign)
    # when Ana answers
    message = _customer_writes(client, whatsapp_number, "573001110001", "¡Me interesa! ¿Qué hay?", "wamid.r1",
                               django_capture_on_commit_callbacks)
    # then her recipient row is replied, with the conversation, and the agent reads why in a note
    r = CampaignRecipient.objects.get(address="+573001110001")
    assert r.replied_at is not None and r.reply_conversation_id == message.conversation_id
    note = Message.objects.filter(conversation=message.conversation, kind="note").last()
    assert "Respuesta a la campaña «Te extrañamos»" in note.body
    assert EventLog.objects.filter(type="campaign.replied").count() == 1
    assert summary(campaign).replied == 1


@pytest.mark.parametrize("text", ["BAJA", "baja.", "No más", "STOP", "  no   mas!! "])
def test_an_opt_out_keyword_records_it_at_once_and_confirms_once(campaign, client, whatsapp_number, text,
                                                                 django_capture_on_commit_callbacks):
    actions.check_launch(campaign.user, campaign.pk)
    run_sender(campaign)
    # when Ana writes an opt-out keyword, twice
    first = _customer_writes(client, whatsapp_number, "573001110001", text, "wamid.o1",
                             django_capture_on_commit_callbacks)
    _customer_writes(client, whatsapp_number, "573001110001", "BAJA", "wamid.o2",
                     django_capture_on_commit_callbacks)
    # then her WhatsApp consent is an opt-out by keyword, and she was told once
    consent = Consent.objects.get(customer__name="Ana Peña", channel="whatsapp")
    assert (consent.status, consent.opt_out_method) == (ConsentStatus.OPTED_OUT, Consent.Method.KEYWORD)
    confirmations = Message.objects.filter(conversation=first.conversation, kind="outbound",
                                           meta__automation="campaigns.opt_out")
    assert confirmations.count() == 1
    assert summary(campaign).unsubscribed == 1


def test_a_sentence_containing_baja_is_not_an_opt_out():
    keywords = CampaignSettings.load().keywords()
    assert results.is_opt_out("Bája", keywords)
    assert not results.is_opt_out("¿La promo baja de precio?", keywords)
    assert not results.is_opt_out("", keywords)


def test_a_click_redirects_and_counts_and_a_forged_token_is_404(campaign, client):
    actions.check_launch(campaign.user, campaign.pk)
    run_sender(campaign)
    r = CampaignRecipient.objects.get(address="+573001110001")
    url = tracking.click_url(r.pk, campaign)
    assert url.endswith(reverse("campaigns:click", args=[tracking.token(r.pk)]))
    response = client.get(reverse("campaigns:click", args=[tracking.token(r.pk)]))
    assert response.status_code == 302 and response["Location"] == "https://tienda.example.test/vuelve"
    client.get(reverse("campaigns:click", args=[tracking.token(r.pk)]))
    r.refresh_from_db()
    assert r.clicks == 2 and r.clicked_at is not None
    forged = tracking.token(r.pk)[:-1] + ("A" if not tracking.token(r.pk).endswith("A") else "B")
    assert client.get(reverse("campaigns:click", args=[forged])).status_code == 404
    assert client.get(reverse("campaigns:click", args=["zz"])).status_code == 404
    assert client.get(reverse("campaigns:click_n", args=[tracking.token(r.pk), 7])).status_code == 404


def test_an_order_within_the_window_is_a_conversion_and_later_is_not(campaign):
    actions.check_launch(campaign.user, campaign.pk)
    run_sender(campaign)
    ana = CampaignRecipient.objects.get(address="+573001110001")
    beto = CampaignRecipient.objects.get(address="+573001110002")
    def confirmed(customer_id: int, order_id: int, total: str) -> OrderConfirmed:
        return OrderConfirmed(order_id=order_id, number=f"P-{order_id}", customer_id=customer_id, lead_id=None,
                              total=Decimal(total), currency="COP", order={})
    # Ana buys 3 days later (inside the 7-day window); Alberto 8 days later (outside)
    with time_machine.travel(timezone.now() + timedelta(days=3), tick=False):
        results.on_order_confirmed(confirmed(ana.customer_id, 501, "180000"))
    with time_machine.travel(timezone.now() + timedelta(days=8), tick=False):
        results.on_order_confirmed(confirmed(beto.customer_id, 502, "90000"))
    ana.refresh_from_db()
    beto.refresh_from_db()
    assert (ana.order_id, ana.revenue) == (501, Decimal("180000.00")) and beto.converted_at is None
    # and the ROI reads revenue against cost (one message at the configured price)
    CampaignRecipient.objects.filter(campaign=campaign).exclude(state=R.SKIPPED).update(cost=Decimal("150"))
    s = summary(campaign)
    assert (s.converted, s.revenue, s.cost) == (1, Decimal("180000.00"), Decimal("450"))
    assert s.roi == (Decimal("180000") - Decimal("450")) / Decimal("450")


def test_launch_refuses_an_incomplete_campaign_naming_every_problem(whatsapp_number, tag):
    user = marketer()
    c = actions.check_save_campaign(user, None, actions.CampaignInput(name="Sin contenido"))
    with pytest.raises(ActionError) as err:
        actions.check_launch(user, c.pk)
    assert set(err.value.details["errors"]) >= {"wa_number", "wa_template"}


def test_an_audience_nobody_can_receive_is_refused(campaign, audience):
    Consent.objects.update(status=ConsentStatus.OPTED_OUT)
    with pytest.raises(ActionError) as err:
        actions.check_launch(campaign.user, campaign.pk)
    assert err.value.code == "empty_audience"
    assert CampaignRecipient.objects.count() == 0  # the transaction rolled back


def test_a_test_send_reaches_the_tester_and_counts_nothing(campaign, fake_whatsapp):
    sent = actions.check_test_send(campaign.user, campaign.pk, address="300 999 8877")
    assert sent.address == "+573009998877" and "te extrañamos" in sent.text
    assert [s["to"] for s in fake_whatsapp.state.sent] == ["573009998877"]
    assert CampaignRecipient.objects.count() == 0
    with pytest.raises(ActionError):
        actions.check_test_send(campaign.user, campaign.pk, address="no es un teléfono")


def test_an_abandoned_send_waits_while_status_webhooks_are_still_unprocessed(
        campaign, fake_whatsapp, whatsapp_number, client, django_capture_on_commit_callbacks):
    # given a send abandoned mid-call, and Meta's webhooks received but not processed yet (a busy worker)
    actions.check_launch(campaign.user, campaign.pk)
    r = CampaignRecipient.objects.get(address="+573001110003")
    started = timezone.now()
    CampaignRecipient.objects.filter(pk=r.pk).update(state=R.SENDING, attempts=1, attempt_started_at=started,
                                                     lease_until=started + sending.LEASE)
    with time_machine.travel(started + timedelta(seconds=30), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        post(client, whatsapp_number, statuses(whatsapp_number, fw.status_item("wamid.otro", "sent", "57300")))
    # when the lease expires, the sender does not guess: the row waits for those statuses
    with time_machine.travel(started + sending.LEASE + timedelta(seconds=1), tick=False):
        tally = run_sender(campaign)
    assert tally.get("waiting") == 1
    assert "573001110003" not in [s["to"] for s in fake_whatsapp.state.sent]
    r.refresh_from_db()
    assert (r.state, r.attempts) == (R.SENDING, 1)
    # once they are processed (none was Carla's), her message is sent, once
    run_worker()
    with time_machine.travel(started + sending.LEASE + timedelta(minutes=2), tick=False):
        run_sender(campaign)
    assert [s["to"] for s in fake_whatsapp.state.sent].count("573001110003") == 1


def test_an_emptied_rate_or_cost_goes_back_to_the_channels(campaign):
    actions.check_save_campaign(campaign.user, campaign.pk, actions.CampaignInput(rate_per_second=5,
                                                                                   cost_per_message="120,5"))
    campaign.refresh_from_db()
    assert (campaign.rate_per_second, campaign.cost_per_message) == (5, Decimal("120.5000"))
    actions.check_save_campaign(campaign.user, campaign.pk, actions.CampaignInput(rate_per_second=0,
                                                                                   cost_per_message=""))
    campaign.refresh_from_db()
    assert (campaign.rate_per_second, campaign.cost_per_message) == (None, None)


def test_settings_refuse_a_zero_rate_and_a_negative_cost_naming_both(campaign):
    with pytest.raises(ActionError) as err:
        actions.check_save_settings(campaign.user, {"whatsapp_rate": 0, "cost_sms": Decimal("-1")})
    assert set(err.value.details["errors"]) == {"whatsapp_rate", "cost_sms"}
    assert CampaignSettings.load().whatsapp_rate == 20
    with pytest.raises(ActionError):
        actions.check_save_settings(campaign.user, {"no_such_field": 1})


def test_an_opt_out_recorded_by_an_agent_during_the_send_is_honoured(campaign, fake_whatsapp):
    actions.check_launch(campaign.user, campaign.pk)
    # given an agent records Alberto's opt-out after the launch
    Consent.objects.filter(customer__name="Alberto Ruiz", channel="whatsapp").update(status=ConsentStatus.OPTED_OUT)
    tally = run_sender(campaign)
    # then he is left out, with the reason, and the others receive it
    assert tally.get("skipped") == 1
    assert sorted(s["to"] for s in fake_whatsapp.state.sent) == ["573001110001", "573001110003"]
    beto = CampaignRecipient.objects.get(address="+573001110002")
    assert (beto.state, beto.skip_reason) == (R.SKIPPED, SkipReason.OPTED_OUT)


def test_a_timeout_after_the_request_left_is_reconciled_not_resent(campaign):
    # given Meta's answer to a send never arrives (a read timeout: it may have taken the message)
    actions.check_launch(campaign.user, campaign.pk)
    first = CampaignRecipient.objects.order_by("pk").filter(state=R.PENDING).first()

    def no_answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    adapter = adapter_for(campaign)
    adapter._client = whatsapp_client_for(campaign.wa_number, transport=httpx.MockTransport(no_answer))
    row = CampaignRecipient.objects.filter(pk=first.pk).values(*sending.FIELDS).get()
    outcome = sending.send_one(adapter, row, now=timezone.now())
    # then the row stays "sending" under its lease (reconciled when it ends), not back in line to be sent again
    first.refresh_from_db()
    assert outcome == "unknown"
    assert first.state == R.SENDING and first.next_attempt_at is None
    assert first.lease_until is not None and first.lease_until > timezone.now()


def test_cancel_also_closes_sends_a_dead_worker_abandoned(campaign):
    actions.check_launch(campaign.user, campaign.pk)
    r = CampaignRecipient.objects.filter(state=R.PENDING).first()
    CampaignRecipient.objects.filter(pk=r.pk).update(state=R.SENDING, lease_until=timezone.now() - timedelta(1))
    actions.check_cancel(campaign.user, campaign.pk)
    s = summary(campaign)
    assert s.queued == 0 and s.cancelled == 3


def test_the_latest_campaign_takes_the_purchase_even_when_it_already_converted_once(campaign, fake_whatsapp):
    actions.check_launch(campaign.user, campaign.pk)
    run_sender(campaign)
    ana = CampaignRecipient.objects.get(address="+573001110001")

    def order(n: int) -> OrderConfirmed:
        return OrderConfirmed(order_id=n, number=f"P-{n}", customer_id=ana.customer_id, lead_id=None,
                              total=Decimal("1000"), currency="COP", order={})
    results.on_order_confirmed(order(1))
    results.on_order_confirmed(order(2))  # the same (latest) campaign already has its conversion: nobody else
    ana.refresh_from_db()
    assert ana.order_id == 1
    assert CampaignRecipient.objects.filter(converted_at__isnull=False).count() == 1


def test_the_unsubscribe_page_is_for_email_only(campaign, client):
    actions.check_launch(campaign.user, campaign.pk)
    r = CampaignRecipient.objects.filter(state=R.PENDING).first()
    assert client.get(reverse("campaigns:unsubscribe", args=[tracking.token(r.pk)])).status_code == 404


def test_merging_a_duplicate_keeps_its_campaign_history(campaign, audience, make_user):
    actions.check_launch(campaign.user, campaign.pk)
    run_sender(campaign)
    # given Eva (left out: no consent) turns out to be Ana (reached) under another record
    eva, ana = audience["eva"], audience["ana"]
    check_merge_customers(make_user(Role.SUPERVISOR), keep_id=eva.pk, merge_id=ana.pk)
    # then the kept customer has one row for the campaign: the one that reached her, with its results
    rows = CampaignRecipient.objects.filter(campaign=campaign, customer=eva)
    assert rows.count() == 1 and rows.get().state == R.SENT
    assert summary(campaign).sent == 3
