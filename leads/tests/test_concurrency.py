"""Races with real concurrent transactions (threads, one database connection each), on PostgreSQL and SQLite."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from core.errors import ConflictError
from customers.models import Customer
from inbox import actions as inbox_actions
from inbox.models import Conversation, Message
from leads import actions
from leads.models import Lead, LeadEvent, LeadNote
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db(transaction=True)


def race(workers: list[Callable[[], Any]]) -> list[Any]:
    """Runs every worker at the same instant on its own thread and connection; returns results/exceptions."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)

    def run(i: int, fn: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[i] = fn()
        except Exception as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def contenders() -> int:
    # PostgreSQL allows 100 connections by default; keep room for the test runner itself.
    return 60 if connection.vendor == "postgresql" else 30


def test_two_operators_noting_the_same_lead_at_once_exactly_one_wins():
    lead = LeadFactory()
    agents = [UserFactory(role=Role.AGENTE) for _ in range(8)]
    results = race([lambda a=a: actions.check_add_note(a, lead.pk, text=f"soy {a.username}") for a in agents])
    winners = [r for r in results if isinstance(r, LeadNote)]
    losers = [r for r in results if isinstance(r, ConflictError)]
    assert len(winners) == 1 and len(losers) == len(agents) - 1, results
    lead.refresh_from_db()
    assert lead.held_by_id == winners[0].author_id and lead.notes_count == 1
    assert LeadNote.objects.filter(lead=lead).count() == 1


def test_agents_pressing_next_lead_at_once_never_get_the_same_lead():
    n = contenders()
    LeadFactory.create_batch(n + 10)
    agents = [UserFactory(role=Role.AGENTE) for _ in range(n)]
    results = race([lambda a=a: actions.check_next_lead(a) for a in agents])
    leads = [r for r in results if isinstance(r, Lead)]
    assert len(leads) == n, [r for r in results if not isinstance(r, Lead)]
    assert len({lead.pk for lead in leads}) == n  # no double reservation
    held = Lead.objects.filter(held_by__isnull=False)
    assert held.count() == n and len(set(held.values_list("held_by", flat=True))) == n


# --- issue 13: upserts keyed by an external id, raced by workers applying webhooks at once ------------------


def kommo_state(kommo_id: int, *, updated_at: int, contact_id: int = 9001) -> dict[str, Any]:
    return {"kommo_id": kommo_id, "name": f"Pedido {kommo_id}", "price": Decimal("125000"), "pipeline_id": 1,
            "status_id": 2, "stage_name": "Ventas / Para Llamar", "updated_at": updated_at, "responsible_id": None,
            "tags": ["web"], "custom_fields": [], "in_stage": True,
            "contact": {"id": contact_id, "name": "José Ñañez", "phones": ["300 123 4567"],
                        "emails": ["jose@example.com"]}}


def test_workers_applying_add_and_status_of_a_new_lead_at_once_store_it_once():
    # given a lead Kommo just created, whose `add` and `status` webhooks reach several workers at the same instant
    # (none of them finds a row to lock: it does not exist yet)
    states = [kommo_state(7001, updated_at=1_700_000_000 + i % 2) for i in range(contenders() // 2)]

    # when every worker applies its copy at once
    results = race([lambda s=s: actions.do_upsert_lead_from_kommo(**s) for s in states])

    # then nobody failed on the unique keys, and there is one lead, one customer with one phone and one email
    assert [r for r in results if isinstance(r, BaseException)] == []
    (lead,) = Lead.objects.filter(kommo_id=7001)
    assert lead.in_queue and lead.kommo_updated_at == 1_700_000_001
    (customer,) = Customer.objects.filter(kommo_contact_id=9001)
    assert lead.customer_id == customer.pk
    assert list(customer.phones.values_list("e164", flat=True)) == ["+573001234567"]
    assert list(customer.emails.values_list("email", flat=True)) == ["jose@example.com"]
    assert LeadEvent.objects.filter(lead=lead, kind="arrived").count() == 1


def test_workers_applying_two_new_leads_of_one_new_contact_at_once_share_one_customer():
    # given two different new leads of the same new Kommo contact
    states = [kommo_state(7100 + i % 2, updated_at=1_700_000_000) for i in range(contenders() // 2)]

    # when they are applied at once
    results = race([lambda s=s: actions.do_upsert_lead_from_kommo(**s) for s in states])

    # then both leads exist once and point at the single customer
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert sorted(Lead.objects.values_list("kommo_id", flat=True)) == [7100, 7101]
    (customer,) = Customer.objects.all()
    assert set(Lead.objects.values_list("customer_id", flat=True)) == {customer.pk}


def test_messages_of_one_new_customer_processed_at_once_open_one_conversation():
    # given several WhatsApp messages of a customer we have never seen, processed by workers at the same instant
    def receive(i: int) -> Any:
        return inbox_actions.do_receive_inbound(channel="whatsapp", body=f"Hola {i}", customer_name="Ana",
                                                phones=["+573009998877"], external_id=f"wamid.race-{i}")

    # when they all arrive at once
    results = race([lambda i=i: receive(i) for i in range(contenders() // 2)])

    # then one customer, one open conversation, every message in it
    assert [r for r in results if isinstance(r, BaseException)] == []
    (customer,) = Customer.objects.all()
    (conversation,) = Conversation.objects.filter(customer=customer)
    assert Message.objects.filter(conversation=conversation).count() == contenders() // 2


def test_a_note_and_an_order_confirmed_at_the_same_instant_are_one_call():
    # given an agent holding a lead with a draft order (the call screen: she writes the note while the order is
    # confirmed in another tab)
    from orders import actions as orders
    from orders.tests.factories import product, ready_lead

    product("CAM-01", price="89900", stock=5)
    agent = UserFactory(role=Role.AGENTE)
    lead = ready_lead()
    actions.check_add_note(agent, lead.pk, text="Primera llamada: pide precio", outcome="parcial")
    Conversation.objects.filter(channel="phone").delete()  # start from no call at all
    order = orders.check_create_order(agent, lead_id=lead.pk, lines=[("CAM-01", 1)])
    # when the note and the confirmation race
    results = race([lambda: actions.check_add_note(agent, lead.pk, text="Compró la cámara", outcome="positivo"),
                    lambda: orders.check_confirm_order(agent, order.pk)])
    # then both succeed and they are one call, a sale
    assert [r for r in results if isinstance(r, BaseException)] == []
    (call,) = Conversation.objects.filter(channel="phone")
    assert call.outcome == "genero_venta" and call.state == "resuelta"
