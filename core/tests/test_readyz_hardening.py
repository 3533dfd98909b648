"""Security review of /readyz: it leaked exception text (hosts, ports, users) to anyone, let a flood of probes open
a flood of connections, and crashed with TypeError when DATABASES OPTIONS had `options` or `connect_timeout`."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from core import health

pytestmark = pytest.mark.django_db


@pytest.fixture
def silent_redis() -> Iterator[tuple[int, list[socket.socket]]]:
    """A port that accepts connections (counted) and never answers, like a hung Redis."""
    accepted: list[socket.socket] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    stop.set()
    thread.join()
    listener.close()
    for conn in accepted:
        conn.close()


def redis_layer(url: str) -> dict[str, Any]:
    return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}}


def test_readyz_does_not_leak_failure_details_to_anonymous_callers(client, settings, caplog):
    # given a channel layer whose Redis refuses connections (the error names its host and port)
    settings.CHANNEL_LAYERS = redis_layer("redis://probe-user:probe-pass@127.0.0.1:1/0")
    # when anyone asks /readyz
    with caplog.at_level(logging.WARNING, logger="core.health"):
        response = client.get("/readyz")
    # then it names the failed check and nothing more (degraded: the database, the one required check, is up)
    assert response.status_code == 200
    body = response.json()
    assert body == {"status": "degraded", "failed": ["channel_layer"],
                    "checks": {"database": {"ok": True}, "channel_layer": {"ok": False}, "task_queue": {"ok": True}}}
    assert "127.0.0.1" not in response.content.decode()
    # and the detail is in the server's log
    assert any("channel_layer" in r.getMessage() and r.exc_info for r in caplog.records)


def test_readyz_merges_database_options_that_set_connect_timeout_and_options():
    # given a PostgreSQL entry whose OPTIONS already set connect_timeout and options (and a Django-only key)
    db = {"ENGINE": "django.db.backends.postgresql", "NAME": "app", "USER": "app", "HOST": "127.0.0.1", "PORT": 1,
          "OPTIONS": {"connect_timeout": 10, "options": "-c search_path=app", "pool": True, "sslmode": "disable"}}
    # when the probe builds its connection keywords
    kwargs = health.pg_connect_kwargs(db)
    # then each key appears once, with the probe's short timeouts merged in
    assert kwargs["connect_timeout"] == 2
    assert kwargs["options"] == "-c search_path=app -c statement_timeout=1000"
    assert kwargs["sslmode"] == "disable" and "pool" not in kwargs and kwargs["autocommit"] is True
    # and psycopg accepts them (it fails to connect to the closed port, not with a TypeError)
    with pytest.raises(psycopg.OperationalError):
        health._select(db, "SELECT 1")


def test_concurrent_readyz_probes_run_the_checks_once(settings, silent_redis):
    # given a channel layer whose Redis accepts connections and never answers
    port, accepted = silent_redis
    settings.CHANNEL_LAYERS = redis_layer(f"redis://127.0.0.1:{port}/0")
    results: list[dict[str, dict[str, object]]] = []
    # when five probes arrive at the same time
    callers = [threading.Thread(target=lambda: results.append(health.run_checks(budget=0.3))) for _ in range(5)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=5)
    # then one probe ran (one connection reached Redis) and every caller got its result
    assert len(results) == 5
    assert all(result is results[0] for result in results)
    assert results[0]["channel_layer"]["ok"] is False
    assert len(accepted) == 1
    # and a probe right after reuses that result instead of connecting again
    assert health.run_checks(budget=0.3) is results[0]
    assert len(accepted) == 1


@pytest.mark.django_db
def test_health_probes_answer_whatever_the_host_while_pages_still_check_it(client, settings):
    # given ALLOWED_HOSTS holding only the public name, as the deployment guide's checklist asks
    settings.ALLOWED_HOSTS = ["centralita.example.com"]
    # when a container healthcheck or a load balancer probes the backend on its own address
    health = client.get("/healthz", HTTP_HOST="127.0.0.1:8000")
    ready = client.get("/readyz", HTTP_HOST="10.0.0.7:8000")
    # then both answer, and any other page on that Host is still refused
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    assert client.get("/login/", HTTP_HOST="127.0.0.1:8000").status_code == 400
