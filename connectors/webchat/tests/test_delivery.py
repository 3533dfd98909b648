"""Agent replies reach the visitor's sockets (after commit), are acknowledged by the widget, and internal notes
never leave the inbox."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.urls import reverse

from connectors.webchat import actions
from connectors.webchat.delivery import visitor_group
from connectors.webchat.models import Visitor
from connectors.webchat.tokens import sign_attachment
from inbox.actions import check_add_note, check_send_reply
from inbox.attachments import Upload
from inbox.tasks import deliver_outbound

pytestmark = pytest.mark.django_db


def listen(visitor: Visitor) -> str:
    """A channel subscribed to the visitor's group, as the visitor's socket would be."""
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(visitor_group(visitor.key), channel)
    return channel


def received(channel: str) -> list[dict[str, Any]]:
    """Everything waiting on the channel (nothing more arrives within 50 ms)."""
    layer = get_channel_layer()

    async def drain() -> list[dict[str, Any]]:
        out = []
        while True:
            try:
                out.append(await asyncio.wait_for(layer.receive(channel), timeout=0.05))
            except TimeoutError:
                return out

    return async_to_sync(drain)()


@pytest.fixture
def chatting(site, visitor, online_agent, django_capture_on_commit_callbacks):
    """A visitor who wrote once, so they have a conversation, and a socket listening for them."""
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_visitor_message(site, visitor, content="Hola", echo_id="first")
    visitor.refresh_from_db()
    return visitor, listen(visitor)


def test_reply_is_pushed_to_the_visitor_and_marked_sent(chatting, online_agent, django_capture_on_commit_callbacks):
    visitor, channel = chatting
    # given an agent's reply, queued for the web chat connector
    with django_capture_on_commit_callbacks(execute=True):
        reply = check_send_reply(online_agent, visitor.conversation_id, body="¡Hola! ¿En qué te ayudo?")
    assert reply.delivery_status == "queued"
    # when the delivery task runs (the worker; here called directly) through the registered sender
    with django_capture_on_commit_callbacks(execute=True):
        deliver_outbound.call(reply.pk)
    # then the visitor's socket got it, shaped like Chatwoot's message.created, and it is "sent"
    (event,) = received(channel)
    assert event["type"] == "webchat.event" and event["event"] == "message.created"
    assert event["data"]["id"] == reply.pk and event["data"]["content"] == "¡Hola! ¿En qué te ayudo?"
    assert event["data"]["message_type"] == 1
    reply.refresh_from_db()
    assert reply.delivery_status == "sent"


def test_nothing_is_pushed_before_commit(chatting, online_agent):
    visitor, channel = chatting
    reply = check_send_reply(online_agent, visitor.conversation_id, body="Respuesta")
    # when the sender runs but its transaction has not committed (captured callbacks not executed)
    from django.db import transaction

    with transaction.atomic():
        deliver_outbound.call(reply.pk)
        assert received(channel) == []
    # (outside a transaction the push goes at once)


def test_delivery_is_idempotent(chatting, online_agent, django_capture_on_commit_callbacks):
    visitor, channel = chatting
    reply = check_send_reply(online_agent, visitor.conversation_id, body="Una vez")
    with django_capture_on_commit_callbacks(execute=True):
        deliver_outbound.call(reply.pk)
        deliver_outbound.call(reply.pk)  # a retried task
    assert len(received(channel)) == 1


def test_internal_notes_never_reach_the_visitor(chatting, online_agent, django_capture_on_commit_callbacks):
    visitor, channel = chatting
    # given an internal note on the visitor's conversation
    with django_capture_on_commit_callbacks(execute=True):
        note = check_add_note(online_agent, visitor.conversation_id, body="Nota interna: no decirle el precio")
    # when something asks the connector to deliver it anyway
    with django_capture_on_commit_callbacks(execute=True):
        deliver_outbound.call(note.pk)
    # then nothing was pushed and the note is untouched
    assert received(channel) == []
    note.refresh_from_db()
    assert note.delivery_status == ""


def test_reply_without_a_visitor_fails_visibly(online_agent, django_capture_on_commit_callbacks):
    # given a web chat conversation nobody's widget is linked to (e.g. imported through the API)
    from inbox.actions import do_receive_inbound

    c, _m, _ = do_receive_inbound(channel="webchat", body="hola", customer_name="Sin widget")
    reply = check_send_reply(online_agent, c.pk, body="¿Sigues ahí?")
    deliver_outbound.call(reply.pk)
    reply.refresh_from_db()
    assert reply.delivery_status == "failed" and reply.delivery_error


def test_widget_acknowledges_delivered_then_read(chatting, online_agent, django_capture_on_commit_callbacks):
    visitor, _channel = chatting
    reply = check_send_reply(online_agent, visitor.conversation_id, body="Respuesta")
    deliver_outbound.call(reply.pk)
    # when the widget reports it received, then showed, the reply
    assert actions.check_visitor_ack(visitor, message_ids=[reply.pk], status="delivered") == 1
    assert actions.check_visitor_ack(visitor, message_ids=[reply.pk], status="read") == 1
    reply.refresh_from_db()
    assert reply.delivery_status == "read"


def test_a_visitor_cannot_acknowledge_other_messages(chatting, site, online_agent):
    visitor, _channel = chatting
    from connectors.webchat.tests.factories import VisitorFactory

    other = VisitorFactory(site=site, name="Otro")
    actions.check_visitor_message(site, other, content="Hola", echo_id="o1")
    other.refresh_from_db()
    foreign = check_send_reply(online_agent, other.conversation_id, body="Para otro")
    assert actions.check_visitor_ack(visitor, message_ids=[foreign.pk, "x", True], status="read") == 0
    foreign.refresh_from_db()
    assert foreign.delivery_status == "queued"
    with pytest.raises(actions.ActionError):
        actions.check_visitor_ack(visitor, message_ids=[foreign.pk], status="failed")


def test_visitor_message_is_echoed_to_their_other_tabs(site, visitor, online_agent,
                                                       django_capture_on_commit_callbacks):
    channel = listen(visitor)
    with django_capture_on_commit_callbacks(execute=True):
        message, created = actions.check_visitor_message(site, visitor, content="Desde la pestaña 1", echo_id="t1")
    (event,) = received(channel)
    assert created and event["data"]["echo_id"] == "t1" and event["data"]["id"] == message.pk


def test_history_starts_when_the_visitor_joined(site, visitor, online_agent):
    # given a conversation with a message from before this visitor was linked to it (e.g. a reopened thread)
    from datetime import timedelta

    from django.utils import timezone

    from inbox.actions import do_receive_inbound

    c, old, _ = do_receive_inbound(channel="webchat", body="Mensaje viejo", customer_name="Alguien",
                                   received_at=timezone.now() - timedelta(hours=1))
    new = do_receive_inbound(channel="webchat", body="Mensaje nuevo", conversation_id=c.pk)[1]
    Visitor.objects.filter(pk=visitor.pk).update(conversation=c, joined_at=new.created_at)
    visitor.refresh_from_db()
    # then the visitor's history starts at their own message
    from connectors.webchat.selectors import history

    rows, _more = history(visitor)
    assert [m.body for m in rows] == ["Mensaje nuevo"] and old.created_at < new.created_at


def test_a_file_reaches_the_visitor_as_a_signed_link_that_only_opens_that_file(
        chatting, online_agent, client, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path
    visitor, channel = chatting
    # given an agent's answer with a file, and an internal note with another
    with django_capture_on_commit_callbacks(execute=True):
        reply = check_send_reply(online_agent, visitor.conversation_id, body="Le dejo el menú",
                                 uploads=[Upload("menú.pdf", "application/pdf", b"%PDF menu")])
        note = check_add_note(online_agent, visitor.conversation_id, body="Interno",
                              uploads=[Upload("interno.pdf", "application/pdf", b"%PDF interno")])
    # when it is delivered
    with django_capture_on_commit_callbacks(execute=True):
        deliver_outbound.call(reply.pk)
    # then the widget gets a link to the file, on Centralita's address, named as the agent's file
    (event,) = received(channel)
    (link,) = event["data"]["attachments"]
    assert link["name"] == "menú.pdf" and link["url"].startswith(settings.SITE_URL.rstrip("/") + "/webchat/archivo/")
    # and the link downloads that file (never rendered as a page)
    opened = client.get(link["url"].removeprefix(settings.SITE_URL.rstrip("/")))
    assert opened.status_code == 200 and b"".join(opened.streaming_content) == b"%PDF menu"
    assert opened["Content-Disposition"].startswith("attachment") and "sandbox" in opened["Content-Security-Policy"]
    # and a link altered by hand, or one made for the note, opens nothing
    token = link["url"].rsplit("/", 1)[1]
    assert client.get(reverse("webchat:attachment", args=[token[:-2] + "xx"])).status_code == 404
    forged = reverse("webchat:attachment", args=[sign_attachment(message_id=note.pk, index=0)])
    assert client.get(forged).status_code == 404
