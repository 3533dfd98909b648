from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import Role
from accounts.tests.factories import TeamFactory, UserFactory
from inbox.actions import do_receive_inbound
from inbox.models import Conversation, Inbox, Message

pytestmark = pytest.mark.django_db


def test_api_channel_conversation_reply_and_close_flow(agent, api_client_for):
    api = api_client_for(agent)
    created = api.post("/api/v1/conversations", {"customer": {"name": "Ana", "phone": "3001234567"},
                                                 "message": "Hola, ¿tienen envíos a Cali?"},
                       content_type="application/json")
    assert created.status_code == 201
    cid = created.json()["id"]
    again = api.post("/api/v1/conversations", {"customer": {"name": "Ana", "phone": "+57 300 123 4567"},
                                               "message": "¿Hola?"}, content_type="application/json")
    assert again.status_code == 200 and again.json()["id"] == cid
    refused = api.post(f"/api/v1/conversations/{cid}/transition", {"to": "resuelta", "reason": "answered"},
                       content_type="application/json")
    assert refused.status_code == 409 and refused.json()["accepted_reasons"] == []
    api.post(f"/api/v1/conversations/{cid}/assign", {"assignee": agent.username}, content_type="application/json")
    note = api.post(f"/api/v1/conversations/{cid}/messages", {"kind": "note", "body": "revisar cobertura"},
                    content_type="application/json")
    assert note.status_code == 201
    reply = api.post(f"/api/v1/conversations/{cid}/messages", {"kind": "reply", "body": "¡Sí, a todo el país!"},
                     content_type="application/json")
    assert reply.json()["state"] == "en_espera"
    closed = api.post(f"/api/v1/conversations/{cid}/transition", {"to": "resuelta", "reason": "answered"},
                      content_type="application/json")
    assert closed.status_code == 200 and closed.json()["state"] == "resuelta"
    kinds = [i["kind"] for i in closed.json()["timeline"] if i["type"] == "message"]
    assert kinds == ["inbound", "inbound", "note", "outbound"]


def test_list_filters_and_keyset_pagination(supervisor, api_client_for, django_assert_max_num_queries):
    for i in range(25):
        do_receive_inbound(channel="whatsapp", body=f"mensaje {i}", customer_name=f"Cliente {i}",
                           phones=[f"+5731{i:08d}"])
    api = api_client_for(supervisor)
    api.get("/api/v1/conversations?page_size=5")
    with django_assert_max_num_queries(6):
        first = api.get("/api/v1/conversations?page_size=10&state=nueva").json()
    seen = [c["id"] for c in first["results"]]
    page = first
    while page["next"]:
        page = api.get(page["next"]).json()
        seen += [c["id"] for c in page["results"]]
    assert len(seen) == len(set(seen)) == 25 == Conversation.objects.count()
    unowned = api.get("/api/v1/conversations?unowned=true&page_size=100").json()
    assert len(unowned["results"]) == 25


def test_a_failed_answer_is_retried_through_the_api(agent, api_client_for):
    # given an email answer whose delivery failed
    c, _m, _new = do_receive_inbound(channel="email", body="¿Tienen la talla M?", customer_name="Ana",
                                     emails=["ana@cliente.test"])
    failed = Message.objects.create(conversation=c, cycle=c.cycle, kind="outbound", author=agent, body="Sí",
                                    delivery_status="failed", delivery_error="5.1.1 Usuario desconocido")
    api = api_client_for(agent)
    api.post(f"/api/v1/conversations/{c.pk}/assign", {"assignee": agent.username}, content_type="application/json")
    # when it is retried
    retried = api.post(f"/api/v1/conversations/{c.pk}/messages/{failed.pk}/retry")
    # then the timeline shows it queued again; a second retry is a 409 with the reason; a stranger's id is a 404
    assert retried.status_code == 200
    (item,) = [i for i in retried.json()["timeline"] if i["type"] == "message" and i["id"] == failed.pk]
    assert item["delivery_status"] == "queued"
    again = api.post(f"/api/v1/conversations/{c.pk}/messages/{failed.pk}/retry")
    assert again.status_code == 409 and again.json()["code"] == "not_failed"
    assert api.post(f"/api/v1/conversations/{c.pk}/messages/999999/retry").status_code == 404


def test_a_create_answers_what_reading_the_conversation_back_gives(supervisor, api_client_for):
    # given an inbox that assigns automatically, so the create changes owner and state on the way
    team = TeamFactory(code="ventas-api", name="Ventas API")
    ventas, _ = Inbox.objects.update_or_create(code="ventas", defaults={"name": "Ventas", "auto_assign": True})
    ventas.teams.set([team])
    UserFactory(role=Role.AGENTE, availability="disponible").teams.add(team)
    api = api_client_for(supervisor)
    created = api.post("/api/v1/conversations", {"customer": {"name": "Ana Peña", "phone": "3001239876"},
                                                 "message": "¿Tienen el plan hogar?", "inbox": "ventas"},
                       content_type="application/json")
    assert created.status_code == 201
    assert created.json()["assignee"] is not None and created.json()["state"] == "pendiente"
    # when it is read back / then the create's answer (built from the objects the action holds) is the same
    assert api.get(f"/api/v1/conversations/{created.json()['id']}").json() == created.json()


def test_a_new_customers_first_message_writes_without_locking_or_looking_up(supervisor, api_client_for):
    """The API create's hot path (issue 14's benchmark): a customer created in the request has no conversation to
    continue and nobody else can see it, so there is no lock and no lookup; the conversation row carries the
    message's marks (no UPDATE after the INSERT) and the three events are logged in one INSERT."""
    api = api_client_for(supervisor)
    with CaptureQueriesContext(connection) as queries:
        created = api.post("/api/v1/conversations", {"customer": {"name": "Rosa Díaz", "phone": "3004445566"},
                                                     "message": "Buenas tardes"}, content_type="application/json")
    assert created.status_code == 201
    sql = [q["sql"] for q in queries.captured_queries]
    assert not [s for s in sql if "FOR UPDATE" in s]
    assert not [s for s in sql if s.startswith("SELECT") and 'FROM "inbox_conversation"' in s]
    assert not [s for s in sql if s.startswith('UPDATE "inbox_conversation"')]
    assert len([s for s in sql if s.startswith('INSERT INTO "core_eventlog"')]) == 1
    c = Conversation.objects.get(pk=created.json()["id"])
    assert (c.awaiting_reply, c.last_message_preview, c.waiting_since) == (True, "Buenas tardes", c.created_at)
    assert c.last_customer_message_at == c.created_at


def test_the_api_offers_only_the_close_reasons_a_person_may_give():
    # given the reasons of the API's schema and of the close dialog
    from typing import get_args

    from inbox.api import ManualCloseReason
    from inbox.choices import MANUAL_CLOSE_REASONS

    # then they are the same four; a call's reasons are not among them
    assert set(get_args(ManualCloseReason)) == {r.value for r in MANUAL_CLOSE_REASONS}
    assert "call_noted" not in get_args(ManualCloseReason)
