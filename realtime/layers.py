"""The channel layer on PostgreSQL (CHANNEL_LAYER=postgres, the default without Redis): channels-postgres 1.1.4
with its defects fixed, found by the team chat's fan-out benchmark and a second reading.

* It starts its LISTEN task from `receive()` whenever the task's "running" flag is not set yet — and the flag is
  set only once that task has connected. Sockets that open together (a page reload of 200 agents, a daphne
  restart) each started one, and every extra listener put every notification in the queues again: four copies of
  each event on each of 200 sockets. Here one listener runs per event loop.
* A listener whose connection was lost ended for good: the sockets already waiting in `receive()` never call it
  again, so they went deaf while their pages still showed "connected". Here the listener reconnects (backing off
  up to 10 s); messages that arrived meanwhile are read from the table, and a page drops a copy it already has.
* `group_discard` went through a Django database alias named "channels_postgres" that an installation does not
  have (ConnectionDoesNotExist: a closing socket never left its groups). Here it is one statement on the layer's
  pool, as `group_add` is, and it no longer starts a 10 to 20 minute clean-up task on every call: one at a time per
  process.
* `group_send` first looked the group up under a key that never matches (one wasted query per send).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels_postgres.core import PostgresChannelLayer as _UpstreamLayer
from channels_postgres.db import GROUP_CHANNEL_TABLE, DatabaseLayer
from psycopg import sql

logger = logging.getLogger(__name__)
RECONNECT_MAX_SECONDS = 10.0


class _DatabaseLayer(DatabaseLayer):
    async def delete_channel_group(self, group_key: str, channel: str) -> None:
        statement = sql.SQL("DELETE FROM {table} WHERE group_key = %s AND channel = %s").format(
            table=sql.Identifier(GROUP_CHANNEL_TABLE))
        pool = await self.get_db_pool(db_params=self.db_params)
        async with pool.connection() as conn, conn.cursor() as cursor:
            await cursor.execute(statement, (group_key, channel))


class PostgresChannelLayer(_UpstreamLayer):
    _listening_loop: asyncio.AbstractEventLoop | None = None
    _cleanup: asyncio.Task[None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        upstream: DatabaseLayer = self.django_db  # type: ignore[has-type]  # set by the upstream __init__
        self.django_db = _DatabaseLayer(upstream.psycopg_options, upstream.db_params, logger=upstream.logger)

    async def listen_to_all_channels(self) -> None:
        loop = asyncio.get_running_loop()
        if self._listening_loop is loop:
            return  # this loop's listener is starting or running: its flag releases the caller's wait
        self._listening_loop = loop
        delay = 0.5
        try:
            while True:
                try:
                    await super().listen_to_all_channels()
                    return  # the layer was shut down on purpose
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.warning("channel layer: LISTEN connection lost; reconnecting in %.1f s", delay,
                                   exc_info=True)
                if self.listener_task_is_running is not None:
                    self.listener_task_is_running.clear()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
        finally:
            if self._listening_loop is loop:
                self._listening_loop = None
                if self.listener_task_is_running is not None:
                    self.listener_task_is_running.clear()

    async def group_discard(self, group: str, channel: str, expire: int | None = None) -> None:
        assert self.require_valid_group_name(group), "Group name not valid"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        await self.django_db.delete_channel_group(self._group_key(group), channel)
        if self._cleanup is None or self._cleanup.done():  # expired messages, one clean-up at a time
            self._cleanup = asyncio.create_task(self.django_db.delete_expired_messages(expire))

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert self.require_valid_group_name(group), "Group name not valid"
        await self.django_db.send_to_channel(self._group_key(group), self.serialize(message), self.expiry)
