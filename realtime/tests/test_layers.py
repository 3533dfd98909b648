"""The PostgreSQL channel layer (channels-postgres with one listener per event loop: realtime.layers)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from django.db import connection

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(connection.vendor != "postgresql", reason="the layer runs on PostgreSQL only")]


def _layer():
    from realtime.layers import PostgresChannelLayer

    db = connection.settings_dict
    return PostgresChannelLayer(**{k: db[k] for k in ("NAME", "USER", "PASSWORD", "HOST", "PORT")},
                                TIME_ZONE=None, PSYCOPG_OPTIONS={"min_size": 1, "max_size": 4})


def test_sockets_opening_together_each_get_one_copy_of_a_group_event():
    from channels_postgres.core import ASYNCIO_EVENT_CHANNEL_MAPPING

    layer = _layer()

    async def scenario() -> tuple[list[str], list[int]]:
        # given 20 connections that start receiving at the same moment (a daphne restart), all in one group
        names = [await layer.new_channel() for _ in range(20)]
        for name in names:
            await layer.group_add("sala", name)
        receivers = [asyncio.create_task(layer.receive(name)) for name in names]
        await asyncio.wait_for(_listening(layer), 10)
        # when one event goes to the group
        await layer.group_send("sala", {"type": "realtime.event", "text": "hola"})
        got = await asyncio.wait_for(asyncio.gather(*receivers), 10)
        await asyncio.sleep(0.3)  # a second listener would have queued its copies by now
        left = [ASYNCIO_EVENT_CHANNEL_MAPPING[name].qsize() for name in names]
        for name in names:
            await layer.group_discard("sala", name)
        return [m["text"] for m in got], left

    texts, left = async_to_sync(scenario)()
    # then each connection received it once, and no copy waits in any queue
    assert texts == ["hola"] * 20
    assert left == [0] * 20


async def _listening(layer) -> None:
    while layer.listener_task_is_running is None or not layer.listener_task_is_running.is_set():
        await asyncio.sleep(0.01)


def test_a_lost_listen_connection_is_opened_again_and_waiting_sockets_still_receive():
    layer = _layer()

    async def scenario() -> str:
        # given a connection waiting for its next event
        name = await layer.new_channel()
        waiting = asyncio.create_task(layer.receive(name))
        await asyncio.wait_for(_listening(layer), 10)
        # when the database drops the layer's LISTEN connection (a restart, a network cut)
        await _terminate_listener(layer)
        await asyncio.wait_for(_not_listening(layer), 10)
        await asyncio.wait_for(_listening(layer), 10)  # and it comes back by itself
        # then an event sent afterwards still reaches the connection that was already waiting
        await layer.send(name, {"type": "realtime.event", "text": "de vuelta"})
        return (await asyncio.wait_for(waiting, 10))["text"]

    assert async_to_sync(scenario)() == "de vuelta"


async def _not_listening(layer) -> None:
    while layer.listener_task_is_running is not None and layer.listener_task_is_running.is_set():
        await asyncio.sleep(0.01)


async def _terminate_listener(layer) -> None:
    import psycopg

    conninfo = psycopg.conninfo.make_conninfo(conninfo="", **layer.db_params)
    async with await psycopg.AsyncConnection.connect(conninfo=conninfo, autocommit=True) as conn:
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE query = 'LISTEN channels_postgres_messages;' AND datname = current_database() "
                           "AND pid <> pg_backend_pid()")
