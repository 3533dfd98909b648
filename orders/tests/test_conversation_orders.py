"""Issue 15: sales from WhatsApp (and email, web chat). The agent builds the order beside the conversation, types
the delivery data the customer's record lacks, and confirms; the sale belongs to that conversation, so it reaches
the dashboard under its channel with the agent who sold."""

from __future__ import annotations

from datetime import date
from itertools import count

import pytest
import time_machine
from django.urls import reverse

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from core.errors import ActionError, ConflictError, PermissionDeniedError
from core.models import AuditLog
from customers.models import Customer, CustomerEmail
from inbox import actions as inbox
from inbox.choices import Channel, CloseReason, ConversationOutcome
from inbox.models import Conversation
from orders import actions as orders
from orders.choices import OrderState
from orders.models import Order, Sale
from orders.tests.factories import product, ready_lead
from reports.dashboard import DashboardFilters, dashboard

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 18)
_phones = count(1)


def at(hhmm: str) -> str:
    return f"2026-11-18T{hhmm}:00-05:00"


def whatsapp(assignee=None, name: str = "Ana Peña") -> Conversation:
    c, _m, _new = inbox.do_receive_inbound(channel="whatsapp", body="Hola, ¿tienen el combo familiar?",
                                           customer_name=name, phones=[f"301{next(_phones):07d}"])
    if assignee is not None:
        c.assignee = assignee
        c.save(update_fields=["assignee"])
    return c


DELIVERY = orders.Delivery(address="Calle 80 # 12-34, apto 502", city="Bogotá", department="Cundinamarca")


def test_a_whatsapp_order_reaches_the_dashboard_under_whatsapp_with_the_agent_who_sold(agent):
    # given a WhatsApp conversation of the agent, whose customer gave no address yet
    product("COMBO-FAM", price="259900", stock=4)
    with time_machine.travel(at("09:00"), tick=False):
        c = whatsapp(agent)
    # when the agent answers, builds the order beside it and confirms it with the delivery data the customer typed
    with time_machine.travel(at("09:04"), tick=False):
        inbox.check_send_reply(agent, c.pk, body="¡Hola Ana! Sí, nos quedan 4. ¿Se lo separo?")
    with time_machine.travel(at("09:10"), tick=False):
        order = orders.check_create_order(agent, conversation_id=c.pk, lines=[("COMBO-FAM", 2)])
        orders.check_confirm_order(agent, order.pk, delivery=DELIVERY)
    with time_machine.travel(at("09:12"), tick=False):
        inbox.check_close_conversation(agent, c.pk, reason=CloseReason.ANSWERED)

    # then the order is the conversation's, the record keeps the delivery data, and the sale is that conversation's
    order.refresh_from_db()
    assert (order.state, order.conversation_id, order.lead_id) == (OrderState.CONFIRMED, c.pk, None)
    assert order.total == 519800
    assert (order.delivery_address, order.delivery_city) == ("Calle 80 # 12-34, apto 502", "Bogotá")
    customer = Customer.objects.get(pk=c.customer_id)
    assert (customer.address, customer.department) == ("Calle 80 # 12-34, apto 502", "Cundinamarca")
    assert list(Sale.objects.values_list("conversation_id", "amount")) == [(c.pk, 519800)]
    c.refresh_from_db()
    assert c.outcome == ConversationOutcome.SALE
    # and the dashboard counts it under WhatsApp for the agent: conversion (3), revenue (4), sales by channel (8)
    with time_machine.travel(at("18:00"), tick=False):
        board = dashboard(DashboardFilters(start=DAY, end=DAY))
    assert board["sales_conversations"]["with_sale"] == 1
    assert [(r["agent_id"], r["revenue"]) for r in board["revenue_by_agent"]] == [(agent.pk, "519800.00")]
    assert [(r["channel"], r["sales"]) for r in board["sales_by_channel"]] == [(Channel.WHATSAPP, 1)]


