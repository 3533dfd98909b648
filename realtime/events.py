"""Typed realtime events sent to `user.<id>` groups after commit (STYLE §7).

The action decides who receives an event; this module never decides visibility. Events that every holder of a
permission receives (the call queue, live stock) go to one `topic.<name>` group instead of one message per user:
each connection joins the topics its user's permissions allow (realtime.topics), so a lead update is one
channel-layer message whether 5 or 500 agents watch the queue. Each event gets an
increasing `event_id` (nanoseconds since the epoch), so a client can drop events older than the
snapshot it just loaded. On (re)connect the browser reloads its snapshots (`centralita:resync`).
Events for the members of something an app keeps (a team-chat channel) go to its room (realtime.rooms): one
message for the room, however many are in it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from realtime.rooms import room_group

logger = logging.getLogger(__name__)

_last_event_id = 0
SEND_TIMEOUT_SECONDS = 5.0
_muted: ContextVar[bool] = ContextVar("centralita_realtime_muted", default=False)


@contextmanager
def muted() -> Iterator[None]:
    """No realtime events inside (bulk jobs such as seed_demo: nobody watches, thousands of events cost time)."""
    token = _muted.set(True)
    try:
        yield
    finally:
        _muted.reset(token)


def next_event_id() -> int:
    global _last_event_id  # noqa: PLW0603 - per-process monotonic counter
    candidate = time.time_ns()
    _last_event_id = max(candidate, _last_event_id + 1)
    return _last_event_id


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def topic_group(topic: str) -> str:
    return f"topic.{topic}"


def is_muted() -> bool:
    return _muted.get()


def send_event_on_commit(event: Mapping[str, Any], *, user_ids: Iterable[int] = (),
                         topics: Iterable[str] = (), rooms: Iterable[str] = ()) -> None:
    """Queue `event` for the given users, topics and rooms once the current transaction commits (at once outside
    one).

    The payload is round-tripped through JSON here, inside the action, so bad data fails loudly in
    the caller rather than silently in the channel layer.
    """
    if _muted.get():
        return
    payload = json.loads(json.dumps({**event, "event_id": next_event_id()}))
    groups: list[tuple[str, str | None]] = [(user_group(u), None) for u in sorted(set(user_ids))]
    groups += [(topic_group(t), None) for t in sorted(set(topics))]
    groups += [(room_group(r), r) for r in sorted(set(rooms))]
    if not groups:
        return
    transaction.on_commit(lambda: _send_now_rollback_unsafe(payload, groups))


def rooms_changed_on_commit(user_ids: Iterable[int], *, join: Iterable[str] = (), leave: Iterable[str] = ()) -> None:
    """After commit, every open connection of `user_ids` joins and leaves these rooms (realtime.rooms).

    Two steps, so that neither a lost nor a reordered message can leave someone in a room they were removed from:
    the server adds and removes the users' registered connections itself (before any event the same commit sends
    to the room), then tells each connection to read its rooms again from the database (`resync`), which does not
    depend on the order in which changes arrive. Never muted: a membership that changed must reach open pages."""
    join, leave = sorted(set(join)), sorted(set(leave))
    users = sorted(set(user_ids))
    if not users or not (join or leave):
        return
    transaction.on_commit(lambda: _apply_rooms(users, join, leave))


def _apply_rooms(users: list[int], join: list[str], leave: list[str]) -> None:
    from realtime.models import Connection  # noqa: PLC0415 - models load after the app registry; this module loads first

    layer = get_channel_layer()
    if layer is None:
        return
    names = list(Connection.objects.filter(user_id__in=users).values_list("channel_name", flat=True))
    ops = [layer.group_discard(room_group(r), name) for r in leave for name in names]
    ops += [layer.group_add(room_group(r), name) for r in join for name in names]

    async def apply() -> None:
        results = await asyncio.wait_for(asyncio.gather(*ops, return_exceptions=True), timeout=SEND_TIMEOUT_SECONDS)
        for result in results:
            if isinstance(result, BaseException):
                logger.error("realtime rooms: a connection could not join or leave", exc_info=result)

    try:
        if ops:
            async_to_sync(apply)()
    except Exception:
        logger.exception("realtime rooms: connections could not join or leave")
    message = {"type": "realtime.rooms", "resync": True}
    _group_send_all([(user_group(u), message) for u in users], what="rooms")


def close_connections_on_commit(user_ids: Iterable[int]) -> None:
    """After commit, every open connection of `user_ids` is closed (its page reconnects if it still may)."""
    groups = [user_group(u) for u in sorted(set(user_ids))]
    if groups:
        message = {"type": "realtime.close"}
        transaction.on_commit(lambda: _group_send_all([(group, message) for group in groups], what="close"))


def _send_now_rollback_unsafe(payload: dict[str, Any], groups: list[tuple[str, str | None]]) -> None:
    # Encoded once here, not once per socket in every consumer (200 agents watching = 200 json.dumps per event);
    # only the text travels: the in-memory layer deep-copies a message for every socket it reaches (measured: with
    # the payload as a dict too, 20 ms of copying per event to 200 people).
    message = {"type": "realtime.event", "text": json.dumps(payload, separators=(",", ":"))}
    # A room's message names its room: a connection that has just left it drops what was already queued.
    _group_send_all([(group, message if room is None else {**message, "room": room}) for group, room in groups],
                    what=f"event {payload.get('type')}/{payload.get('op')}")


def _group_send_all(sends: list[tuple[str, dict[str, Any]]], *, what: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def fan_out() -> None:
        # One trip into the event loop for all recipients (measured: one async_to_sync per recipient cost ~1 ms
        # each, i.e. ~100 ms per event with 100 agents watching the queue).
        # Bounded: a layer that cannot reach its backend (seen: a channels-postgres pool retrying a connection)
        # must not hold the request or the worker's task — and with it a graceful shutdown — forever.
        results = await asyncio.wait_for(
            asyncio.gather(*(layer.group_send(group, message) for group, message in sends), return_exceptions=True),
            timeout=SEND_TIMEOUT_SECONDS)
        # One group that cannot be reached (a broken channel in it) must not cost the others their event.
        for (group, _message), result in zip(sends, results, strict=True):
            if isinstance(result, BaseException):
                logger.error("realtime %s not delivered to %s", what, group, exc_info=result)

    try:
        async_to_sync(fan_out)()
    except Exception:
        # A broken or stuck channel layer must not fail the request whose data is already committed;
        # clients resync from snapshots on reconnect.
        logger.exception("realtime %s not delivered", what)
