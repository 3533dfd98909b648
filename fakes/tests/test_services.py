"""The private PostgreSQL and Redis used by the fault-injection tests really go down and come back."""

from __future__ import annotations

import psycopg
import pytest
import redis

from fakes.services import TempPostgres, TempRedis


def test_temp_postgres_restart_cuts_connections_and_serves_again() -> None:
    # Given a private cluster with a connection open
    with TempPostgres() as pg:
        conn = psycopg.connect(pg.url, autocommit=True)
        assert conn.execute("select 1").fetchone() == (1,)
        # When it restarts
        pg.restart()
        # Then the open connection is cut and a new one works
        with pytest.raises(psycopg.OperationalError):
            conn.execute("select 1")
        assert psycopg.connect(pg.url).execute("select 2").fetchone() == (2,)


def test_temp_redis_outage_and_recovery_on_the_same_port() -> None:
    # Given a private Redis and a client
    with TempRedis() as server:
        client = redis.Redis.from_url(server.url, socket_timeout=2)
        assert client.ping()
        # When it stops, the client fails; when it starts again on the same port, the client recovers
        server.stop()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        server.start()
        assert client.ping()
