"""Rows of the team chat as stored, for tests that need many of them or a given shape. They skip the actions'
bookkeeping (audit entries, realtime events, a channel's `last_message_at`, a thread's `reply_count`, read marks):
a test of behaviour writes through teamchat.actions instead."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import factory
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from accounts.models import User
from accounts.tests.factories import UserFactory
from realtime.events import user_group
from realtime.rooms import RoomSet, rooms_for
from teamchat.choices import ChannelKind, ChannelState, MemberRole
from teamchat.models import Channel, Membership, Message


def _members(channel: Channel, create: bool, extracted: Sequence[User] | None, **kwargs: Any) -> None:
    if not create or not extracted:
        return
    users = list(extracted)
    Membership.objects.bulk_create([
        Membership(channel=channel, user=user,
                   role=MemberRole.OWNER if i == 0 and not channel.is_direct else MemberRole.MEMBER)
        for i, user in enumerate(users)])
    if channel.is_direct and channel.direct_key is None:
        channel.direct_key = ":".join(str(pk) for pk in sorted({u.pk for u in users}))
        channel.kind = ChannelKind.GROUP if len(users) > 2 else ChannelKind.DIRECT
        channel.save(update_fields=["direct_key", "kind"])


class ChannelFactory(factory.django.DjangoModelFactory[Channel]):
    """A public channel. `members=[owner, *others]` makes its memberships, the first one its owner. Traits:
    `private=True`, `archived=True`, and `direct=True` — a direct message between `members` (a group from three
    people on), named by them, its `direct_key` made from their ids."""

    class Meta:
        model = Channel
        skip_postgeneration_save = True

    class Params:
        private = factory.Trait(kind=ChannelKind.PRIVATE)
        archived = factory.Trait(state=ChannelState.ARCHIVED)
        direct = factory.Trait(kind=ChannelKind.DIRECT, name="")

    kind = ChannelKind.PUBLIC
    name = factory.Sequence(lambda n: f"Canal {n}")
    topic = ""

    members = factory.post_generation(_members)


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    channel = factory.SubFactory(ChannelFactory)
    user = factory.SubFactory(UserFactory)
    role = MemberRole.MEMBER


class MessageFactory(factory.django.DjangoModelFactory[Message]):
    """A top-level message (give `parent` for a reply) by a new user unless `author` is given."""

    class Meta:
        model = Message

    channel = factory.SubFactory(ChannelFactory)
    author = factory.SubFactory(UserFactory)
    body = factory.Sequence(lambda n: f"Mensaje {n}")


class Listener:
    """A browser tab of `user` on the real (in-memory) channel layer, joined as the websocket consumer joins: its
    `user.<id>` group, then its rooms (the chat channels it is a member of), following the rooms' control messages
    and dropping a room's events once it has left it."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.layer = get_channel_layer()
        self.name = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(user_group(user.pk), self.name)
        self.rooms = RoomSet(self.layer, self.name)
        async_to_sync(self.rooms.join)(rooms_for(user))

    def events(self) -> list[dict[str, Any]]:
        async def drain() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            while True:
                try:
                    message = await asyncio.wait_for(self.layer.receive(self.name), 0.05)
                except TimeoutError:
                    return out
                if message["type"] == "realtime.rooms":
                    await self.rooms.sync(await sync_to_async(rooms_for)(self.user))
                elif self.rooms.accepts(message):
                    out.append(json.loads(message["text"]))

        return async_to_sync(drain)()
