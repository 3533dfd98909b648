"""Issue 18: a flow run in a real conversation — started by the inbox's default entry or a rule, answered with
buttons, numbers or words, order lookups limited to the customer's own orders, retries then handoff with a note,
the "agente" keyword, an agent taking over, expiry, pauses, version pinning. Time is driven by time-machine;
the worker's tasks run from the test backend's queue."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.test import TestCase
from django.utils import timezone

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from automation.models import AutomationRun
from automation.rules import RuleInput, check_save_rule
from bots.actions import (
    check_publish_flow,
    check_save_flow,
    do_sweep,
    step_stats,
    unrecognised_groups,
)
from bots.choices import HandoffReason, RunState, VisitOutcome
from bots.demo import GRAPH
from bots.models import BotRunTransition, BotStepVisit
from bots.tests.helpers import bot_said, global_inbox, last_bot_message, notes, published, run_of, write
from connectors.mail.models import Mailbox
from customers.models import Customer
from inbox import actions as inbox
from knowledge.tests.factories import ArticleFactory
from orders.models import Order, OrderLine
from orders.tests.factories import product

pytestmark = pytest.mark.django_db

SIMPLE: dict[str, Any] = {"start": "q", "steps": {
    "q": {"type": "ask", "text": "¿Su correo?", "input": "email", "var": "correo", "next": {"next": "ok"}},
    "ok": {"type": "end", "text": "Gracias, anotado {{var.correo}}."},
}}


def order_for(customer: Customer, *, state: str = "confirmado") -> Order:
    agent = UserFactory(role=Role.AGENTE)
    item = product(f"SKU-{Order.objects.count() + 1}", price="45000")
    order = Order.objects.create(customer=customer, agent=agent, state=state, total=Decimal("90000"))
    OrderLine.objects.create(order=order, product=item, sku=item.sku, name="Zapatillas Trail", unit_price=item.price,
                             quantity=2, line_total=Decimal("90000"))
    return order


def test_the_inbox_default_flow_greets_and_offers_its_choices_as_buttons() -> None:
    # Given the demo flow as the Global inbox's default entry
    published(inbox_code=global_inbox().code)
    # When a new customer writes on the web chat
    c = write("hola", name="Ana Peña")
    # Then the bot greets by name and asks with its four choices carried for the channel to draw as buttons
    assert bot_said(c) == ["¡Hola Ana! Soy el asistente virtual de la tienda.", "¿En qué te ayudo?"]
    question = last_bot_message(c)
    assert [o["title"] for o in question.meta["choices"]["options"]] == [
        "Estado de mi pedido", "Precio y disponibilidad", "Otra consulta", "Hablar con alguien"]
    assert question.meta["bot"]["name"] == "Pedidos"
    run = run_of(c)
    assert (run.state, run.step, run.started_by) == (RunState.ACTIVE, "menu", "inbox")


def test_order_status_by_number_answers_the_real_state_of_the_customers_own_order() -> None:
    # Given the demo flow and a customer with a confirmed order
    published(inbox_code=global_inbox().code)
    c = write("hola", phone="3005550101", channel="whatsapp")
    order = order_for(c.customer)
    # When they press "Estado de mi pedido", choose "Tengo el número" and type the number in their own words
    write("Estado de mi pedido", phone="3005550101", reply_id="pedido", channel="whatsapp")
    write("1", phone="3005550101", channel="whatsapp")
    c = write(f"es el pedido #{order.pk}", phone="3005550101", channel="whatsapp")
    # Then the bot answers the order's state, total, date and products, and asks if there is more
    said = bot_said(c)
    answer = said[-2]
    assert answer.startswith(f"Tu pedido {order.number} del ")
    assert "está *Confirmado*" in answer and "90.000" in answer and "2 × Zapatillas Trail" in answer
    assert said[-1] == "¿Te ayudo con algo más?"
    assert run_of(c).variables["pedido_estado"] == "Confirmado"


def test_another_customers_order_number_is_not_found() -> None:
    # Given an order of someone else
    published(inbox_code=global_inbox().code)
    stranger = write("hola", phone="3005550999", channel="whatsapp")
    theirs = order_for(stranger.customer)
    write("hola", phone="3005550102", channel="whatsapp")
    write("Estado de mi pedido", phone="3005550102", channel="whatsapp")
    write("Tengo el número", phone="3005550102", channel="whatsapp")
    # When a customer asks for that number
    c = write(str(theirs.pk), phone="3005550102", channel="whatsapp")
    # Then the bot says it found no order of theirs (it never tells one customer about another's order)
    assert bot_said(c)[-1] == "No encontré un pedido tuyo con esos datos. ¿Qué hacemos?"


def test_on_the_web_chat_the_bot_does_not_read_the_claimed_customers_orders() -> None:
    # Given a customer with an order, and a web chat visitor who typed that customer's phone (unverified)
    published(inbox_code=global_inbox().code)
    c = write("hola", phone="3005550120", channel="whatsapp")
    order_for(c.customer)
    write("hola", phone="3005550120")
    write("Estado de mi pedido", phone="3005550120")
    # When the visitor asks by phone
    web = write("Con mi teléfono", phone="3005550120")
    # Then the bot finds nothing for them (a person can check who they are)
    assert web.channel == "webchat"
    assert bot_said(web)[-1] == "No encontré un pedido tuyo con esos datos. ¿Qué hacemos?"


def test_order_by_phone_uses_the_customers_latest_order() -> None:
    published(inbox_code=global_inbox().code)
    c = write("hola", phone="3005550103", channel="whatsapp")
    order_for(c.customer, state="despachado")
    write("pedido", phone="3005550103", channel="whatsapp")  # a word inside one title picks it
    c = write("Con mi teléfono", phone="3005550103", channel="whatsapp")
    assert "está *Despachado*" in bot_said(c)[-2]


def test_unrecognised_answers_are_asked_again_then_handed_over_with_a_note_of_what_was_said() -> None:
    # Given a flow that allows two retries
    published(SIMPLE, inbox_code=global_inbox().code, max_retries=2)
    c = write("hola", phone="3005550104")
    # When the customer answers three times with something that is not an email
    write("no tengo", phone="3005550104")
    write("ana arroba gmail", phone="3005550104")
    c = write("???", phone="3005550104")
    # Then it asked again twice, with the email hint, and then handed over
    said = bot_said(c)
    assert said.count("Eso no parece un correo electrónico. Escríbalo así: nombre@ejemplo.com") == 2
    assert said[-1] == "Le comunico con una persona del equipo; en un momento le atienden."
    run = run_of(c)
    assert (run.state, run.handoff_reason) == (RunState.HANDED_OVER, HandoffReason.RETRIES)
    # And the internal note names the flow, the reason and what the customer wrote
    note = notes(c)[-1]
    assert note.startswith("El bot «Pedidos» deriva la conversación: respuestas no reconocidas.")
    assert "• no tengo" in note and "• ana arroba gmail" in note and "• ???" in note
    # And the unrecognised answers are kept for the author, per step
    assert {g.example for g in unrecognised_groups(run.flow)} == {"no tengo", "ana arroba gmail", "???"}
    assert step_stats(run.flow)["q"].handed_over == 1


def test_a_valid_answer_is_stored_and_used_in_the_next_message() -> None:
    published(SIMPLE, inbox_code=global_inbox().code)
    write("hola", phone="3005550105")
    c = write("Mi correo es Ana.Pena@Example.com.", phone="3005550105")
    assert bot_said(c)[-1] == "Gracias, anotado ana.pena@example.com."
    run = run_of(c)
    assert run.state == RunState.COMPLETED and run.variables["correo"] == "ana.pena@example.com"
    assert list(BotRunTransition.objects.filter(run=run).values_list("from_state", "to_state")) == [
        (RunState.ACTIVE, RunState.COMPLETED)]
    assert step_stats(run.flow)["q"].answered == 1


def test_the_customer_asks_for_a_person_with_a_keyword_and_gets_a_note_with_the_collected_variables() -> None:
    # Given a customer who already chose an option
    published(inbox_code=global_inbox().code)
    write("hola", phone="3005550106")
    write("Estado de mi pedido", phone="3005550106")
    # When they type "quiero hablar con un AGENTE"
    c = write("quiero hablar con un AGENTE", phone="3005550106")
    # Then the bot hands over at once and the note lists what it collected
    run = run_of(c)
    assert (run.state, run.handoff_reason) == (RunState.HANDED_OVER, HandoffReason.KEYWORD)
    note = notes(c)[-1]
    assert "el cliente pidió una persona" in note
    assert "Datos recogidos:\n• opcion: Estado de mi pedido" in note


def test_an_agent_taking_the_conversation_stops_the_bot() -> None:
    # Given a conversation where the bot waits for an answer
    published(inbox_code=global_inbox().code)
    c = write("hola", phone="3005550107")
    agent = UserFactory(role=Role.AGENTE)
    # When an agent takes it
    with TestCase.captureOnCommitCallbacks(execute=True):
        inbox.check_assign(UserFactory(role=Role.SUPERVISOR), c.pk, assignee=agent.pk)
    # Then the run is stopped and the customer's next message is not answered by the bot
    assert run_of(c).state == RunState.STOPPED
    before = len(bot_said(c))
    c = write("Estado de mi pedido", phone="3005550107")
    assert len(bot_said(c)) == before
    assert BotStepVisit.objects.get(run=run_of(c), step="menu").outcome == VisitOutcome.STOPPED


def test_a_silent_customer_expires_with_the_flows_message() -> None:
    # Given a flow that expires after 10 minutes
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        published(inbox_code=global_inbox().code, expire_minutes=10, expire_text="Cerramos por inactividad.")
        c = write("hola", phone="3005550108")
    # When 9 minutes pass nothing happens; after 11 the sweep expires it with its message
    with time_machine.travel(start + timedelta(minutes=9), tick=False), \
            TestCase.captureOnCommitCallbacks(execute=True):
        assert do_sweep() == 0
    with time_machine.travel(start + timedelta(minutes=11), tick=False), \
            TestCase.captureOnCommitCallbacks(execute=True):
        assert do_sweep() == 1
    run = run_of(c)
    assert run.state == RunState.EXPIRED
    assert bot_said(c)[-1] == "Cerramos por inactividad."
    assert BotStepVisit.objects.get(run=run, step="menu").outcome == VisitOutcome.DROPPED


def test_a_wait_step_pauses_and_the_sweep_resumes_it_on_time() -> None:
    graph = {"start": "a", "steps": {
        "a": {"type": "send", "text": "Revisando…", "next": {"next": "w"}},
        "w": {"type": "wait", "seconds": 120, "next": {"next": "b"}},
        "b": {"type": "end", "text": "Listo."}}}
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        published(graph, inbox_code=global_inbox().code)
        c = write("hola", phone="3005550109")
    assert run_of(c).state == RunState.WAITING and bot_said(c) == ["Revisando…"]
    with time_machine.travel(start + timedelta(seconds=60), tick=False):
        c = write("¿sigue ahí?", phone="3005550109")  # a message during the pause waits for a person
        assert run_of(c).state == RunState.WAITING and bot_said(c) == ["Revisando…"]
        assert do_sweep() == 0
    with time_machine.travel(start + timedelta(seconds=121), tick=False), \
            TestCase.captureOnCommitCallbacks(execute=True):
        assert do_sweep() == 1
    assert bot_said(c) == ["Revisando…", "Listo."]
    assert run_of(c).state == RunState.COMPLETED


def test_a_running_conversation_finishes_on_the_version_it_started_on() -> None:
    # Given a run started on version 1
    flow = published(SIMPLE, inbox_code=global_inbox().code)
    write("hola", phone="3005550110")
    # When the author publishes version 2 with another closing text
    by = UserFactory(role=Role.SUPERVISOR)
    changed = {"start": "q", "steps": {**SIMPLE["steps"], "ok": {"type": "end", "text": "Versión 2."}}}
    check_save_flow(by, flow.pk, graph=changed)
    assert check_publish_flow(by, flow.pk).number == 2
    # Then the open run still ends with version 1's text, and a new conversation gets version 2
    c = write("ana@example.com", phone="3005550110")
    assert bot_said(c)[-1] == "Gracias, anotado ana@example.com."
    assert run_of(c).version.number == 1
    other = write("hola", phone="3005550111")
    other = write("b@example.com", phone="3005550111")
    assert bot_said(other)[-1] == "Versión 2." and run_of(other).version.number == 2


def test_after_a_handoff_the_bot_does_not_come_back_in_the_same_cycle() -> None:
    published(inbox_code=global_inbox().code)
    write("hola", phone="3005550112")
    c = write("Hablar con alguien", phone="3005550112")
    said = len(bot_said(c))
    c = write("¿hola?", phone="3005550112")
    assert len(bot_said(c)) == said and run_of(c).state == RunState.HANDED_OVER


def test_email_lists_the_choices_numbered_and_takes_the_number_as_answer() -> None:
    Mailbox.objects.create(address="ventas@example.test", smtp_host="127.0.0.1")  # email answers need a mailbox
    published(inbox_code=global_inbox().code)
    c = write("Hola, una consulta", channel="email", phone="ana")
    assert bot_said(c)[-1] == ("¿En qué te ayudo?\n\n1. Estado de mi pedido\n2. Precio y disponibilidad\n"
                               "3. Otra consulta\n4. Hablar con alguien")
    assert "choices" not in last_bot_message(c).meta
    c = write("2", channel="email", phone="ana")
    assert bot_said(c)[-1] == "¿Qué producto buscas? Escribe su nombre o su código."


def test_product_price_and_live_stock() -> None:
    product("ZT-42", name="Zapatillas Trail 42", price="189900", stock=7)
    published(inbox_code=global_inbox().code)
    write("hola", phone="3005550113")
    write("Precio y disponibilidad", phone="3005550113")
    c = write("zapatillas trail", phone="3005550113")
    assert bot_said(c)[-2].startswith("Zapatillas Trail 42: ") and "Disponibles hoy: 7 unidades." in bot_said(c)[-2]


def test_knowledge_answer_with_accents_and_typos_then_did_it_help() -> None:
    # Given a published article about returns
    ArticleFactory(title="Devoluciones y garantía", body="Puede devolver un producto dentro de los 30 días.",
                   tags="devoluciones")
    published(inbox_code=global_inbox().code)
    write("hola", phone="3005550114")
    write("Otra consulta", phone="3005550114")
    # When the customer writes with a typo and no accents
    c = write("como hago una devolusion", phone="3005550114")
    # Then the bot offers the article and asks whether it helped; "sí" goes on
    said = bot_said(c)
    assert said[-2].startswith("Esto puede ayudarte:\n• Devoluciones y garantía")
    assert said[-1] == "¿Le sirvió esta información?"
    c = write("si", phone="3005550114")
    assert bot_said(c)[-1] == "¿Te ayudo con algo más?"


def test_a_rule_starts_the_flow_on_a_keyword() -> None:
    # Given a flow that is no inbox's default, and a rule "message contains pedido → start it"
    flow = published()
    supervisor = UserFactory(role=Role.SUPERVISOR)
    check_save_rule(supervisor, RuleInput(
        name="Pedidos al bot", event="message.received", match="all",
        conditions=[{"field": "text", "op": "contains", "value": ["pedido"]}],
        actions=[{"type": "start_bot_flow", "flow": flow.pk}], active=True))
    # When a customer writes about their order
    c = write("hola, ¿dónde está mi pedido?", phone="3005550115")
    # Then the rule started the flow, and the message that started it was not read twice
    run = run_of(c)
    assert run.started_by.startswith("rule:") and run.step == "menu"
    assert bot_said(c) == ["¡Hola Ana! Soy el asistente virtual de la tienda.", "¿En qué te ayudo?"]
    assert AutomationRun.objects.get().actions[0]["result"] == "done"


def test_publishing_is_refused_with_the_problems_listed() -> None:
    by = UserFactory(role=Role.SUPERVISOR)
    flow = published(by=by)
    dead_end = {"start": "a", "steps": {"a": {"type": "ask", "text": "¿Sí o no?", "input": "choice",
                                              "choices": [{"id": "si", "title": "Sí"}, {"id": "no", "title": "No"}],
                                              "next": {"si": "b"}},
                                        "b": {"type": "end"}, "c": {"type": "end"}}}
    check_save_flow(by, flow.pk, graph=dead_end)
    with pytest.raises(Exception) as refused:
        check_publish_flow(by, flow.pk)
    assert getattr(refused.value, "code", "") == "flow_has_problems"
    assert "Sin continuación en: «No»." in str(refused.value)


def test_graph_drawn_in_demo_is_publishable() -> None:
    flow = published()
    assert flow.published is not None and flow.published.graph["start"] == GRAPH["start"]


def test_choices_longer_than_whatsapp_shows_are_a_warning_not_a_block() -> None:
    from bots.spec import clean_graph, problems

    graph = clean_graph({"start": "a", "steps": {
        "a": {"type": "ask", "text": "¿Qué prefiere?", "input": "choice",
              "choices": [{"id": "x", "title": "Una opción demasiado larga"}, {"id": "y", "title": "Corta"}],
              "next": {"x": "h", "y": "h"}},
        "h": {"type": "handoff"}}})
    (warning,) = problems(graph)
    assert (warning.step, warning.blocking) == ("a", False)
    assert warning.message == "WhatsApp acorta estas opciones (hasta 20 caracteres): «Una opción demasiado larga»."
