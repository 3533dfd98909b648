"""One websocket per logged-in user: joins `user.<id>`, its permissions' topics and its rooms (realtime.rooms), and
forwards the events actions send there."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from accounts.models import User
from core.tasks import enqueue_later
from realtime import presence, tasks
from realtime.events import topic_group, user_group
from realtime.rooms import RoomSet, rooms_for
from realtime.topics import topics_for

CLOSE_UNAUTHENTICATED = 4401
CLOSE_ACCESS_CHANGED = 4409  # the account's access changed: the page reconnects, and is refused if deactivated

# What a browser may send besides "ping", by its "type": the app that handles it registers from its AppConfig.ready()
# (the inbox registers "viewing"), so realtime never imports the apps above it. A handler runs in a thread with the
# connection's user and the message, and checks the message itself.
ClientMessageHandler = Callable[[Any, dict[str, Any]], object]
CLIENT_MESSAGES: dict[str, ClientMessageHandler] = {}


def on_client_message(kind: str, handler: ClientMessageHandler) -> None:
    CLIENT_MESSAGES[kind] = handler


def _still_active(user_id: int) -> bool:
    return User.objects.filter(pk=user_id, is_active=True).exists()


def _schedule_auto_offline(user_id: int) -> None:
    delay = settings.AUTO_OFFLINE_SECONDS
    if delay > 0:  # never immediately: the grace period is what lets a page reload keep the agent online
        enqueue_later(tasks.auto_offline, timezone.now() + timedelta(seconds=delay), user_id)


class UserEventsConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None
    user_id: int | None = None
    topics: list[str] = []
    rooms: RoomSet | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        # The user was loaded before this connection could hear a "close" for an account switched off meanwhile.
        if not await sync_to_async(_still_active)(user.pk):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.topics = [topic_group(t) for t in topics_for(user)]  # type: ignore[arg-type]  # resolved lazy User
        for group in self.topics:
            await self.channel_layer.group_add(group, self.channel_name)
        # Read after joining `user.<id>`: a membership change committed from here on reaches this connection as a
        # control message queued behind this handler (realtime.rooms).
        self.rooms = RoomSet(self.channel_layer, self.channel_name)
        await self.rooms.join(await sync_to_async(rooms_for)(user))
        await sync_to_async(presence.register_connection)(user.pk, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "op": "connected", "user_id": user.pk})

    async def disconnect(self, code: int) -> None:
        if self.group is not None and self.user_id is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            for group in self.topics:
                await self.channel_layer.group_discard(group, self.channel_name)
            if self.rooms is not None:
                await self.rooms.leave(set(self.rooms.rooms))
            await sync_to_async(presence.drop_connection)(self.channel_name)
            # If this was the user's last tab, a deferred task sets them offline after a grace period
            # (a page reload reconnects well within it).
            await sync_to_async(_schedule_auto_offline)(self.user_id)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "ping":
            await sync_to_async(presence.touch_connection)(self.channel_name)
            await self.send_json({"type": "pong"})
        elif (handler := CLIENT_MESSAGES.get(str(content.get("type")))) is not None:
            await sync_to_async(handler)(self.scope["user"], content)

    async def realtime_rooms(self, message: dict[str, Any]) -> None:
        if self.rooms is not None:
            await self.rooms.sync(await sync_to_async(rooms_for)(self.scope["user"]))

    async def realtime_close(self, message: dict[str, Any]) -> None:
        await self.close(code=CLOSE_ACCESS_CHANGED)

    async def realtime_event(self, message: dict[str, Any]) -> None:
        if self.rooms is not None and not self.rooms.accepts(message):
            return  # queued for a room this connection has left since
        await self.send(text_data=message["text"])
