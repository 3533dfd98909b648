"""Issue 14: merging a duplicate customer moves everything it has — conversations, orders, leads, phones, emails, tags,
marketing lists, web-chat visitors, WhatsApp contacts — to the customer kept, from the page and the API, and the
reports follow. SQLite and PostgreSQL (the suite runs on both)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from accounts.roles import Role
from core.models import AuditLog
from customers.actions import do_upsert_customer
from customers.merge import merge_participants
from customers.models import Customer, DuplicateCandidate, MarketingList
from inbox.actions import do_receive_inbound
from inbox.models import Conversation
from leads.tests.factories import LeadFactory
from orders.models import Order
from reports.models import ConversationFact
from reports.rollups import refresh_all_dirty

pytestmark = pytest.mark.django_db


def test_every_relation_to_a_customer_is_moved_by_some_app():
    # given every model that points at Customer (the customers app owns its phones, emails, tags and duplicates)
    foreign = {rel.related_model._meta.app_label for rel in Customer._meta.related_objects
               if rel.related_model._meta.app_label != "customers"}
    # then each of their apps registered a merge participant, so no row is left behind (or blocks the delete)
    assert foreign <= set(merge_participants()), foreign - set(merge_participants())
    assert {"leads", "inbox", "orders"} <= foreign


def customer_with_history(name: str, phone: str, email: str, *, agent: Any) -> tuple[Customer, Conversation]:
    customer = do_upsert_customer(name=name, phones=[phone], emails=[email])
    conversation, _message, _new = do_receive_inbound(channel="whatsapp", body=f"Hola, soy {name}",
                                                      customer_name=name, phones=[phone])
    lead = LeadFactory(customer=customer)
    Order.objects.create(lead=lead, customer=customer, agent=agent)
    return customer, conversation


@pytest.fixture
def duplicates(make_user):
    agent = make_user(Role.AGENTE)
    keep, kept_conversation = customer_with_history("Ana Peña", "+573001112233", "ana@example.com", agent=agent)
    gone, gone_conversation = customer_with_history("Ana P.", "+573004445566", "ana.p@example.com", agent=agent)
    vip = MarketingList.objects.create(name="VIP", code="vip")
    gone.marketing_lists.add(vip)
    gone.tags.create(name="frecuente")
    DuplicateCandidate.objects.create(customer=keep, other=gone, reason="mismo nombre")
    refresh_all_dirty()
    return keep, gone, [kept_conversation.pk, gone_conversation.pk]


def test_a_supervisor_merges_duplicates_that_both_have_conversations_orders_and_leads(duplicates, make_user,
                                                                                     client_for):
    keep, gone, conversations = duplicates
    supervisor = make_user(Role.SUPERVISOR)
    # when a supervisor merges them from the duplicates page
    response = client_for(supervisor).post(reverse("customers:merge"), {"keep": keep.pk, "merge": gone.pk})
    # then the page says so, and the duplicate is gone
    assert response.status_code == 302
    assert not Customer.objects.filter(pk=gone.pk).exists()
    # and everything it had now belongs to the customer kept
    assert sorted(keep.conversations.values_list("pk", flat=True)) == sorted(conversations)
    assert keep.orders.count() == 2 and keep.leads.count() == 2
    assert sorted(keep.phones.values_list("e164", flat=True)) == ["+573001112233", "+573004445566"]
    assert sorted(keep.emails.values_list("email", flat=True)) == ["ana.p@example.com", "ana@example.com"]
    assert list(keep.tags.values_list("name", flat=True)) == ["frecuente"]
    assert list(keep.marketing_lists.values_list("code", flat=True)) == ["vip"]
    assert not DuplicateCandidate.objects.exists()
    # and the history says who merged whom
    entry = AuditLog.objects.get(action="customer.merged")
    assert entry.actor == supervisor and entry.changes == {"merged": [gone.pk, "Ana P."]}
    # and the reports count both conversations under the customer kept once they refresh
    refresh_all_dirty()
    assert set(ConversationFact.objects.values_list("customer_id", flat=True)) == {keep.pk}


def test_the_api_merges_and_answers_the_customer_kept(duplicates, make_user, api_client_for):
    keep, gone, _conversations = duplicates
    # when a supervisor's integration merges through the API
    response = api_client_for(make_user(Role.SUPERVISOR)).post(
        "/api/v1/customers/merge", {"keep": keep.pk, "merge": gone.pk}, content_type="application/json")
    # then it answers the customer kept with what it now holds
    assert response.status_code == 200, response.content
    assert response.json() == {"id": keep.pk, "uuid": str(keep.uuid), "name": "Ana Peña",
                               "phones": ["+573001112233", "+573004445566"],
                               "emails": ["ana.p@example.com", "ana@example.com"], "conversations": 2, "orders": 2,
                               "leads": 2}


def test_the_api_refuses_agents_unknown_customers_and_a_customer_merged_with_itself(duplicates, make_user,
                                                                                     api_client_for):
    keep, gone, _conversations = duplicates
    supervisor = api_client_for(make_user(Role.SUPERVISOR))
    # an agent may not merge
    agent = api_client_for(make_user(Role.AGENTE))
    assert agent.post("/api/v1/customers/merge", {"keep": keep.pk, "merge": gone.pk},
                      content_type="application/json").status_code == 403
    # a customer that does not exist is a 404, a customer with itself a 409; nothing changed
    missing = supervisor.post("/api/v1/customers/merge", {"keep": keep.pk, "merge": 999_999},
                              content_type="application/json")
    assert (missing.status_code, missing.json()["code"]) == (404, "customer_not_found")
    itself = supervisor.post("/api/v1/customers/merge", {"keep": keep.pk, "merge": keep.pk},
                             content_type="application/json")
    assert (itself.status_code, itself.json()["code"]) == (409, "same_customer")
    assert Customer.objects.filter(pk__in=[keep.pk, gone.pk]).count() == 2
    assert Conversation.objects.filter(customer=gone).count() == 1


@pytest.mark.parametrize("form", [{"keep": "uno", "merge": "2"}, {"keep": "1"}, {"keep": "-1", "merge": "1e3"}])
def test_a_tampered_merge_form_gets_a_sentence_not_a_python_error(form, make_user, client_for):
    # given a supervisor whose form was altered
    client = client_for(make_user(Role.SUPERVISOR))
    # when it is posted
    response = client.post(reverse("customers:merge"), form, follow=True)
    # then the page says what to do, in words, and nothing was merged
    assert response.status_code == 200
    texts = [str(m) for m in response.context["messages"]]
    assert texts == ["Elija el cliente que se conserva y el que se fusiona."]
    assert not AuditLog.objects.filter(action="customer.merged").exists()


def test_merging_keeps_an_opt_out_from_either_customer_and_moves_the_rest(make_user):
    # given the kept customer accepted WhatsApp, and the duplicate replied «BAJA» on WhatsApp and accepted email
    from customers.actions import do_merge_customers, do_set_consent
    from customers.models import Consent

    keep = do_upsert_customer(name="Ana Peña", phones=["+573001112233"])
    gone = do_upsert_customer(name="Ana P.", phones=["+573004445566"])
    do_set_consent(keep, channel="whatsapp", status="opted_in", source="Formulario de la tienda")
    do_set_consent(gone, channel="whatsapp", status="opted_out", method="keyword")
    do_set_consent(gone, channel="email", status="opted_in", source="Boletín")
    # when they are merged
    do_merge_customers(keep_id=keep.pk, merge_id=gone.pk, acting_user=make_user(Role.SUPERVISOR))
    # then the opt-out stands on the kept customer and the email consent moved with its source
    consents = {c.channel: c for c in Consent.objects.filter(customer=keep)}
    assert consents["whatsapp"].status == "opted_out" and consents["whatsapp"].opt_out_method == "keyword"
    assert consents["email"].status == "opted_in" and consents["email"].source == "Boletín"
