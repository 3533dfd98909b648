"""Issue 16: automation rules — an event and its conditions start actions, recorded as runs and as a sentence on
the conversation's history; loop protection, frequency and cooldown hold a rule back; sending respects WhatsApp's
24-hour window. Time is frozen, never waited for; tasks run through the test backend's queue."""

from __future__ import annotations

import importlib
from datetime import datetime, time
from itertools import count
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.apps import apps
from django.test import TestCase

from accounts.models import BusinessHours, Holiday
from accounts.tests.factories import TeamFactory
from automation import rules
from automation.models import AutomationRule, AutomationRun, RuleTrigger, ScheduledMessage
from automation.rules import RuleInput, check_save_rule
from connectors.mail.tests.helpers import run_queued
from customers.actions import apply_tags
from inbox import actions as inbox
from inbox.choices import MessageKind
from inbox.describe import annotate_timeline
from inbox.models import Conversation, Message
from inbox.selectors import timeline

pytestmark = pytest.mark.django_db
BOGOTA = ZoneInfo("America/Bogota")
_phones = count(1)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BOGOTA)


def write(channel: str = "webchat", name: str = "Ana Peña", body: str = "Hola", phone: str | None = None
          ) -> Conversation:
    """A customer's message, committed (its after-commit work queued), then the queued rules run."""
    phone = phone or f"301{next(_phones):07d}"
    kwargs = {"emails": [f"{phone}@example.com"]} if channel == "email" else {"phones": [phone]}
    with TestCase.captureOnCommitCallbacks(execute=True):
        c, _m, _new = inbox.do_receive_inbound(channel=channel, body=body, customer_name=name, **kwargs)
    run_queued("run_rules")
    c.refresh_from_db()
    return c


def sentences(c: Conversation) -> list[str]:
    items = timeline(c, limit=100)
    annotate_timeline(items)
    return [str(i["text"]) for i in items if i["type"] == "event"]


def automatic(c: Conversation) -> list[str]:
    return list(Message.objects.filter(conversation=c, kind=MessageKind.OUTBOUND, author=None)
                .order_by("pk").values_list("body", flat=True))


def rule(supervisor, **kwargs) -> AutomationRule:
    data = {"name": "Regla", "event": "message.received", "active": True,
            "actions": [{"type": "send_message", "body": "Respuesta automática"}], **kwargs}
    return check_save_rule(supervisor, RuleInput(**data))


def test_keyword_rule_answers_ignoring_accents_and_case(supervisor):
    # given a rule answering «envío» (any accent or case)
    r = rule(supervisor, name="Envíos", conditions=[{"field": "text", "op": "contains", "value": ["envio"]}],
             actions=[{"type": "send_message", "body": "Enviamos a todo el país, {{cliente.primer_nombre}}."}])
    # when customers write with and without the word
    hit = write(body="¿Hacen ENVÍOS a Cali? ¿Y el ENVÍO cuánto vale?", name="Ana Peña")
    hit_plain = write(body="precio del envio", name="Luis Mora")
    miss = write(body="¿Me enviaron la factura?", name="Eva Ruiz")
    # then the rule answered the first two, by name, without counting as the team's response
    assert automatic(hit) == ["Enviamos a todo el país, Ana."]
    assert automatic(hit_plain) == ["Enviamos a todo el país, Luis."]
    assert automatic(miss) == []
    assert hit.awaiting_reply and hit.assignee_id is None and hit.first_response_at is None
    # and the history says which rule did what; the run is recorded
    assert "Regla de automatización «Envíos»: Enviar un mensaje al cliente (hecho)" in sentences(hit)
    assert AutomationRun.objects.filter(rule=r, outcome="applied").count() == 2
    assert RuleTrigger.objects.filter(processed_at__isnull=True).count() == 0


@pytest.fixture
def presets():
    """The presets of a fresh installation, written by the data migration itself (a transactional test run earlier
    on this worker may have flushed them)."""
    AutomationRule.objects.all().delete()
    importlib.import_module("automation.migrations.0006_rule_presets").forwards(apps, None)
    rules.forget_rules()
    return {r.preset: r for r in AutomationRule.objects.all()}


def turn_on(supervisor, rule: AutomationRule) -> AutomationRule:
    return rules.check_set_rule_active(supervisor, rule.pk, active=True)


def test_presets_are_seeded_disabled(presets):
    # given a fresh installation / then the guide's automations are there, every one off until an admin turns it on
    assert set(presets) == {"welcome", "out_of_hours", "keyword_hours", "keyword_price", "keyword_shipping",
                            "keyword_location", "order_confirmation", "post_sale_follow_up"}
    assert not any(r.active for r in presets.values())
    # and a message now triggers nothing and stores nothing for the rules
    write(body="¿Cuál es el horario?")
    assert not RuleTrigger.objects.exists() and not AutomationRun.objects.exists()


