"""Issue 17: a customer's activity columns (contacts, channels, purchases, spend, lead state), computed from the
inbox, orders, imported sales and leads — against hand-computed fixtures, kept fresh by the actions that move them,
and rebuilt nightly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction

from accounts.roles import Role
from customers.activity import do_refresh_activity, rebuild_customer_activity, refresh_on_commit
from customers.models import NEVER, Customer
from inbox.actions import do_receive_inbound
from inbox.models import Conversation
from leads.actions import check_add_note
from leads.tests.factories import CustomerFactory, LeadFactory
from orders import actions as orders
from orders.choices import OrderState
from orders.models import Order, Sale
from orders.tests.factories import product, ready_lead

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def at(days_ago: float) -> datetime:
    return NOW - timedelta(days=days_ago)


@pytest.fixture
def history(make_user):
    """A customer with two conversations, four orders in different states, an imported purchase and a lead."""
    agent = make_user(Role.AGENTE)
    customer = CustomerFactory(name="Lucía Peña")
    with time_machine.travel(at(200), tick=False):
        whatsapp, _m, _new = do_receive_inbound(channel="whatsapp", body="Hola", customer_id=customer.pk,
                                                customer_name="Lucía Peña", phones=["+573001112233"])
    with time_machine.travel(at(5), tick=False):
        _email, _m, _new = do_receive_inbound(channel="email", body="¿Y mi pedido?", customer_id=customer.pk,
                                             customer_name="Lucía Peña", emails=["lucia@example.com"])
    Conversation.objects.filter(pk=whatsapp.pk).update(state="resuelta", closed_at=at(199),
                                                       last_agent_message_at=at(199))
    for days, total, state in ((100, "150000", OrderState.CONFIRMED), (10, "50000", OrderState.DISPATCHED),
                               (3, "70000", OrderState.CANCELLED), (1, "90000", OrderState.DRAFT)):
        Order.objects.create(customer=customer, agent=agent, state=state, total=Decimal(total),
                             created_at=at(days), confirmed_at=at(days) if state != OrderState.DRAFT else None)
    # imported history: one conversation with two sold lines 400 days ago (one purchase of 50,000)
    Sale.objects.create(conversation=whatsapp, product_name="Plan A", amount=Decimal("30000"), created_at=at(400))
    Sale.objects.create(conversation=whatsapp, product_name="Plan B", amount=Decimal("20000"), created_at=at(401))
    LeadFactory(customer=customer, work_status="completado", queue_entered_at=at(300))
    LeadFactory(customer=customer, work_status="en_proceso", queue_entered_at=at(30), first_note_at=at(29),
                last_note_at=at(2))
    return customer


def test_the_columns_match_a_hand_computed_history(history):
    # given the history above (and a customer nobody knows anything about)
    stranger = CustomerFactory(name="Nadie")
    # when the nightly rebuild runs
    with time_machine.travel(NOW, tick=False):
        seen, changed = rebuild_customer_activity()
    c = Customer.objects.get(pk=history.pk)
    # then every column is what a person computes by hand
    assert seen == 2 and changed >= 1
    assert c.first_contact_at == at(200)  # the WhatsApp conversation opened before the first call note (29 days)
    assert c.last_contact_at == at(2)  # the last call note is newer than the email received 5 days ago
    assert c.contact_sort_at == at(2)
    assert c.last_inbound_at == at(5)
    assert (c.conversations_count, c.open_conversations) == (2, 1)
    assert (c.on_whatsapp, c.on_email, c.on_webchat, c.on_phone) == (True, True, False, True)
    # purchases: the confirmed and the dispatched orders, and one imported purchase (two lines, one conversation)
    assert c.orders_count == 3
    assert c.total_spent == Decimal("250000")
    assert c.spent_12m == Decimal("200000")  # 100 and 10 days ago; the import is 400 days old
    assert c.orders_90d == 1  # only the order of 10 days ago
    assert c.last_order_at == at(10)
    assert c.lead_state == "en_proceso"  # the most recent lead's state
    assert c.activity_at == NOW
    nobody = Customer.objects.get(pk=stranger.pk)
    assert (nobody.orders_count, nobody.total_spent, nobody.last_contact_at, nobody.contact_sort_at,
            nobody.lead_state) == (0, Decimal(0), None, NEVER, "")


def test_the_windows_move_with_the_calendar_alone(history):
    # given the columns computed today
    with time_machine.travel(NOW, tick=False):
        rebuild_customer_activity()
    # when 81 days pass without anything happening (the order of 10 days ago is now 91 days old)
    with time_machine.travel(NOW + timedelta(days=81), tick=False):
        rebuild_customer_activity()
    c = Customer.objects.get(pk=history.pk)
    # then it left the 90-day window, and the one of 100 days ago left the 12 months 266 days later only
    assert c.orders_90d == 0
    assert c.spent_12m == Decimal("200000")
    with time_machine.travel(NOW + timedelta(days=266), tick=False):
        rebuild_customer_activity()
    assert Customer.objects.get(pk=history.pk).spent_12m == Decimal("50000")


def test_a_refresh_with_nothing_new_writes_nothing(history):
    with time_machine.travel(NOW, tick=False):
        assert do_refresh_activity([history.pk]) == 1
        assert do_refresh_activity([history.pk]) == 0


def test_an_inbound_message_refreshes_its_customer_after_commit(django_capture_on_commit_callbacks):
    # given a new customer writing on WhatsApp
    with django_capture_on_commit_callbacks(execute=True):
        conversation, _m, _new = do_receive_inbound(channel="whatsapp", body="Buenas", customer_name="Mateo Ruiz",
                                                    phones=["+573009998877"])
    # then, once the intake committed, the customer's columns say so
    c = Customer.objects.get(pk=conversation.customer_id)
    assert c.on_whatsapp and c.open_conversations == 1 and c.conversations_count == 1
    assert c.last_inbound_at == c.last_contact_at is not None


def test_a_confirmed_order_refreshes_the_purchases(agent, supervisor, django_capture_on_commit_callbacks):
    # given a draft for a lead whose customer has delivery data
    product("A-1", price="12500", stock=5)
    lead = ready_lead()
    order = orders.check_create_order(agent, lead_id=lead.pk, lines=[("A-1", 2)])
    # when it is confirmed
    with django_capture_on_commit_callbacks(execute=True):
        orders.check_confirm_order(agent, order.pk)
    c = Customer.objects.get(pk=lead.customer_id)
    # then the purchase counts at once
    assert (c.orders_count, c.total_spent, c.orders_90d) == (1, Decimal("25000"), 1)
    # and a cancellation takes it back
    with django_capture_on_commit_callbacks(execute=True):
        orders.check_cancel_order(supervisor, order.pk, reason="El cliente desistió")
    c.refresh_from_db()
    assert (c.orders_count, c.total_spent) == (0, Decimal(0))


def test_a_call_note_moves_the_lead_state_and_the_last_contact(agent, django_capture_on_commit_callbacks):
    lead = LeadFactory()
    with django_capture_on_commit_callbacks(execute=True):
        check_add_note(agent, lead.pk, text="Interesada, llamar el lunes", outcome="parcial")
    c = Customer.objects.get(pk=lead.customer_id)
    assert c.lead_state == "en_proceso" and c.on_phone and c.last_contact_at is not None


def test_one_transaction_refreshes_each_customer_once_and_a_rollback_none(django_capture_on_commit_callbacks):
    # given two customers
    a, b = CustomerFactory(), CustomerFactory()
    # when one transaction touches a twice and b once
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        refresh_on_commit(a.pk)
        refresh_on_commit(a.pk)
        refresh_on_commit(b.pk)
    # then one refresh is queued, for both
    assert len(callbacks) == 1 and callbacks[0].ids == {a.pk, b.pk}
    # and a rolled-back savepoint's refresh is dropped with it, a later one queued afresh
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        try:
            with transaction.atomic():
                refresh_on_commit(a.pk)
                raise RuntimeError
        except RuntimeError:
            pass
        refresh_on_commit(b.pk)
    assert len(callbacks) == 1 and callbacks[0].ids == {b.pk}
