"""Issue 15: a call worked on the call screen is a phone conversation of the customer, so the call center's sales
reach the dashboard under "Teléfono" with the agent who sold (charts 3, 4 and 8), and the lead-flow report counts
them by operator and by hour."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from calls.actions import CALL_JOIN_MINUTES
from core.errors import ConflictError
from inbox import actions as inbox_actions
from inbox.actions import CALLS_INBOX
from inbox.choices import Channel, CloseReason, ConversationOutcome, ConversationState, CustomerState, MessageKind
from inbox.models import Conversation, Message
from leads import actions as leads
from leads.choices import Outcome
from leads.tests.factories import LeadFactory
from orders import actions as orders
from orders.tests.factories import product, ready_lead
from reports.dashboard import DashboardFilters, dashboard
from reports.leadflow import LeadFlowFilters, lead_flow_report

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 18)
WINDOW = DashboardFilters(start=DAY, end=DAY)


def at(hhmm: str) -> str:
    return f"2026-11-18T{hhmm}:00-05:00"


def calls() -> list[Conversation]:
    return list(Conversation.objects.filter(channel=Channel.PHONE).order_by("created_at", "pk"))


def test_a_call_with_an_order_reaches_the_dashboard_under_phone_with_the_agent_who_sold(agent):
    # given a lead that reached the queue at 9:00 and a product in stock
    product("PLAN-HOGAR", price="828800", stock=5)
    with time_machine.travel(at("09:00"), tick=False):
        lead = ready_lead()
    # when the agent takes it at 10:00, confirms an order at 10:05 and writes the call's note at 10:07
    with time_machine.travel(at("10:00"), tick=False):
        assert leads.check_next_lead(agent) == lead
    with time_machine.travel(at("10:05"), tick=False):
        order = orders.check_create_order(agent, lead_id=lead.pk, lines=[("PLAN-HOGAR", 1)])
        orders.check_confirm_order(agent, order.pk)
    with time_machine.travel(at("10:07"), tick=False):
        leads.check_add_note(agent, lead.pk, text="Venta confirmada, entrega el viernes", outcome=Outcome.POSITIVE)

    # then the call is one phone conversation of the customer in "Llamadas", the agent's, resolved by its note
    (call,) = calls()
    assert (call.customer_id, call.assignee_id, call.inbox.code) == (lead.customer_id, agent.pk, CALLS_INBOX)
    assert call.state == ConversationState.RESOLVED and call.close_reason == CloseReason.CALL_NOTED
    assert (call.outcome, call.customer_state) == (ConversationOutcome.SALE, CustomerState.CONVERTED)
    # the customer waited an hour for the call (speed to lead); the call lasted from the take to the note
    assert (call.first_response_seconds, call.resolution_seconds) == (3600, 420)
    assert list(Message.objects.filter(conversation=call).values_list("kind", "body")) == [
        (MessageKind.NOTE, "Venta confirmada, entrega el viernes")]
    assert list(call.sales.values_list("amount", flat=True)) == [828800]

    # and the dashboard counts it: conversion (3), revenue by agent (4), sales by channel (8)
    with time_machine.travel(at("18:00"), tick=False):
        board = dashboard(WINDOW)
    assert board["sales_conversations"] == {"closed": 1, "with_sale": 1, "without_sale": 0, "conversion_rate": 1.0}
    assert [(r["agent_id"], r["revenue"]) for r in board["revenue_by_agent"]] == [(agent.pk, "828800.00")]
    assert [(r["channel"], r["sales"]) for r in board["sales_by_channel"]] == [(Channel.PHONE, 1)]
    assert board["kpis"]["avg_first_response_seconds"] == 3600

    # and the lead-flow report has the sale and its revenue, by operator and by hour
    with time_machine.travel(at("18:00"), tick=False):
        report = lead_flow_report(filters=LeadFlowFilters(start=DAY, end=DAY))
    (row,) = [r for r in report.by_operator if r.operator == agent.username]
    assert (row.sales, row.revenue) == (1, 828800)
    assert (report.totals.sales, report.totals.revenue) == (1, 828800)
    assert [(h.hour, h.sales, h.revenue) for h in report.by_hour if h.sales] == [(10, 1, 828800)]


def test_notes_minutes_apart_are_one_call_and_a_later_note_is_a_follow_up_call(agent):
    with time_machine.travel(at("08:00"), tick=False):
        lead = LeadFactory()
    # given a first note at 9:00 (it holds the lead) and a correction two minutes later
    with time_machine.travel(at("09:00"), tick=False):
        leads.check_add_note(agent, lead.pk, text="No contestó, volver a llamar", outcome=Outcome.UNCLASSIFIED)
    with time_machine.travel(at("09:02"), tick=False):
        leads.check_add_note(agent, lead.pk, text="Contestó al segundo intento: pide catálogo",
                             outcome=Outcome.PARTIAL)
    # when the agent calls again at 15:00
    with time_machine.travel(at("15:00") , tick=False):
        leads.check_add_note(agent, lead.pk, text="No le interesa por ahora", outcome=Outcome.NEGATIVE)

    # then: two calls; the first holds both notes and the latest result, the follow-up answered at once
    first, follow_up = calls()
    assert Message.objects.filter(conversation=first).count() == 2
    assert (first.customer_state, first.first_response_seconds, first.resolution_seconds) == (
        CustomerState.FOLLOW_UP, 3600, 0)
    assert (follow_up.outcome, follow_up.customer_state) == (ConversationOutcome.UNSOLVED,
                                                              CustomerState.NOT_INTERESTED)
    assert follow_up.first_response_seconds == 0
    assert follow_up.created_at == datetime.fromisoformat(at("15:00"))  # held since 9:00: not believed
    assert first.closed_at is not None
    assert timedelta(minutes=CALL_JOIN_MINUTES) < follow_up.created_at - first.closed_at


def test_an_order_before_the_note_opens_the_call_and_the_note_closes_it_keeping_the_sale(agent):
    product("CAM-01", price="89900", stock=3)
    lead = ready_lead()
    order = orders.check_create_order(agent, lead_id=lead.pk, lines=[("CAM-01", 2)])
    orders.check_confirm_order(agent, order.pk)
    (call,) = calls()
    assert call.state == ConversationState.PENDING and call.outcome == ConversationOutcome.SALE
    leads.check_add_note(agent, lead.pk, text="Cliente dudoso pero compró", outcome=Outcome.PARTIAL)
    (call,) = calls()
    assert call.state == ConversationState.RESOLVED
    assert (call.outcome, call.customer_state) == (ConversationOutcome.SALE, CustomerState.CONVERTED)


def test_a_lead_without_a_customer_records_its_note_and_no_conversation(agent):
    lead = LeadFactory(customer=None)
    note = leads.check_add_note(agent, lead.pk, text="Número equivocado", outcome=Outcome.NEGATIVE)
    assert note.pk is not None and calls() == []


def test_a_call_is_not_answered_in_writing_but_takes_notes(agent, client_for):
    # given a call conversation (no telephony connector registered a sender for the phone channel)
    lead = LeadFactory()
    leads.check_add_note(agent, lead.pk, text="Pide que lo llamen mañana", outcome=Outcome.PARTIAL)
    (call,) = calls()
    # then a written answer is refused with the reason, and the page offers internal notes only
    with pytest.raises(ConflictError) as refused:
        inbox_actions.check_send_reply(agent, call.pk, body="Hola")
    assert refused.value.code == "phone_no_reply"
    page = client_for(agent).get(reverse("inbox:detail", args=[call.pk])).content.decode()
    assert 'value="reply"' not in page and 'value="note" checked' in page
    assert "llamó al cliente" in page  # the call's history row, not "the customer wrote by phone"
    note = inbox_actions.check_add_note(agent, call.pk, body="Llamar a las 10")
    assert note.kind == MessageKind.NOTE


def test_a_sale_confirmed_after_the_note_makes_the_call_a_sale(agent):
    # given a call whose note said "not interested" (the agent wrote the note first)
    product("CAM-02", price="89900", stock=3)
    with time_machine.travel(at("11:00"), tick=False):
        lead = ready_lead()
        leads.check_add_note(agent, lead.pk, text="Dudoso", outcome=Outcome.NEGATIVE)
    # when the order is confirmed minutes later, in the same call
    with time_machine.travel(at("11:05"), tick=False):
        order = orders.check_create_order(agent, lead_id=lead.pk, lines=[("CAM-02", 1)])
        orders.check_confirm_order(agent, order.pk)
    # then the call's result is the sale, whatever the note said
    (call,) = calls()
    assert (call.outcome, call.customer_state) == (ConversationOutcome.SALE, CustomerState.CONVERTED)
    assert call.sales.count() == 1


def test_a_call_nobody_noted_ends_an_hour_after_its_order_and_a_later_note_is_a_new_call(agent):
    # given an order confirmed on the call screen at 10:00 and no note
    product("CAM-01", price="89900", stock=3)
    lead = ready_lead()
    with time_machine.travel(at("10:00"), tick=False):
        order = orders.check_create_order(agent, lead_id=lead.pk, lines=[("CAM-01", 1)])
        orders.check_confirm_order(agent, order.pk)
    # when the periodic sweep runs at 10:30 and again at 11:01
    with time_machine.travel(at("10:30"), tick=False):
        assert inbox_actions.do_end_idle_calls() == 0
    with time_machine.travel(at("11:01"), tick=False):
        ended = inbox_actions.do_end_idle_calls()
    # then the call ended at its last activity (10:00), keeps its sale, and no longer counts as the agent's work
    (call,) = calls()
    assert ended == 1 and call.state == ConversationState.RESOLVED
    assert call.close_reason == CloseReason.CALL_ENDED and call.closed_at == datetime.fromisoformat(at("10:00"))
    assert call.outcome == ConversationOutcome.SALE
    assert agent.pk not in inbox_actions.open_load()
    # and a note the next day is a new call, not a reopening of that one
    with time_machine.travel(at("10:00").replace("-18T", "-19T"), tick=False):
        leads.check_add_note(agent, lead.pk, text="Llamé para confirmar la entrega", outcome=Outcome.POSITIVE)
    first, second = calls()
    assert first.pk == call.pk and first.state == ConversationState.RESOLVED and first.cycle == 1
    assert second.state == ConversationState.RESOLVED and second.close_reason == CloseReason.CALL_NOTED


def test_a_note_after_an_idle_open_call_ends_it_and_starts_a_new_one_even_before_the_sweep(agent):
    product("CAM-01", price="89900", stock=3)
    lead = ready_lead()
    with time_machine.travel(at("09:00"), tick=False):
        order = orders.check_create_order(agent, lead_id=lead.pk, lines=[("CAM-01", 1)])
        orders.check_confirm_order(agent, order.pk)
    with time_machine.travel(at("12:00"), tick=False):
        leads.check_add_note(agent, lead.pk, text="Segunda llamada, sin venta", outcome=Outcome.NEGATIVE)
    first, second = calls()
    assert (first.close_reason, first.closed_at) == (CloseReason.CALL_ENDED, datetime.fromisoformat(at("09:00")))
    assert second.close_reason == CloseReason.CALL_NOTED and second.outcome == ConversationOutcome.UNSOLVED


def test_an_order_long_after_taking_the_lead_keeps_the_call_alive_for_its_note(agent):
    # given a lead taken with "Siguiente lead" at 9:10 and an order confirmed in the call at 10:05
    product("CAM-01", price="89900", stock=3)
    lead = ready_lead(in_queue=True)
    with time_machine.travel(at("09:10"), tick=False):
        assert leads.check_next_lead(agent).pk == lead.pk
    with time_machine.travel(at("10:05"), tick=False):
        order = orders.check_create_order(agent, lead_id=lead.pk, lines=[("CAM-01", 1)])
        orders.check_confirm_order(agent, order.pk)
    # when the sweep runs at 10:11 and the agent writes the note at 10:12
    with time_machine.travel(at("10:11"), tick=False):
        assert inbox_actions.do_end_idle_calls() == 0  # the sale is the call's latest activity
    with time_machine.travel(at("10:12"), tick=False):
        leads.check_add_note(agent, lead.pk, text="Compró la cámara", outcome=Outcome.POSITIVE)
    # then it is one call, from 9:10 to the note, a sale
    (call,) = calls()
    assert call.close_reason == CloseReason.CALL_NOTED and call.outcome == ConversationOutcome.SALE
    assert call.created_at == datetime.fromisoformat(at("09:10"))
    assert call.resolution_seconds == 62 * 60
