"""Issue 16: the automation presets end to end through the channels' fakes — the WhatsApp Graph API (free text while
the customer's 24-hour window is open, the rule's template after it closed, nothing when it has none) and SMTP (the
order confirmation by email). Time is frozen, never waited for."""

from __future__ import annotations

import importlib
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.apps import apps
from django.test import TestCase

from automation import rules
from automation.actions import do_send_due_scheduled
from automation.models import AutomationRule, AutomationRun, ScheduledMessage
from connectors.mail.tests.helpers import run_queued
from connectors.whatsapp.tests.helpers import WA_ID, clear_tasks, inbound, post, run_worker
from fakes import whatsapp as fw
from inbox import actions as inbox
from inbox.models import Conversation, Message
from orders import actions as orders
from orders.tests.factories import product

pytestmark = pytest.mark.django_db
BOGOTA = ZoneInfo("America/Bogota")
WORKER = {"process_whatsapp_webhooks", "process_whatsapp_webhook", "retry_whatsapp_send", "deliver_outbound",
          "run_rules"}
DELIVERY = orders.Delivery(address="Calle 80 # 12-34", city="Bogotá", department="Cundinamarca",
                           phone="+573001112233")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BOGOTA)


PRESET_TEMPLATES = (  # the presets' templates, as a business would have them approved by Meta
    {"name": "confirmacion_pedido", "language": "es", "status": "APPROVED", "category": "UTILITY",
     "parameter_format": "POSITIONAL",
     "components": [{"type": "BODY", "text": "Hola {{1}}, confirmamos tu pedido {{2}} por {{3}}.",
                     "example": {"body_text": [["Ana", "P-1042", "$150.000"]]}}]},
    {"name": "seguimiento_posventa", "language": "es", "status": "APPROVED", "category": "UTILITY",
     "parameter_format": "POSITIONAL",
     "components": [{"type": "BODY", "text": "Hola {{1}}, ¿cómo te fue con tu pedido {{2}}?",
                     "example": {"body_text": [["Ana", "P-1042"]]}}]},
)


@pytest.fixture
def preset_templates(whatsapp_number, fake_whatsapp):
    from connectors.whatsapp.actions import do_sync_templates

    for template in PRESET_TEMPLATES:
        fake_whatsapp.state.add_template(dict(template))
    do_sync_templates(whatsapp_number)


@pytest.fixture
def presets(supervisor):
    AutomationRule.objects.all().delete()
    importlib.import_module("automation.migrations.0006_rule_presets").forwards(apps, None)
    rules.forget_rules()
    found = {r.preset: r for r in AutomationRule.objects.all()}
    for code in ("welcome", "order_confirmation", "post_sale_follow_up"):
        rules.check_set_rule_active(supervisor, found[code].pk, active=True)
    return found


def work() -> None:
    """The worker: each queued task once, with what it enqueues after its commit, until nothing is left."""
    for _round in range(8):
        with TestCase.captureOnCommitCallbacks(execute=True):
            if not run_worker(rounds=1, only=WORKER):
                return


def sent(fake_whatsapp) -> list[tuple[str, str]]:
    """What reached the Graph API: (type, text or template name)."""
    out = []
    for record in fake_whatsapp.state.sent:
        payload = record["payload"]
        out.append(("template", payload["template"]["name"]) if record["type"] == "template"
                   else ("text", payload["text"]["body"]))
    return out


def test_whatsapp_presets_respect_the_window(client, whatsapp_number, fake_whatsapp, preset_templates, presets,
                                             agent):
    clear_tasks()
    product("COMBO-1", price="125000", stock=5, name="Combo familiar")
    # given a new customer writes on WhatsApp on Tuesday at 10:00
    wrote = local(2026, 12, 1, 10, 0)
    with time_machine.travel(wrote, tick=False):
        with TestCase.captureOnCommitCallbacks(execute=True):
            post(client, whatsapp_number, inbound(whatsapp_number, fw.text_message(
                WA_ID, "Hola, quiero el combo", timestamp=int(wrote.timestamp()), wamid="wamid.rule1")))
        work()
    c = Message.objects.get(external_id="wamid.rule1").conversation
    # then the welcome went out as free text through the Graph API, inside the window
    assert sent(fake_whatsapp) == [("text", "¡Hola, Ana! Gracias por escribirnos. En un momento le atiende una "
                                            "persona de nuestro equipo.")]
    Conversation.objects.filter(pk=c.pk).update(assignee=agent)
    # when the order is confirmed two days later (the window closed)
    with time_machine.travel(local(2026, 12, 3, 11, 0), tick=False):
        with TestCase.captureOnCommitCallbacks(execute=True):
            order = orders.check_create_order(agent, conversation_id=c.pk, lines=[("COMBO-1", 2)])
            orders.check_confirm_order(agent, order.pk, delivery=DELIVERY)
        work()
    # then the confirmation went as the rule's template, with the customer's name, the number and the total
    assert sent(fake_whatsapp)[1] == ("template", "confirmacion_pedido")
    params = [p["text"] for p in fake_whatsapp.state.sent[1]["payload"]["template"]["components"][0]["parameters"]]
    order.refresh_from_db()
    assert params[0] == "Ana" and params[1] == order.number and "250.000" in params[2]
    # and the follow-up waits three days, then goes out as its template too
    follow_up = ScheduledMessage.objects.get(conversation=c)
    assert follow_up.send_at == local(2026, 12, 6, 11, 0) and follow_up.template_name == "seguimiento_posventa"
    with time_machine.travel(local(2026, 12, 6, 11, 1), tick=False):
        with TestCase.captureOnCommitCallbacks(execute=True):
            assert do_send_due_scheduled() == 1
        work()
    assert sent(fake_whatsapp)[2] == ("template", "seguimiento_posventa")
    # and no automatic message counted as the team's answer
    c.refresh_from_db()
    assert c.first_response_at is None


