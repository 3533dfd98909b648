"""The channel layer on PostgreSQL (CHANNEL_LAYER=postgres, the default without Redis): channels-postgres 1.1.4
with two fixes, both found by the team chat's fan-out benchmark.

* It starts its LISTEN task from `receive()` whenever the task's "running" flag is not set yet — and the flag is
  set only once that task has connected. Sockets that open together (a page reload of 200 agents, a daphne
  restart) each started one, and every extra listener put every notification in the queues again: four copies of
  each event on each of 200 sockets. Here one listener runs per event loop; a listener that ends (a lost
  connection) clears the flag, so the next `receive()` starts a new one.
* `group_discard` went through a Django database alias named "channels_postgres" that an installation does not
  have (ConnectionDoesNotExist: a closing socket never left its groups, and a socket leaving a chat channel's room
  failed). Here it is one statement on the layer's own connection pool, as `group_add` is.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels_postgres.core import PostgresChannelLayer as _UpstreamLayer
from channels_postgres.db import GROUP_CHANNEL_TABLE, DatabaseLayer
from psycopg import sql


class _DatabaseLayer(DatabaseLayer):
    async def delete_channel_group(self, group_key: str, channel: str) -> None:
        statement = sql.SQL("DELETE FROM {table} WHERE group_key = %s AND channel = %s").format(
            table=sql.Identifier(GROUP_CHANNEL_TABLE))
        pool = await self.get_db_pool(db_params=self.db_params)
        async with pool.connection() as conn, conn.cursor() as cursor:
            await cursor.execute(statement, (group_key, channel))


class PostgresChannelLayer(_UpstreamLayer):
    _listening_loop: asyncio.AbstractEventLoop | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        upstream: DatabaseLayer = self.django_db  # type: ignore[has-type]  # set by the upstream __init__
        self.django_db = _DatabaseLayer(upstream.psycopg_options, upstream.db_params, logger=upstream.logger)

    async def listen_to_all_channels(self) -> None:
        loop = asyncio.get_running_loop()
        if self._listening_loop is loop:
            return  # this loop's listener is starting or running: its flag releases the caller's wait
        self._listening_loop = loop
        try:
            await super().listen_to_all_channels()
        finally:
            if self._listening_loop is loop:
                self._listening_loop = None
                if self.listener_task_is_running is not None:
                    self.listener_task_is_running.clear()
