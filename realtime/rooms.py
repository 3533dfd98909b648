"""Rooms: channel-layer groups that follow data an app keeps — the members of a team-chat channel.

An event for everyone in a room is one `group_send` however many people are in it (an event to 200 members sent
to 200 `user.<id>` groups cost 200 sends, each with its own trip to Redis, and the in-memory layer's clean-up
200 times over). The app that owns the data names each user's rooms (`provide_rooms`, registered from its
AppConfig.ready(), so realtime never imports the apps above it), and a connection joins them when it opens.

When membership changes, the action calls `events.rooms_changed_on_commit`. After the commit the server adds or
removes the people's registered connections (realtime.models.Connection) at once — so the events the same commit
sends to the room already follow the change — and then sends each person's `user.<id>` group a `resync` control
message: the connection reads its rooms again from the database and joins or leaves to match. Reading the state,
rather than applying "join"/"leave" messages, makes the outcome independent of the order in which changes arrive.
Every connection joined `user.<id>` before it read its rooms, so a change that commits while it is opening still
reaches it. A connection forwards a room's event only while the room is in its own set (`RoomSet.accepts`): an
event already queued when someone left is dropped, not shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

RoomProvider = Callable[[Any], Iterable[str]]
PROVIDERS: list[RoomProvider] = []


def provide_rooms(provider: RoomProvider) -> None:
    if provider not in PROVIDERS:
        PROVIDERS.append(provider)


def rooms_for(user: Any) -> set[str]:
    return {room for provider in PROVIDERS for room in provider(user)}


def room_group(room: str) -> str:
    return f"room.{room}"


class RoomSet:
    """The rooms one connection (`channel_name` on `layer`) is in, kept in step with the control messages."""

    def __init__(self, layer: Any, channel_name: str) -> None:
        self.layer = layer
        self.channel_name = channel_name
        self.rooms: set[str] = set()

    async def join(self, rooms: Iterable[str]) -> None:
        for room in sorted(set(rooms) - self.rooms):
            await self.layer.group_add(room_group(room), self.channel_name)
            self.rooms.add(room)

    async def leave(self, rooms: Iterable[str]) -> None:
        for room in sorted(set(rooms) & self.rooms):
            self.rooms.discard(room)
            await self.layer.group_discard(room_group(room), self.channel_name)

    async def sync(self, rooms: Iterable[str]) -> None:
        """Joins and leaves so that the connection is in exactly `rooms` (as read from the database now)."""
        wanted = set(rooms)
        await self.leave(self.rooms - wanted)
        await self.join(wanted - self.rooms)

    def accepts(self, message: dict[str, Any]) -> bool:
        room = message.get("room")
        return room is None or room in self.rooms
