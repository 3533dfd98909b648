"""Issue 16: service levels — clocks per channel (WhatsApp 5 min, email 2 h, web chat 1 min), measured in business
hours or calendar time, paused while En espera; breaches found by the sweep once, with a sentence on the history, a
live alert to the agent and the inbox's supervisors and the `sla.breached` event; a case not resolved 15 minutes
after its assignment goes to a supervisor. Time is frozen, never waited for."""

from __future__ import annotations

import importlib
import json
from datetime import datetime, time, timedelta
from itertools import count
from zoneinfo import ZoneInfo

import pytest
import time_machine
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core import mail
from django.tasks import default_task_backend

from accounts.hours import BusinessClock
from accounts.models import BusinessHours, Holiday
from accounts.tests.factories import TeamFactory
from automation import sla
from automation.models import SlaDaily, SlaPolicy, SlaTimer
from connectors.mail.models import Mailbox
from connectors.mail.tests.helpers import run_queued
from core.models import EventLog
from inbox import actions as inbox
from inbox.choices import ConversationState
from inbox.describe import annotate_timeline
from inbox.models import Conversation, ConversationEvent, Inbox
from inbox.selectors import sorted_page, timeline
from realtime.events import user_group

pytestmark = pytest.mark.django_db
BOGOTA = ZoneInfo("America/Bogota")
_phones = count(1)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BOGOTA)


def write(channel: str = "whatsapp", name: str = "Ana Peña", body: str = "Hola, ¿tienen envío a Cali?",
          phone: str | None = None) -> Conversation:
    phone = phone or f"301{next(_phones):07d}"
    kwargs = {"emails": [f"{phone}@example.com"]} if channel == "email" else {"phones": [phone]}
    c, _m, _new = inbox.do_receive_inbound(channel=channel, body=body, customer_name=name, **kwargs)
    c.refresh_from_db()
    return c


def sentences(c: Conversation) -> list[str]:
    items = timeline(c, limit=100)
    annotate_timeline(items)
    return [str(i["text"]) for i in items if i["type"] == "event"]


def daily(**filters) -> tuple[int, int]:
    rows = SlaDaily.objects.filter(**filters)
    return sum(r.met for r in rows), sum(r.breached for r in rows)


@pytest.fixture(autouse=True)
def default_policies():
    """The policies of a fresh installation, written by the data migration itself (a transactional test run earlier
    on this worker may have flushed them)."""
    from django.apps import apps

    SlaPolicy.objects.all().delete()
    importlib.import_module("automation.migrations.0004_default_sla_policies").forwards(apps, None)


def test_default_policies_follow_the_teams_protocol():
    # given a fresh installation, then the policies of the seed's protocol are there, timed in calendar time
    policies = {p.channel: p for p in SlaPolicy.objects.filter(inbox=None)}
    assert {ch: p.first_response_seconds for ch, p in policies.items()} == {
        "whatsapp": 300, "email": 7200, "webchat": 60}
    assert {ch: p.escalate_after_seconds for ch, p in policies.items()} == {
        "whatsapp": 900, "email": 7200, "webchat": 900}
    assert all(p.pause_on_hold and not p.business_hours for p in policies.values())


@pytest.mark.parametrize(("channel", "minutes"), [("whatsapp", 5), ("email", 120), ("webchat", 1)])
def test_first_response_is_due_per_channel_and_met_by_the_answer(channel, minutes, agent):
    Mailbox.objects.create(address="ventas@example.test", smtp_host="127.0.0.1")  # email answers need a mailbox
    # given a customer writing at 10:00 on each channel
    with time_machine.travel(local(2026, 12, 1, 10, 0), tick=False):
        c = write(channel)
    # then the conversation is due at the channel's target, amber at 80 % of it
    assert c.sla_due_at == local(2026, 12, 1, 10, 0) + timedelta(minutes=minutes)
    assert c.sla_warn_at == local(2026, 12, 1, 10, 0) + timedelta(minutes=minutes * 0.8)
    # when the agent answers in time
    Conversation.objects.filter(pk=c.pk).update(assignee=agent)
    with time_machine.travel(c.sla_due_at - timedelta(seconds=10), tick=False):
        inbox.check_send_reply(agent, c.pk, body="¡Hola! Sí, enviamos a todo el país.")
    # then nothing is due any more and the answer counts as met, for the agent, on the channel
    c.refresh_from_db()
    assert c.sla_due_at is None
    assert daily(channel=channel, agent=agent, target="first_response") == (1, 0)
    # and the sweep, even late, finds nothing
    with time_machine.travel(local(2026, 12, 1, 23, 0), tick=False):
        assert sla.do_detect_breaches() == 0