def test_free_text_outside_the_window_is_skipped_with_the_reason(client, whatsapp_number, fake_whatsapp,
                                                                  supervisor):
    clear_tasks()
    # given a rule answering «precio» with free text only (no template), and a customer who wrote on Tuesday
    rule = rules.check_save_rule(supervisor, rules.RuleInput(
        name="Precio", event="conversation.assigned", active=True,
        actions=[{"type": "send_message", "body": "Ya le enviamos la cotización."}]))
    wrote = local(2026, 12, 1, 10, 0)
    with time_machine.travel(wrote, tick=False):
        with TestCase.captureOnCommitCallbacks(execute=True):
            post(client, whatsapp_number, inbound(whatsapp_number, fw.text_message(
                WA_ID, "precio?", timestamp=int(wrote.timestamp()), wamid="wamid.rule2")))
        work()
    c = Message.objects.get(external_id="wamid.rule2").conversation
    # when it is assigned on Thursday (window closed), which starts the rule
    with time_machine.travel(local(2026, 12, 3, 10, 0), tick=False):
        with TestCase.captureOnCommitCallbacks(execute=True):
            inbox.check_assign(supervisor, c.pk, assignee=supervisor.username)
        work()
    # then nothing reached WhatsApp, and the run says why
    assert sent(fake_whatsapp) == []
    run = AutomationRun.objects.get(rule=rule)
    assert run.actions[0]["result"] == "skipped" and "24 horas" in run.actions[0]["detail"]["es"]
    assert "24-hour" in run.actions[0]["detail"]["en"] or "24 hours" in run.actions[0]["detail"]["en"] \
        or "24 horas" in run.actions[0]["detail"]["en"]


@pytest.fixture
def mailbox(dovecot, smtp_server):
    from connectors.mail.actions import check_save_mailbox

    return check_save_mailbox(None, address="buzon9@example.test", display_name="Ventas", imap_host="127.0.0.1",
                              imap_port=dovecot.port, imap_security="none", imap_password="secreto",
                              poll_interval=30, smtp_host="127.0.0.1", smtp_port=smtp_server.port,
                              smtp_security="none")


def test_order_confirmation_by_email(mailbox, smtp_server, presets, agent):
    product("CAFE-1", price="45000", stock=5, name="Café de origen 500 g")
    with TestCase.captureOnCommitCallbacks(execute=True):
        c, _m, _new = inbox.do_receive_inbound(
            channel="email", body="Quiero dos bolsas de café", customer_name="Julián Soto",
            emails=["julian@cliente.test"], subject="Pedido de café",
            external_id=f"mail:{mailbox.pk}:p1@cliente.test", channel_ref=f"mail:{mailbox.pk}:p1",
            meta={"message_id": "p1@cliente.test", "from": "julian@cliente.test"})
    run_queued("run_rules", "deliver_outbound")
    Conversation.objects.filter(pk=c.pk).update(assignee=agent)
    before = len(smtp_server.messages)
    with TestCase.captureOnCommitCallbacks(execute=True):
        order = orders.check_create_order(agent, conversation_id=c.pk, lines=[("CAFE-1", 2)])
        orders.check_confirm_order(agent, order.pk, delivery=DELIVERY)
    run_queued("run_rules", "deliver_outbound")
    order.refresh_from_db()
    mails = smtp_server.messages[before:]
    assert len(mails) == 1
    body = mails[0].parsed.get_body(preferencelist=("plain",)).get_content()
    assert f"confirmamos su pedido {order.number}" in body
    assert "2 × Café de origen 500 g" in body and "90.000" in body
    assert mails[0].rcpt_tos == ["julian@cliente.test"]
