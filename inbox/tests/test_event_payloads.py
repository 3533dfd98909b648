"""Realtime events carry the change itself, so open pages patch themselves without reloading: a new message or
note as the timeline item (kind, author, time, body, delivery status), history rows (state, assignment) as items,
delivery updates with the message id and status, and the conversation's new state and owner."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from inbox import actions
from inbox.models import ConversationEvent, Message
from realtime import topics

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    """Every conversation event the actions send (after JSON, as the channel layer would carry it)."""
    events = []

    def record(event, *, user_ids=(), topics=()):
        events.append((json.loads(json.dumps(event)), {"users": sorted(set(user_ids)), "topics": sorted(topics)}))

    monkeypatch.setattr("inbox.actions.base.send_event_on_commit", record)
    return events


def conversation_events(sent, op=None):
    return [e for e, _users in sent if e["type"] == "conversation" and (op is None or e["op"] == op)]


def test_inbound_message_event_carries_the_timeline_item(sent):
    supervisor = UserFactory(role=Role.SUPERVISOR, username="sup-ev")
    c, message, _new = actions.do_receive_inbound(channel="whatsapp", body="Hola\n¿tienen envíos?",
                                                  customer_name="Ana Peña", phones=["3001234567"])
    event = conversation_events(sent, "message")[-1]
    assert event["conversation"]["id"] == c.pk and event["conversation"]["state"] == "nueva"
    item = event["message"]
    assert item == {**item, "type": "message", "id": message.pk, "kind": "inbound", "body": "Hola\n¿tienen envíos?",
                    "author": None, "truncated": False, "delivery_status": "", "attachments": []}
    assert datetime.fromisoformat(item["at"]) == message.created_at
    # everyone who works or supervises the inbox gets it through one topic group, not one message per user
    assert [route for e, route in sent if e["op"] == "message"][-1] == {"users": [], "topics": ["inbox"]}
    assert topics.in_topic(supervisor, topics.INBOX)


def test_reply_note_and_state_events(sent):
    agent = UserFactory(role=Role.AGENTE, username="valeria", full_name="Valeria Ruiz")
    c, _m, _new = actions.do_receive_inbound(channel="api", body="Hola", customer_name="Ana", phones=["3001234567"])
    actions.check_assign(UserFactory(role=Role.SUPERVISOR), c.pk, assignee="valeria")
    assigned = conversation_events(sent, "assigned")[-1]
    assert assigned["conversation"]["assignee"] == "valeria"
    assert assigned["conversation"]["assignee_name"] == "Valeria Ruiz"
    assert assigned["item"]["type"] == "event" and assigned["item"]["kind"] == "assigned"
    assert assigned["item"]["data"]["to"] == agent.pk
    sent.clear()
    reply = actions.check_send_reply(agent, c.pk, body="¡Con gusto!")
    kinds = [(e["op"], (e.get("message") or e.get("item") or {}).get("kind")) for e in conversation_events(sent)]
    assert ("message", "outbound") in kinds and ("state", "state") in kinds
    message = next(e for e in conversation_events(sent, "message"))["message"]
    assert message["id"] == reply.pk and message["author"] == "valeria" and message["author_name"] == "Valeria Ruiz"
    assert message["delivery_status"] == "sent"
    state = conversation_events(sent, "state")[-1]
    assert state["conversation"]["state"] == "en_espera"
    assert state["item"]["data"] == {"from": "pendiente", "to": "en_espera", "reason": "replied"}
    assert state["item"]["id"] == ConversationEvent.objects.filter(kind="state").latest("id").pk
    sent.clear()
    note = actions.check_add_note(agent, c.pk, body="revisar cobertura")
    event = conversation_events(sent, "message")[-1]["message"]
    assert event["id"] == note.pk and event["kind"] == "note" and event["body"] == "revisar cobertura"


def test_delivery_event_names_the_message_and_status(sent):
    agent = UserFactory(role=Role.AGENTE, username="valeria")
    c, _m, _new = actions.do_receive_inbound(channel="api", body="Hola", customer_name="Ana", phones=["3001234567"])
    reply = actions.check_send_reply(agent, c.pk, body="Hola")
    Message.objects.filter(pk=reply.pk).update(delivery_status="queued")
    sent.clear()
    assert actions.do_update_delivery_status(reply.pk, status="delivered")
    event = conversation_events(sent, "delivery")[-1]
    assert event["message"]["id"] == reply.pk and event["message"]["status"] == "delivered"
    assert event["conversation"]["id"] == c.pk


def test_long_bodies_travel_cut_and_attachments_as_links(sent):
    c, message, _new = actions.do_receive_inbound(
        channel="api", body="x" * (actions.PAYLOAD_BODY_MAX + 10), customer_name="Ana", phones=["3001234567"],
        attachments=[{"name": "foto.jpg", "content_type": "image/jpeg", "size": 3, "path": "attachments/1/a/foto.jpg"},
                     {"name": "sin-archivo.txt", "content_type": "text/plain"}])
    item = conversation_events(sent, "message")[-1]["message"]
    assert len(item["body"]) == actions.PAYLOAD_BODY_MAX and item["truncated"] is True
    assert item["attachments"] == [
        {"name": "foto.jpg", "content_type": "image/jpeg", "url": f"/inbox/attachments/{message.pk}/0",
         "preview": True},
        {"name": "sin-archivo.txt", "content_type": "text/plain", "url": "", "preview": False}]
    assert "attachments/1/a" not in json.dumps(item)  # storage paths never leave the server
    assert c.pk == conversation_events(sent, "message")[-1]["conversation"]["id"]


def test_transfer_note_is_sent_too(sent):
    supervisor = UserFactory(role=Role.SUPERVISOR, username="sup-tr")
    UserFactory(role=Role.AGENTE, username="destino")
    c, _m, _new = actions.do_receive_inbound(channel="api", body="Hola", customer_name="Ana", phones=["3001234567"])
    sent.clear()
    actions.check_transfer(supervisor, c.pk, to_user="destino",
                           comment="El cliente pide hablar con ventas mayoristas, ya tiene cotización.")
    ops = [e["op"] for e in conversation_events(sent)]
    assert "assigned" in ops
    note = conversation_events(sent, "message")[-1]["message"]
    assert note["kind"] == "note" and note["body"].startswith("Transferencia")