def test_a_refused_confirmation_keeps_the_customer_record_and_the_stock_as_they_were(agent):
    # given a draft in a conversation whose customer has no address
    product("A", stock=3)
    c = whatsapp(agent)
    order = orders.check_create_order(agent, conversation_id=c.pk, lines=[("A", 1)])
    # when the agent confirms without delivery data, then every missing field is reported at once
    with pytest.raises(ActionError) as missing:
        orders.check_confirm_order(agent, order.pk)
    assert missing.value.code == "delivery_incomplete"
    assert set(missing.value.details["errors"]) == {"address", "city", "department"}
    # when the typed phone is not a phone, then nothing is written: not the address typed beside it, not the stock
    with pytest.raises(ActionError) as invalid:
        orders.check_confirm_order(agent, order.pk, delivery=orders.Delivery(
            address="Av. Arequipa 1234", city="Lima", department="Lima", phone="llámame"))
    assert invalid.value.code == "invalid_customer" and "phones" in invalid.value.details["errors"]
    assert Customer.objects.get(pk=c.customer_id).address == ""
    order.refresh_from_db()
    assert order.state == OrderState.DRAFT and not Sale.objects.exists()
    # when a valid second phone comes with the address, then the record has both phones and the order the first
    orders.check_confirm_order(agent, order.pk, delivery=orders.Delivery(
        address="Av. Arequipa 1234", city="Lima", department="Lima", phone="+51 987 654 321"))
    customer = Customer.objects.get(pk=c.customer_id)
    assert len(customer.phones.all()) == 2 and "+51987654321" in [p.e164 for p in customer.phones.all()]
    # and the phone typed for this delivery is the order's, not the record's older one
    order.refresh_from_db()
    assert order.delivery_phone == "+51987654321"


def test_completing_the_record_keeps_what_it_does_not_name(agent):
    # given a customer with an email, notes and a document, and a draft in their conversation
    product("A", stock=3)
    c = whatsapp(agent)
    Customer.objects.filter(pk=c.customer_id).update(notes="Prefiere entregas en la tarde", document_id="1020304050")
    CustomerEmail.objects.create(customer_id=c.customer_id, email="ana@correo.example")
    order = orders.check_create_order(agent, conversation_id=c.pk, lines=[("A", 1)])
    # when the confirmation brings only the address
    orders.check_confirm_order(agent, order.pk, delivery=DELIVERY)
    # then the email, the notes and the document are untouched, and the change is audited
    customer = Customer.objects.get(pk=c.customer_id)
    assert (customer.notes, customer.document_id) == ("Prefiere entregas en la tarde", "1020304050")
    assert [e.email for e in customer.emails.all()] == ["ana@correo.example"]
    assert AuditLog.objects.filter(action="customer.updated", target_id=str(customer.pk)).exists()


def test_where_an_order_cannot_be_taken(agent, supervisor):
    product("A", stock=3)
    # an unassigned conversation: the sale would count for nobody (409), not even a supervisor's
    unassigned = whatsapp()
    for user in (agent, supervisor):
        with pytest.raises(ConflictError) as refused:
            orders.check_create_order(user, conversation_id=unassigned.pk, lines=[("A", 1)])
        assert refused.value.code == "conversation_unassigned"
    # a call: its orders are the call screen's, with its lead (400)
    call = whatsapp(agent)
    Conversation.objects.filter(pk=call.pk).update(channel=Channel.PHONE)
    with pytest.raises(ActionError) as phone:
        orders.check_create_order(agent, conversation_id=call.pk, lines=[("A", 1)])
    assert phone.value.code == "phone_conversation"
    # a conversation closed long ago: the sale would land in a closed month (409)
    with time_machine.travel("2026-09-01T09:00:00-05:00", tick=False):  # beyond SALE_CONVERSATION_DAYS (30)
        old = whatsapp(agent)
        inbox.check_send_reply(agent, old.pk, body="Con gusto")
        inbox.check_close_conversation(agent, old.pk, reason=CloseReason.ANSWERED)
    with pytest.raises(ConflictError) as too_old:
        orders.check_create_order(agent, conversation_id=old.pk, lines=[("A", 1)])
    assert too_old.value.code == "conversation_too_old"
    # delivery data on a call-screen order: corrected in the customer's record there (400)
    lead_order = orders.check_create_order(agent, lead_id=ready_lead().pk, lines=[("A", 1)])
    with pytest.raises(ActionError) as not_here:
        orders.check_confirm_order(agent, lead_order.pk, delivery=DELIVERY)
    assert not_here.value.code == "delivery_not_here"
    assert Order.objects.get(pk=lead_order.pk).state == OrderState.DRAFT


def test_the_panel_says_why_the_agent_cannot_sell_here(agent, client_for):
    product("A", stock=3)
    c = whatsapp(UserFactory(role=Role.AGENTE, username="agente2", full_name="Rosa Quispe"))
    page = client_for(agent).get(reverse("inbox:detail", args=[c.pk])).content.decode()
    assert 'data-testid="order-blocked"' in page and "Rosa Quispe" in page
    assert 'id="product-search"' not in page