def test_welcome_greets_a_new_customer_once(presets, supervisor):
    # given the welcome preset turned on
    turn_on(supervisor, presets["welcome"])
    # when a new customer writes twice, and writes again in a later conversation
    c = write(body="Hola", name="Marta Gómez", phone="3019990001")
    write(body="¿Sigue ahí?", name="Marta Gómez", phone="3019990001")
    # then they were welcomed once, by first name, and it is no one's answer (the team still owes a reply)
    assert automatic(c) == ["¡Hola, Marta! Gracias por escribirnos. En un momento le atiende una persona de nuestro "
                            "equipo."]
    c.refresh_from_db()
    assert c.awaiting_reply and c.first_response_at is None and c.state == "nueva"
    assert AutomationRun.objects.filter(rule=presets["welcome"], outcome="applied").count() == 1


def test_out_of_hours_reply_names_the_next_opening_across_a_holiday(presets, supervisor):
    # given a team open Monday to Friday 8:00–18:00, whose Monday 7 December is a holiday, owning the web chat inbox
    team = TeamFactory(code="soporte-reglas", name="Soporte")
    for weekday in range(5):
        BusinessHours.objects.create(team=team, weekday=weekday, opens_at=time(8, 0), closes_at=time(18, 0))
    Holiday.objects.create(date=local(2026, 12, 7).date(), name="Inmaculada Concepción")
    from inbox.actions.intake import _global_inbox

    _global_inbox().teams.add(team)
    turn_on(supervisor, presets["out_of_hours"])
    # when a customer writes on Saturday night, and another on Tuesday at 10:00
    with time_machine.travel(local(2026, 12, 5, 21, 30), tick=False):
        late = write(body="¿Están atendiendo?")
    with time_machine.travel(local(2026, 12, 8, 10, 0), tick=False):
        open_hours = write(body="¿Están atendiendo?")
    # then the Saturday customer is told the team opens on Tuesday at 8:00 (Monday is a holiday)
    [reply] = automatic(late)
    assert reply.endswith("le responderemos desde el martes 8 de diciembre a las 08:00."), reply
    # and nobody is told anything during business hours
    assert automatic(open_hours) == []


def test_keyword_presets_answer_their_questions(presets, supervisor):
    for code in ("keyword_hours", "keyword_price", "keyword_shipping", "keyword_location"):
        turn_on(supervisor, presets[code])
    c = write(body="Buenas, ¿CUÁNTO CUESTA el envío a Medellín?")
    # then both the price and the shipping answers went out, in the rules' order
    replies = automatic(c)
    assert len(replies) == 2
    assert replies[0].startswith("Con gusto le compartimos precios") and replies[1].startswith("Hacemos envíos")


def test_a_rule_that_would_loop_is_stopped(supervisor):
    # given rule A tags the customer «vip» when they write, and rule B answers whoever is tagged (and tags again)
    a = rule(supervisor, name="Marcar VIP", actions=[{"type": "tag_customer", "tag": "vip"}])
    b = rule(supervisor, name="Saludo VIP", event="customer.tagged",
             actions=[{"type": "send_message", "body": "Hola, cliente VIP"}, {"type": "tag_customer", "tag": "oro"}])
    # when a customer writes
    c = write(body="Hola")
    run_queued("run_rules")
    # then A tagged them, B was held back (a rule's event never triggers a rule that writes to the customer)
    assert automatic(c) == []
    assert set(c.customer.tags.values_list("name", flat=True)) == {"vip"}
    held = AutomationRun.objects.get(rule=b)
    assert (held.outcome, held.reason) == ("held", "loop")
    assert AutomationRun.objects.get(rule=a).outcome == "applied"
    assert any("protección contra bucles" in s for s in sentences(c))


def test_a_rule_does_not_run_again_for_its_own_event():
    from automation.rules import Context, held_reason

    r = AutomationRule(pk=7, name="x", event="customer.tagged", actions=[{"type": "tag_customer", "tag": "a"}])
    ctx = Context(event="customer.tagged", payload={})
    assert held_reason(r, ctx, (7,)) == "loop"
    assert held_reason(r, ctx, (1, 2, 3)) == "loop"  # a chain is cut at three rules


def test_tagging_a_customer_starts_a_rule(supervisor):
    # given a rule on «customer tagged» that adds a conversation tag when the tag is «reclamo»
    rule(supervisor, name="Reclamos", event="customer.tagged",
         conditions=[{"field": "customer_tag", "op": "has", "value": ["reclamo"]}],
         actions=[{"type": "add_tag", "tag": "revisar"}, {"type": "set_priority", "priority": "alta"}])
    c = write(body="Llegó roto")
    # when someone tags the customer (a predefined call note, a person)
    with TestCase.captureOnCommitCallbacks(execute=True):
        apply_tags(c.customer, ["Reclamo"])
    run_queued("run_rules")
    c.refresh_from_db()
    # then the customer's conversation got the tag and the priority, and the history says so
    assert list(c.tags.values_list("name", flat=True)) == ["revisar"] and c.priority == "alta"
    assert any(s.startswith("Regla de automatización «Reclamos»") for s in sentences(c))


