"""The visitor's websocket (/ws/webchat/?site=<site token>): Chatwoot's widget protocol reduced to JSON frames.

No session: the page embedding the widget is someone else's website. The socket is accepted only from an origin the
site allows, then the first frame must subscribe with the visitor's signed token. Frames:

  client → {"action": "subscribe", "visitor_token": "…"}
           {"action": "send", "content": "…", "echo_id": "…", "page_url": "…",
            "reply": {"id": "<option id>", "message_id": 12}}  (reply: only when a bot's option button was pressed)
           {"action": "typing", "on": true|false}
           {"action": "ack", "ids": [12, 13], "status": "delivered"|"read"}
           {"action": "ping"}
  server → {"type": "welcome"} · {"type": "confirm_subscription", "data": {...}} · {"type": "pong"}
           {"event": "message.created" | "conversation.typing_on" | "conversation.typing_off" | "error", "data": {...}}
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from connectors.webchat import actions
from connectors.webchat.delivery import visitor_group
from connectors.webchat.selectors import cached_agents_available, message_payload, visitor_payload
from core.errors import ActionError

CLOSE_FORBIDDEN = 4403
CLOSE_UNAUTHORIZED = 4401
SUBSCRIBE_TIMEOUT = 15.0  # seconds an unsubscribed socket may stay open
MAX_FRAME = 16_384  # characters; a message is at most 2,000


def _header(scope: Any, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _site_and_origin(token: str, origin: str, host: str) -> int:
    if not validate_host(split_domain_port(host)[0], settings.ALLOWED_HOSTS):
        host = ""  # a Host we do not serve cannot make the socket "same-origin"
    site = actions.access_site(token)
    actions.check_origin(site, origin=origin, host=host)
    return site.pk


def _subscribe(site_token: str, visitor_token: str) -> tuple[int, str, dict[str, Any]]:
    site = actions.access_site(site_token)
    visitor = actions.access_visitor(site, visitor_token)
    return visitor.pk, visitor.key, {"visitor": visitor_payload(visitor), "online": cached_agents_available(site)}


def _send(visitor_id: int, content: Any) -> dict[str, Any] | None:
    """Stores the message (its echo reaches every tab through the group); a resent echo id gets the stored
    message back on this socket only, since nothing new was broadcast."""
    visitor = actions.access_visitor_by_id(visitor_id)
    message, created = actions.check_visitor_message(
        visitor.site, visitor, content=str(content.get("content") or ""), echo_id=str(content.get("echo_id") or ""),
        page_url=str(content.get("page_url") or ""), reply=content.get("reply"))
    return None if created else message_payload(message)


def _ack(visitor_id: int, ids: Any, status: Any) -> None:
    visitor = actions.access_visitor_by_id(visitor_id)
    actions.check_visitor_ack(visitor, message_ids=ids if isinstance(ids, list) else [], status=str(status))


class VisitorConsumer(AsyncJsonWebsocketConsumer):
    site_token: str = ""
    visitor_id: int | None = None
    group: str | None = None
    _expiry: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.site_token = (query.get("site") or [""])[0]
        try:
            await sync_to_async(_site_and_origin)(self.site_token, _header(self.scope, b"origin"),
                                                  _header(self.scope, b"host"))
        except ActionError:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.accept()
        await self.send_json({"type": "welcome"})
        self._expiry = asyncio.ensure_future(self._close_unless_subscribed())

    async def _close_unless_subscribed(self) -> None:
        await asyncio.sleep(SUBSCRIBE_TIMEOUT)
        if self.visitor_id is None:
            await self.close(code=CLOSE_UNAUTHORIZED)

    async def disconnect(self, code: int) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if text_data is None or len(text_data) > MAX_FRAME:
            return  # binary or oversized frames are not part of the protocol
        with contextlib.suppress(ValueError):
            await super().receive(text_data=text_data, **kwargs)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        action = content.get("action")
        if action == "ping":
            await self.send_json({"type": "pong"})
            return
        if self.visitor_id is None:
            if action == "subscribe":
                await self._handle_subscribe(str(content.get("visitor_token") or ""))
            return
        try:
            if action == "send":
                again = await sync_to_async(_send)(self.visitor_id, content)
                if again is not None:
                    await self.send_json({"event": "message.created", "data": again})
            elif action == "typing":
                await sync_to_async(actions.check_visitor_typing)(self.visitor_id, typing=bool(content.get("on")))
            elif action == "ack":
                await sync_to_async(_ack)(self.visitor_id, content.get("ids"), content.get("status"))
        except actions.Unauthorized:
            await self.close(code=CLOSE_UNAUTHORIZED)
        except ActionError as exc:
            await self.send_json({"event": "error", "data": {
                "code": exc.code, "message": exc.message, "echo_id": content.get("echo_id"),
                "retry_after": exc.details.get("retry_after")}})

    async def _handle_subscribe(self, visitor_token: str) -> None:
        try:
            visitor_id, key, data = await sync_to_async(_subscribe)(self.site_token, visitor_token)
        except ActionError:
            await self.send_json({"type": "reject_subscription"})
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.visitor_id, self.group = visitor_id, visitor_group(key)
        await self.channel_layer.group_add(self.group, self.channel_name)
        if self._expiry is not None:
            self._expiry.cancel()
        await self.send_json({"type": "confirm_subscription", "data": data})

    async def webchat_event(self, message: dict[str, Any]) -> None:
        await self.send_json({"event": message["event"], "data": message["data"]})