def test_only_who_may_act_on_the_conversation_sells_in_it(agent, supervisor):
    # given a conversation of another agent
    product("A", stock=3)
    other = UserFactory(role=Role.AGENTE, username="agente2")
    c = whatsapp(other)
    # when this agent tries to sell in it, then it is refused as acting on it would be
    with pytest.raises(PermissionDeniedError) as refused:
        orders.check_create_order(agent, conversation_id=c.pk, lines=[("A", 1)])
    assert refused.value.code in {"not_assignee", "conversation_not_found"}
    # when its agent drafts an order and the conversation is transferred before the confirmation
    order = orders.check_create_order(other, conversation_id=c.pk, lines=[("A", 1)])
    Conversation.objects.filter(pk=c.pk).update(assignee=agent)
    # then the former agent can no longer confirm it; a supervisor can
    with pytest.raises(PermissionDeniedError):
        orders.check_confirm_order(other, order.pk, delivery=DELIVERY)
    orders.check_confirm_order(supervisor, order.pk, delivery=DELIVERY)
    assert Order.objects.get(pk=order.pk).state == OrderState.CONFIRMED


def test_an_order_names_exactly_one_lead_or_conversation(agent):
    product("A", stock=3)
    for kwargs in ({}, {"lead_id": ready_lead().pk, "conversation_id": whatsapp(agent).pk}):
        with pytest.raises(ActionError) as refused:
            orders.check_create_order(agent, lines=[("A", 1)], **kwargs)
        assert refused.value.code == "order_subject_required" and refused.value.status == 400
    assert not Order.objects.exists()


def test_the_builder_beside_a_conversation_adds_lines_asks_for_what_is_missing_and_confirms(agent, client_for):
    # given the agent's WhatsApp conversation open in the workspace
    product("COMBO-FAM", price="259900", stock=4, name="Combo familiar")
    c = whatsapp(agent, name="María José Rodríguez")
    client = client_for(agent)
    page = client.get(reverse("inbox:detail", args=[c.pk])).content.decode()
    assert 'id="order-panel"' in page and f"?conversation_id={c.pk}" in page
    # when they search the catalog and add two, then the results post back the conversation and the draft shows
    results = client.get(reverse("catalog:search"), {"q": "combo", "conversation_id": c.pk}).content.decode()
    assert f'name="conversation_id" value="{c.pk}"' in results
    hx = {"HX-Request": "true"}
    panel = client.post(reverse("orders:draft_add"), {"conversation_id": c.pk, "sku": "COMBO-FAM", "quantity": 2},
                        headers=hx).content.decode()
    assert "519.800\u00a0COP" in panel and 'data-testid="order-delivery"' in panel and "faltan datos" in panel
    # when they confirm without the address, then the panel answers 400 with the fields to fill, keeping what was typed
    order = Order.objects.get()
    refused = client.post(reverse("orders:confirm", args=[order.pk]),
                          {"delivery-city": "Medellín", "delivery-address": ""}, headers=hx)
    assert refused.status_code == 400
    body = refused.content.decode()
    assert 'id="delivery-address-error"' in body and 'value="Medellín"' in body
    # when they type it and confirm, then the order is confirmed and listed among the customer's orders
    done = client.post(reverse("orders:confirm", args=[order.pk]),
                       {"delivery-address": "Cl. 10 # 43-20", "delivery-city": "Medellín",
                        "delivery-department": "Antioquia"}, headers=hx)
    assert done.status_code == 200
    text = done.content.decode()
    assert "la venta cuenta para esta conversación" in text and order.number in text
    assert "Pedidos del cliente" in text
    assert Sale.objects.get().conversation_id == c.pk


def test_another_agents_conversation_does_not_take_orders_from_this_agent(agent, client_for):
    product("A", stock=3)
    c = whatsapp(UserFactory(role=Role.AGENTE, username="agente2"))
    response = client_for(agent).post(reverse("orders:draft_add"), {"conversation_id": c.pk, "sku": "A"},
                                      headers={"HX-Request": "true"})
    assert response.status_code in {400, 403, 404} and not Order.objects.exists()


def test_the_api_takes_and_confirms_an_order_in_a_conversation(agent, api_client_for):
    product("A", price="50000", stock=3)
    c = whatsapp(agent)
    api = api_client_for(agent)
    created = api.post("/api/v1/orders", {"conversation_id": c.pk, "lines": [{"sku": "A", "quantity": 1}]},
                       content_type="application/json")
    assert created.status_code == 201 and created.json()["conversation_id"] == c.pk
    order_id = created.json()["id"]
    incomplete = api.post(f"/api/v1/orders/{order_id}/confirm", content_type="application/json")
    assert incomplete.status_code == 400 and incomplete.json()["code"] == "delivery_incomplete"
    ok = api.post(f"/api/v1/orders/{order_id}/confirm",
                  {"delivery": {"address": "Av. Reforma 222", "city": "Ciudad de México", "department": "CDMX"}},
                  content_type="application/json")
    assert ok.status_code == 200 and ok.json()["state"] == "confirmado"
    neither = api.post("/api/v1/orders", {"lines": [{"sku": "A", "quantity": 1}]}, content_type="application/json")
    assert neither.status_code == 400 and neither.json()["code"] == "order_subject_required"