def test_frequency_and_cooldown_hold_a_rule_back(supervisor):
    once = rule(supervisor, name="Una vez", frequency="conversation", actions=[{"type": "add_note", "body": "Nota"}])
    cool = rule(supervisor, name="Cada hora", cooldown_seconds=3600,
                actions=[{"type": "add_note", "body": "Otra nota"}])
    with time_machine.travel(local(2026, 12, 2, 10, 0), tick=False):
        c = write(body="uno", phone="3017770001")
    with time_machine.travel(local(2026, 12, 2, 10, 30), tick=False):
        write(body="dos", phone="3017770001")
    with time_machine.travel(local(2026, 12, 2, 11, 1), tick=False):
        write(body="tres", phone="3017770001")
    notes = list(Message.objects.filter(conversation=c, kind=MessageKind.NOTE).values_list("body", flat=True))
    assert notes == ["Nota", "Otra nota", "Otra nota"]
    assert [r.reason for r in AutomationRun.objects.filter(rule=once).order_by("pk")] == ["", "frequency", "frequency"]
    assert [r.reason for r in AutomationRun.objects.filter(rule=cool).order_by("pk")] == ["", "cooldown", ""]


def test_stop_after_and_any_match(supervisor):
    rule(supervisor, name="Urgente", match="any", position=1, stop_after=True,
         conditions=[{"field": "text", "op": "matches", "value": r"\burgent[eí]sim[oa]\b"},
                     {"field": "text", "op": "contains", "value": ["ya mismo"]}],
         actions=[{"type": "set_priority", "priority": "urgente"}])
    rule(supervisor, name="Después", position=2, actions=[{"type": "add_tag", "tag": "visto"}])
    stopped = write(body="Necesito esto YA MISMO")
    goes_on = write(body="Cuando puedan")
    assert stopped.priority == "urgente" and not stopped.tags.exists()
    assert goes_on.priority == "normal" and list(goes_on.tags.values_list("name", flat=True)) == ["visto"]


def test_a_failing_action_does_not_stop_the_others(supervisor):
    # given a rule assigning to someone who does not exist, then adding a tag
    r = rule(supervisor, name="Asignar", actions=[{"type": "assign", "agent": "nadie"},
                                                  {"type": "add_tag", "tag": "pendiente"}])
    c = write(body="hola")
    run = AutomationRun.objects.get(rule=r)
    assert [a["result"] for a in run.actions] == ["skipped", "done"]
    assert "«nadie» no existe" in run.actions[0]["detail"]["es"] and "nadie" in run.actions[0]["detail"]["en"]
    assert list(c.tags.values_list("name", flat=True)) == ["pendiente"]


def test_a_trigger_is_evaluated_once_by_the_task_and_the_sweep(supervisor):
    r = rule(supervisor, name="Nota", actions=[{"type": "add_note", "body": "Vista"}])
    # given a message whose rules task was lost (nothing ran it)
    with time_machine.travel(local(2026, 12, 2, 10, 0), tick=False), TestCase.captureOnCommitCallbacks(execute=True):
        c, _m, _new = inbox.do_receive_inbound(channel="webchat", body="hola", customer_name="Ana",
                                               phones=["3015550001"])
    trigger = RuleTrigger.objects.get()
    # when the sweep runs before 30 s, nothing; after, it evaluates; then the late task finds it done
    with time_machine.travel(local(2026, 12, 2, 10, 0, 20), tick=False):
        assert rules.do_process_waiting() == 0
    with time_machine.travel(local(2026, 12, 2, 10, 0, 31), tick=False):
        assert rules.do_process_waiting() == 1
    assert rules.do_process_trigger(trigger.pk) == 0
    run_queued("run_rules")
    assert Message.objects.filter(conversation=c, kind=MessageKind.NOTE).count() == 1
    assert AutomationRun.objects.filter(rule=r).count() == 1


def test_schedule_message_action_sends_the_follow_up_later(supervisor):
    rule(supervisor, name="Seguimiento", actions=[
        {"type": "schedule_message", "delay_minutes": 3 * 24 * 60, "body": "¿Cómo le fue, {{cliente.primer_nombre}}?"}])
    with time_machine.travel(local(2026, 12, 2, 10, 0), tick=False):
        c = write(body="Gracias", name="Rosa Díaz")
    scheduled = ScheduledMessage.objects.get(conversation=c)
    assert scheduled.author is None and scheduled.rule_name == "Seguimiento"
    assert scheduled.body == "¿Cómo le fue, Rosa?" and scheduled.send_at == local(2026, 12, 5, 10, 0)
    from automation.actions import do_send_due_scheduled

    with time_machine.travel(local(2026, 12, 5, 10, 1), tick=False):
        assert do_send_due_scheduled() == 1
    assert automatic(c) == ["¿Cómo le fue, Rosa?"]
    c.refresh_from_db()
    assert c.first_response_at is None


def test_missing_variables_skip_the_send_with_the_reason(supervisor):
    r = rule(supervisor, name="Pedido", actions=[{"type": "send_message", "body": "Su pedido {{pedido.numero}}"}])
    c = write(body="hola")
    assert automatic(c) == []
    run = AutomationRun.objects.get(rule=r)
    assert run.actions[0]["result"] == "skipped" and "{{pedido.numero}}" in run.actions[0]["detail"]["es"]
