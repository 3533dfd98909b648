"""The visitor's websocket: origin check, subscription by signed token, messages and typing both ways, receipts."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from connectors.webchat import consumers
from connectors.webchat.routing import with_webchat_websocket
from connectors.webchat.tests.conftest import ORIGIN
from connectors.webchat.tests.factories import token_for
from inbox.actions import check_send_reply
from inbox.models import Message
from inbox.tasks import deliver_outbound
from realtime.routing import websocket_urlpatterns

# The same dispatch as config/asgi.py, minus the staff socket's session and origin middleware.
app = with_webchat_websocket(URLRouter(websocket_urlpatterns))
pytestmark = pytest.mark.django_db(transaction=True)


def visitor_socket(site_token: str, origin: str = ORIGIN, host: str = "centralita.example") -> WebsocketCommunicator:
    return WebsocketCommunicator(app, f"/ws/webchat/?site={site_token}",
                                 headers=[(b"origin", origin.encode()), (b"host", host.encode())])


async def subscribed(site: Any, visitor: Any) -> WebsocketCommunicator:
    ws = visitor_socket(site.token)
    connected, _code = await ws.connect()
    assert connected
    assert (await ws.receive_json_from())["type"] == "welcome"
    await ws.send_json_to({"action": "subscribe", "visitor_token": token_for(visitor)})
    confirm = await ws.receive_json_from()
    assert confirm["type"] == "confirm_subscription", confirm
    return ws


def test_socket_from_a_foreign_origin_is_refused(site):
    async def scenario() -> tuple[bool, int]:
        return await visitor_socket(site.token, origin="https://evil.example").connect()

    connected, code = async_to_sync(scenario)()
    assert not connected and code == consumers.CLOSE_FORBIDDEN


def test_socket_for_an_unknown_site_is_refused(site):
    async def scenario() -> tuple[bool, int]:
        return await visitor_socket("no-such-site").connect()

    connected, code = async_to_sync(scenario)()
    assert not connected and code == consumers.CLOSE_FORBIDDEN


def test_same_origin_needs_a_host_we_serve(site, settings):
    # given Centralita served as centralita.example
    settings.ALLOWED_HOSTS = ["centralita.example"]

    async def scenario() -> tuple[bool, bool]:
        ours = visitor_socket(site.token, origin="https://centralita.example", host="centralita.example")
        spoofed = visitor_socket(site.token, origin="https://evil.example", host="evil.example")
        ok, _ = await ours.connect()
        bad, _ = await spoofed.connect()
        await ours.disconnect()
        return ok, bad

    # then its own pages may connect; a Host header naming the attacker's site does not make it "same origin"
    assert async_to_sync(scenario)() == (True, False)


def test_forged_visitor_token_is_rejected(site, visitor):
    async def scenario() -> tuple[dict[str, Any], Any]:
        ws = visitor_socket(site.token)
        await ws.connect()
        await ws.receive_json_from()
        await ws.send_json_to({"action": "subscribe", "visitor_token": token_for(visitor) + "x"})
        reply = await ws.receive_json_from()
        closed = await ws.receive_output()
        return reply, closed

    reply, closed = async_to_sync(scenario)()
    assert reply == {"type": "reject_subscription"}
    assert closed["type"] == "websocket.close" and closed["code"] == consumers.CLOSE_UNAUTHORIZED


def test_frames_before_subscribing_are_ignored_and_the_socket_expires(site, visitor, monkeypatch):
    monkeypatch.setattr(consumers, "SUBSCRIBE_TIMEOUT", 0.2)

    async def scenario() -> Any:
        ws = visitor_socket(site.token)
        await ws.connect()
        await ws.receive_json_from()
        await ws.send_json_to({"action": "send", "content": "sin suscribirme", "echo_id": "x"})
        await ws.send_to(text_data="not json")
        return await ws.receive_output(timeout=2)

    closed = async_to_sync(scenario)()
    assert closed["type"] == "websocket.close" and closed["code"] == consumers.CLOSE_UNAUTHORIZED
    assert not Message.objects.exists()


def test_visitor_writes_and_every_tab_sees_it(site, visitor, online_agent):
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        tab1 = await subscribed(site, visitor)
        tab2 = await subscribed(site, visitor)
        await tab1.send_json_to({"action": "send", "content": "Hola <b>equipo</b>", "echo_id": "tab1-1",
                                 "page_url": "https://tienda.example/"})
        first = await tab1.receive_json_from(timeout=3)
        second = await tab2.receive_json_from(timeout=3)
        await tab1.disconnect()
        await tab2.disconnect()
        return first, second

    first, second = async_to_sync(scenario)()
    assert first["event"] == "message.created" and first["data"]["echo_id"] == "tab1-1"
    assert first["data"]["content"] == "Hola equipo" and second["data"]["id"] == first["data"]["id"]
    assert Message.objects.get().conversation.channel == "webchat"


def test_resending_over_the_socket_returns_the_stored_message(site, visitor, online_agent):
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        ws = await subscribed(site, visitor)
        await ws.send_json_to({"action": "send", "content": "Hola", "echo_id": "dup-1"})
        first = await ws.receive_json_from(timeout=3)
        await ws.send_json_to({"action": "send", "content": "Hola", "echo_id": "dup-1"})  # the ack got lost
        again = await ws.receive_json_from(timeout=3)
        await ws.disconnect()
        return first, again

    first, again = async_to_sync(scenario)()
    assert again["event"] == "message.created" and again["data"]["id"] == first["data"]["id"]
    assert Message.objects.count() == 1


def test_rate_limit_over_the_socket_answers_an_error_frame(site, visitor, settings, online_agent, one_limiter_window):
    settings.WEBCHAT_LIMITS = {"message": (1, 60)}

    async def scenario() -> dict[str, Any]:
        ws = await subscribed(site, visitor)
        await ws.send_json_to({"action": "send", "content": "uno", "echo_id": "r1"})
        await ws.receive_json_from(timeout=3)
        await ws.send_json_to({"action": "send", "content": "dos", "echo_id": "r2"})
        error = await ws.receive_json_from(timeout=3)
        await ws.disconnect()
        return error

    error = async_to_sync(scenario)()
    assert error["event"] == "error" and error["data"]["code"] == "rate_limited"
    assert error["data"]["echo_id"] == "r2" and error["data"]["retry_after"] > 0


def test_visitor_typing_reaches_the_agents_socket(site, visitor, online_agent):
    async def scenario() -> dict[str, Any]:
        ws = await subscribed(site, visitor)
        await ws.send_json_to({"action": "send", "content": "Hola", "echo_id": "t0"})
        await ws.receive_json_from(timeout=3)
        agent = WebsocketCommunicator(app, "/ws/events/")
        agent.scope["user"] = online_agent
        await agent.connect()
        await agent.receive_json_from()  # hello
        await ws.send_json_to({"action": "typing", "on": True})
        event = await agent.receive_json_from(timeout=3)
        await agent.disconnect()
        await ws.disconnect()
        return event

    event = async_to_sync(scenario)()
    visitor.refresh_from_db()
    assert event["type"] == "webchat" and event["op"] == "typing" and event["typing"] is True
    assert event["conversation_id"] == visitor.conversation_id


def test_agent_typing_and_reply_reach_the_visitor_live(site, visitor, online_agent, client_for):
    agent_client = client_for(online_agent)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        ws = await subscribed(site, visitor)
        await ws.send_json_to({"action": "send", "content": "¿Hay stock?", "echo_id": "q1"})
        await ws.receive_json_from(timeout=3)
        conversation_id = (await sync_to_async(lambda: Message.objects.get().conversation_id)())
        # the agent types in the reply box (the conversation page posts this)
        response = await sync_to_async(agent_client.post)(f"/webchat/conversations/{conversation_id}/typing",
                                                          {"typing": "1"})
        assert response.status_code == 200 and response.json() == {"visitors": 1}
        typing = await ws.receive_json_from(timeout=3)
        # the agent answers; the worker delivers
        reply = await sync_to_async(check_send_reply)(online_agent, conversation_id, body="Sí, quedan 3.")
        await sync_to_async(deliver_outbound.call)(reply.pk)
        pushed = await ws.receive_json_from(timeout=3)
        # the widget shows it on screen and says so
        await ws.send_json_to({"action": "ack", "ids": [reply.pk], "status": "read"})
        await ws.send_json_to({"action": "ping"})
        pong = await ws.receive_json_from(timeout=3)
        await ws.disconnect()
        return typing, pushed, pong

    typing, pushed, pong = async_to_sync(scenario)()
    assert typing == {"event": "conversation.typing_on", "data": {"name": "Valeria"}}
    assert pushed["event"] == "message.created" and pushed["data"]["content"] == "Sí, quedan 3."
    assert pong == {"type": "pong"}  # (frames are handled in order: the ack was processed before the ping)
    assert Message.objects.get(pk=pushed["data"]["id"]).delivery_status == "read"


def test_agent_typing_on_another_channel_is_refused(online_agent, client_for):
    from inbox.actions import do_receive_inbound

    c, _m, _ = do_receive_inbound(channel="api", body="hola", customer_name="API")
    response = client_for(online_agent).post(f"/webchat/conversations/{c.pk}/typing", {"typing": "1"})
    assert response.status_code == 400 and response.json()["code"] == "not_webchat"