def test_a_breach_is_found_once_told_in_words_and_alerted_live(agent, supervisor,
                                                                django_capture_on_commit_callbacks):
    # given a WhatsApp conversation of an agent, and the agent and a supervisor listening live
    layer = get_channel_layer()
    channels = {u.pk: async_to_sync(layer.new_channel)() for u in (agent, supervisor)}
    for user in (agent, supervisor):
        async_to_sync(layer.group_add)(user_group(user.pk), channels[user.pk])
    with time_machine.travel(local(2026, 12, 1, 10, 0), tick=False):
        c = write(name="Beatriz Olmedo")
        Conversation.objects.filter(pk=c.pk).update(assignee=agent)
    # when the sweep runs a second before the due time, then nothing happens
    with time_machine.travel(local(2026, 12, 1, 10, 4, 59), tick=False):
        assert sla.do_detect_breaches() == 0
    # when it runs after it, twice
    with time_machine.travel(local(2026, 12, 1, 10, 5, 2), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        assert sla.do_detect_breaches() == 1
        assert sla.do_detect_breaches() == 0
    # then the breach is recorded once: on the history as a sentence, as a domain event, in the dashboard's counts
    assert ConversationEvent.objects.filter(conversation=c, kind="sla_breached").count() == 1
    expected = ("Se venció el plazo de primera respuesta: debía cumplirse antes del 01/12/2026 10:05"
                f" (a cargo de {agent.display_name})")
    assert expected in sentences(c), sentences(c)
    (logged,) = EventLog.objects.filter(type="sla.breached")
    assert logged.payload["target"] == "first_response" and logged.payload["assignee_id"] == agent.pk
    assert daily(agent=agent, target="first_response") == (0, 1)
    # and both the agent and the supervisor got the alert, naming the customer (read at the frozen moment: the
    # in-memory layer expires messages by the clock)
    with time_machine.travel(local(2026, 12, 1, 10, 5, 3), tick=False):
        for user in (agent, supervisor):
            event = json.loads(async_to_sync(layer.receive)(channels[user.pk])["text"])
            assert (event["type"], event["op"], event["conversation_id"]) == ("notice", "sla_breached", c.pk)
            assert "Beatriz Olmedo" in event["texts"]["es"] and "First response" in event["texts"]["en"]
    # when the agent answers late, then the breach is not counted again, nor a met answer
    with time_machine.travel(local(2026, 12, 1, 10, 9), tick=False):
        inbox.check_send_reply(agent, c.pk, body="Disculpe la demora.")
    assert daily(agent=agent, target="first_response") == (0, 1)
    c.refresh_from_db()
    assert c.sla_due_at is None


def test_an_answer_after_the_due_time_counts_as_breached_even_before_the_sweep(agent):
    with time_machine.travel(local(2026, 12, 1, 10, 0), tick=False):
        c = write("webchat")
        Conversation.objects.filter(pk=c.pk).update(assignee=agent)
    # when the agent answers at 10:02 (1 minute target) and the sweep never ran
    with time_machine.travel(local(2026, 12, 1, 10, 2), tick=False):
        inbox.check_send_reply(agent, c.pk, body="Hola, ¿en qué le ayudo?")
    # then it is a breach, recorded once, and the sweep has nothing left to do
    assert daily(channel="webchat", target="first_response") == (0, 1)
    assert EventLog.objects.filter(type="sla.breached").count() == 1
    with time_machine.travel(local(2026, 12, 1, 10, 3), tick=False):
        assert sla.do_detect_breaches() == 0


def test_the_next_response_starts_when_the_customer_writes_again(agent):
    with time_machine.travel(local(2026, 12, 1, 10, 0), tick=False):
        c = write()
        Conversation.objects.filter(pk=c.pk).update(assignee=agent)
    with time_machine.travel(local(2026, 12, 1, 10, 1), tick=False):
        inbox.check_send_reply(agent, c.pk, body="Hola, sí.")
    # when the customer asks again at 11:00
    with time_machine.travel(local(2026, 12, 1, 11, 0), tick=False):
        inbox.do_receive_inbound(channel="whatsapp", body="¿Y cuánto cuesta?", customer_name="Ana Peña",
                                 phones=[c.customer.phones.first().e164])
    # then the next response is due 5 minutes later
    c.refresh_from_db()
    assert c.sla_due_at == local(2026, 12, 1, 11, 5)
    assert sla.view(SlaTimer.objects.get(pk=c.pk), c).next_response_due == local(2026, 12, 1, 11, 5)


def test_business_hours_skip_nights_weekends_and_holidays(agent):
    # given an email inbox of a team open 9–18 on weekdays, a policy in business hours, and Monday a holiday
    team = TeamFactory()
    for day in range(5):
        BusinessHours.objects.create(team=team, weekday=day, opens_at=time(9), closes_at=time(18))
    Holiday.objects.create(date=local(2026, 12, 7).date(), name="Inmaculada Concepción (trasladado)")
    mails = Inbox.objects.create(name="Correo ventas", code="correo-ventas")
    mails.teams.add(team)
    SlaPolicy.objects.filter(channel="email", inbox=None).update(business_hours=True)
    # when a customer writes on Friday at 17:30 (2 hours target)
    with time_machine.travel(local(2026, 12, 4, 17, 30), tick=False):
        c, _m, _n = inbox.do_receive_inbound(channel="email", body="Cotización, por favor", customer_name="Luis",
                                             emails=["luis@example.com"], inbox_code="correo-ventas")
    # then 30 minutes count on Friday and 90 on Tuesday (Monday is a holiday): due Tuesday 10:30
    c.refresh_from_db()
    assert c.sla_due_at == local(2026, 12, 8, 10, 30)
    # and the sweep on Monday finds nothing late
    with time_machine.travel(local(2026, 12, 7, 12, 0), tick=False):
        assert sla.do_detect_breaches() == 0


def test_the_business_clock_counts_only_opening_hours():
    # given a team open Monday to Friday 9–18
    team = TeamFactory()
    for day in range(5):
        BusinessHours.objects.create(team=team, weekday=day, opens_at=time(9), closes_at=time(18))
    clock = BusinessClock(team)
    friday = local(2026, 12, 4, 17, 0)
    # then three hours from Friday 17:00 end on Monday at 11:00, and a weekend counts nothing
    assert clock.add(friday, 3 * 3600) == local(2026, 12, 7, 11, 0)
    assert clock.between(friday, local(2026, 12, 7, 11, 0)) == 3 * 3600
    assert clock.between(local(2026, 12, 5, 10, 0), local(2026, 12, 6, 10, 0)) == 0
    # and a target longer than two months of opening hours still gets a business-hours deadline
    assert clock.add(friday, 600 * 3600) > friday + timedelta(days=90)
    # a team without declared hours is open every day but holidays (as out-of-hours replies see it)
    Holiday.objects.create(date=local(2026, 12, 8).date(), name="Inmaculada Concepción")
    assert BusinessClock(None).add(local(2026, 12, 7, 23, 0), 2 * 3600) == local(2026, 12, 9, 1, 0)
    assert BusinessClock(None, calendar=True).add(friday, 60) == friday + timedelta(minutes=1)


def test_escalation_after_15_minutes_goes_to_a_supervisor_with_a_sentence(agent, supervisor,
                                                                         django_capture_on_commit_callbacks):
    # given a WhatsApp conversation assigned to an agent at 10:00 (first response met at 10:01, the customer
    # answers at once, so the case stays with the team)
    with time_machine.travel(local(2026, 12, 1, 10, 0), tick=False):
        c = write(name="Carla Ruiz")
        inbox.check_assign(supervisor, c.pk, assignee=agent.pk)
    # when 15 minutes pass without resolution
    with time_machine.travel(local(2026, 12, 1, 10, 15, 1), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        sla.do_detect_breaches()
    # then it is escalated, now with the supervisor, and the history says why in words
    c.refresh_from_db()
    assert c.state == ConversationState.ESCALATED and c.assignee_id == supervisor.pk
    text = sentences(c)
    assert any("Sin resolver 15 minutos después de su asignación" in t and supervisor.display_name in t
               for t in text), text
    assert EventLog.objects.filter(type="sla.breached", payload__target="escalation").count() == 1
    timer = SlaTimer.objects.get(pk=c.pk)
    assert timer.escalated_at == local(2026, 12, 1, 10, 15, 1)
    # and a second sweep changes nothing
    with time_machine.travel(local(2026, 12, 1, 10, 30), tick=False):
        sla.do_detect_breaches()
    assert ConversationEvent.objects.filter(conversation=c, kind="sla_escalated").count() == 1


def test_the_clock_pauses_while_waiting_for_the_customer(agent, supervisor):
    # given a case assigned at 10:00 (escalation due 10:15) answered at 10:05: now En espera, the clock paused
    with time_machine.travel(local(2026, 12, 1, 10, 0), tick=False):
        c = write()
        inbox.check_assign(supervisor, c.pk, assignee=agent.pk)
    with time_machine.travel(local(2026, 12, 1, 10, 5), tick=False):
        inbox.check_send_reply(agent, c.pk, body="Le confirmo en un momento.")
    c.refresh_from_db()
    assert c.state == ConversationState.ON_HOLD
    # when the sweep runs an hour later, then nothing escalates: the team was waiting for the customer
    with time_machine.travel(local(2026, 12, 1, 11, 0), tick=False):
        assert sla.do_detect_breaches() == 0
    # when the customer answers at 11:00, the 10 minutes left run again: escalation at 11:10
    with time_machine.travel(local(2026, 12, 1, 11, 0), tick=False):
        inbox.do_receive_inbound(channel="whatsapp", body="Listo, ya le envié el comprobante.",
                                 customer_name="Ana Peña", phones=[c.customer.phones.first().e164])
    timer = SlaTimer.objects.get(pk=c.pk)
    assert sla.view(timer, c).escalate_at == local(2026, 12, 1, 11, 10)
    with time_machine.travel(local(2026, 12, 1, 11, 10, 1), tick=False):
        sla.do_detect_breaches()
    c.refresh_from_db()
    assert c.state == ConversationState.ESCALATED


def test_resolving_stops_every_clock_and_counts_the_resolution(agent, supervisor):
    SlaPolicy.objects.filter(channel="whatsapp", inbox=None).update(resolution_seconds=3600)
    with time_machine.travel(local(2026, 12, 1, 10, 0), tick=False):
        c = write()
        inbox.check_assign(supervisor, c.pk, assignee=agent.pk)
    with time_machine.travel(local(2026, 12, 1, 10, 2), tick=False):
        inbox.check_send_reply(agent, c.pk, body="Ya quedó registrado su pedido.")
        inbox.check_close_conversation(agent, c.pk, reason="answered", comment="Pedido registrado y confirmado.")
    c.refresh_from_db()
    assert c.sla_due_at is None
    assert SlaTimer.objects.get(pk=c.pk).check_at is None
    assert daily(target="resolution") == (1, 0)
    with time_machine.travel(local(2026, 12, 2, 10, 0), tick=False):
        assert sla.do_detect_breaches() == 0


def test_an_inbox_policy_replaces_the_channels(agent):
    vip = Inbox.objects.create(name="Clientes VIP", code="vip")
    SlaPolicy.objects.create(channel="whatsapp", inbox=vip, first_response_seconds=60)
    with time_machine.travel(local(2026, 12, 1, 10, 0), tick=False):
        c, _m, _n = inbox.do_receive_inbound(channel="whatsapp", body="Hola", customer_name="Dora",
                                             phones=["3015550000"], inbox_code="vip")
    c.refresh_from_db()
    assert c.sla_due_at == local(2026, 12, 1, 10, 1)
    assert sla.view(SlaTimer.objects.get(pk=c.pk), c).policy == "WhatsApp · Clientes VIP"


def test_phone_calls_and_channels_without_a_policy_carry_no_clock():
    with time_machine.travel(local(2026, 12, 1, 10, 0), tick=False):
        c = write("api")
    assert c.sla_due_at is None and not SlaTimer.objects.filter(pk=c.pk).exists()


def test_the_list_sorts_by_sla_due(agent):
    # given three conversations due at different times, and one without a clock
    with time_machine.travel(local(2026, 12, 1, 10, 0), tick=False):
        email = write("email", name="Correo")
        whatsapp = write("whatsapp", name="WhatsApp")
        webchat = write("webchat", name="Chat")
        api = write("api", name="Integración")
    # when the list is sorted by "SLA due", then the nearest deadline comes first, those without one last
    rows, _next = sorted_page(Conversation.objects.all(), sort="sla", size=2)
    assert [r.pk for r in rows] == [webchat.pk, whatsapp.pk]
    rows2, _next = sorted_page(Conversation.objects.all(), sort="sla", after=_next or "", size=5)
    assert [r.pk for r in rows2] == [email.pk, api.pk]


def test_a_policy_may_alert_by_email(agent, supervisor, django_capture_on_commit_callbacks):
    default_task_backend.clear()  # tasks queued by earlier tests name rows of their own
    SlaPolicy.objects.filter(channel="whatsapp", inbox=None).update(email_on_breach=True)
    supervisor.email = "supervisora@example.com"
    supervisor.save(update_fields=["email"])
    with time_machine.travel(local(2026, 12, 1, 10, 0), tick=False):
        c = write(name="Elena Soto")
    with time_machine.travel(local(2026, 12, 1, 10, 6), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        sla.do_detect_breaches()
    run_queued("send_notification")
    (message,) = [m for m in mail.outbox if "supervisora@example.com" in m.to]
    assert "Elena Soto" in message.subject and "Primera respuesta" in message.body
    assert f"/inbox/{c.pk}/" in message.body


def test_an_overdue_escalation_on_hold_resumes_the_clocks(agent, supervisor):
    # given a case assigned at 10:00 (escalation due 10:15) and answered late, at 10:20, before any sweep: the
    # overdue escalation keeps running while the conversation waits for the customer; resolution is timed too
    SlaPolicy.objects.filter(channel="whatsapp", inbox=None).update(resolution_seconds=4 * 3600)
    with time_machine.travel(local(2026, 12, 1, 10, 0), tick=False):
        c = write()
        inbox.check_assign(supervisor, c.pk, assignee=agent.pk)
    with time_machine.travel(local(2026, 12, 1, 10, 20), tick=False):
        inbox.check_send_reply(agent, c.pk, body="Le confirmo en un momento.")
    # when the sweep escalates it
    with time_machine.travel(local(2026, 12, 1, 10, 20, 2), tick=False):
        sla.do_detect_breaches()
    # then it left En espera with its clocks running again: the resolution is still due, and will be breached
    c.refresh_from_db()
    timer = SlaTimer.objects.get(pk=c.pk)
    assert c.state == ConversationState.ESCALATED and timer.paused_at is None
    assert sla.view(timer, c).resolution_due is not None and timer.check_at is not None
    assert c.sla_due_at == sla.view(timer, c).resolution_due


def test_one_broken_clock_does_not_stop_the_sweep(agent, caplog):
    # given two overdue conversations, one of whose clocks holds an unreadable due time
    with time_machine.travel(local(2026, 12, 1, 10, 0), tick=False):
        broken, fine = write(name="Rota"), write(name="Sana")
    timer = SlaTimer.objects.get(pk=broken.pk)
    timer.targets["first_response"]["due"] = "no es una fecha"
    timer.save()
    # when the sweep runs
    with time_machine.travel(local(2026, 12, 1, 10, 6), tick=False):
        sla.do_detect_breaches()
    # then the sound one is breached, the broken one is logged and looked at again a minute later
    assert ConversationEvent.objects.filter(conversation=fine, kind="sla_breached").count() == 1
    assert SlaTimer.objects.get(pk=broken.pk).check_at == local(2026, 12, 1, 10, 7)
    assert "SLA sweep failed" in caplog.text


def test_a_reopened_cycle_escalates_and_a_supervisor_taking_the_case_stops_it(agent, supervisor):
    SlaPolicy.objects.filter(channel="whatsapp", inbox=None).update(escalate_after_seconds=900)
    with time_machine.travel(local(2026, 12, 1, 10, 0), tick=False):
        c = write()
        inbox.check_assign(supervisor, c.pk, assignee=agent.pk)
        inbox.check_send_reply(agent, c.pk, body="Listo.")
        inbox.check_close_conversation(agent, c.pk, reason="answered", comment="Se respondió la consulta.")
    # when the customer writes again the next day (a new cycle, the same agent)
    with time_machine.travel(local(2026, 12, 2, 10, 0), tick=False):
        inbox.do_receive_inbound(channel="whatsapp", body="Otra pregunta", customer_name="Ana Peña",
                                 phones=[c.customer.phones.first().e164])
    c.refresh_from_db()
    timer = SlaTimer.objects.get(pk=c.pk)
    # then the new cycle's escalation runs from then
    assert (timer.cycle, sla.view(timer, c).escalate_at) == (2, local(2026, 12, 2, 10, 15))
    # when a supervisor takes it over, then nothing is left to escalate
    with time_machine.travel(local(2026, 12, 2, 10, 5), tick=False):
        inbox.check_assign(supervisor, c.pk, assignee=supervisor.pk)
    with time_machine.travel(local(2026, 12, 2, 10, 16), tick=False):
        sla.do_detect_breaches()
    c.refresh_from_db()
    assert c.state != ConversationState.ESCALATED and c.assignee_id == supervisor.pk


def test_resolving_without_an_answer_after_the_due_time_counts_the_breach(agent):
    with time_machine.travel(local(2026, 12, 1, 10, 0), tick=False):
        c = write("webchat")
        Conversation.objects.filter(pk=c.pk).update(assignee=agent)
    # when it is resolved at 10:03 without an answer (due 10:01) and no sweep ran in between
    with time_machine.travel(local(2026, 12, 1, 10, 3), tick=False):
        inbox.check_close_conversation(agent, c.pk, reason="customer_confirmed",
                                       comment="El cliente escribió que ya no lo necesita.")
    # then the missed first response is counted once
    assert daily(channel="webchat", target="first_response") == (0, 1)
