"""/readyz against a real daphne process: it must not break live updates, and must answer within 2 s.

Regression: on a fresh `make run`, one /readyz call before any websocket connected ran a round trip through the
app's channel layer from a request thread; the layer's receive loop then kept calling that request's dead thread
executor ("CurrentThreadExecutor already quit"), and /readyz, the system page and every live event hung.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from websockets.sync.client import connect

from accounts.actions import do_create_api_token
from accounts.roles import Role
from accounts.tests.factories import UserFactory
from tests.ops.helpers import clean_env, free_port, occupied_port, subprocess_database_url, wait_for
from tests.processes import stop

REDIS_TEST_URL = "redis://127.0.0.1:6379/15"
READY_CLIENT_TIMEOUT = 2.0  # what a load balancer's probe allows: the answer must come within it


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def daphne(transactional_db: Any, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start `daphne config.asgi:application` (the real settings) on the test database; returns its base URL."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> str:
        port = free_port()
        log = tmp_path / f"daphne-{port}.log"
        environment = clean_env(**{"DATABASE_URL": subprocess_database_url(), "DATA_DIR": str(tmp_path),
                                   "LOG_CONSOLE_LEVEL": "WARNING", **env})
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                                     "config.asgi:application"], cwd=settings.BASE_DIR, env=environment,
                                    stdout=out, stderr=subprocess.STDOUT)
        started.append(proc)
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=30, what="daphne", on_timeout=log.read_text)
        return base

    yield start
    for proc in started:
        stop(proc, grace=10)


def embedded_layer() -> str:
    return "lite" if connection.vendor == "sqlite" else "postgres"


LAYERS = {
    "memory": lambda: {"CHANNEL_LAYER": "memory", "TASK_BACKEND": "db"},
    "database": lambda: {"CHANNEL_LAYER": embedded_layer(), "TASK_BACKEND": "db"},  # what `make run` uses
    "redis": lambda: {"CHANNEL_LAYER": "redis", "TASK_BACKEND": "db", "REDIS_URL": REDIS_TEST_URL},
}


@pytest.mark.parametrize("layer", list(LAYERS))
def test_readyz_before_any_websocket_does_not_break_live_events(daphne, layer):
    if layer == "redis" and not redis_reachable():
        pytest.skip("Redis is not reachable on 127.0.0.1:6379 (the CI PostgreSQL+Redis pass runs this)")
    # given a supervisor, an agent with an API token, and a freshly started server
    supervisor = UserFactory(username="supervisora", role=Role.SUPERVISOR)
    agent = UserFactory(username="agente1", role=Role.AGENTE, availability="disponible")
    _token, raw = do_create_api_token(agent, name="test", acting_user=None)
    browser = Client()
    browser.force_login(supervisor)
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    base = daphne(**LAYERS[layer]())

    # when a load balancer probes /readyz before anyone connects
    ready = httpx.get(f"{base}/readyz", timeout=READY_CLIENT_TIMEOUT)
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ok"

    # then a websocket still connects and receives the live event an agent's change sends
    with connect(f"{base.replace('http', 'ws')}/ws/events/", open_timeout=10,
                 additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}", "Origin": base}) as ws:
        assert json.loads(ws.recv(timeout=10))["op"] == "connected"
        changed = httpx.post(f"{base}/api/v1/me/availability", json={"availability": "ocupado"}, timeout=10,
                             headers={"Authorization": f"Bearer {raw}"})
        assert changed.status_code == 200, changed.text
        event = json.loads(ws.recv(timeout=10))
        assert (event["type"], event["op"], event["user_id"], event["availability"]) == (
            "presence", "update", agent.pk, "ocupado")
        # and readiness keeps answering while live updates flow
        again = httpx.get(f"{base}/readyz", timeout=READY_CLIENT_TIMEOUT)
        assert again.status_code == 200, again.text


@pytest.mark.faults
def test_readyz_answers_degraded_within_2_seconds_when_redis_is_unreachable(daphne):
    # given Redis (channel layer and task queue) at a port that accepts connections and never answers
    holder = occupied_port()
    port = holder.getsockname()[1]
    try:
        base = daphne(REDIS_URL=f"redis://127.0.0.1:{port}/0", CHANNEL_LAYER="redis", TASK_BACKEND="rq")
        # when a probe asks, allowing 2 s (httpx raises if the answer takes longer)
        silent = httpx.get(f"{base}/readyz", timeout=READY_CLIENT_TIMEOUT)
    finally:
        holder.close()
    # and asks again once nothing listens on that port any more
    closed = httpx.get(f"{base}/readyz", timeout=READY_CLIENT_TIMEOUT)
    # then both times it answers 200 "degraded" naming the failed checks (the process still serves pages and the
    # API: a load balancer must keep it), and the database check passes
    for response in (silent, closed):
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "degraded"
        assert body["failed"] == ["channel_layer", "task_queue"]
        assert body["checks"]["database"]["ok"] is True


@pytest.mark.faults
def test_readyz_fails_when_the_database_is_unreachable_while_healthz_stays_up(daphne, tmp_path):
    # given a web process whose database cannot be reached (the required dependency)
    if connection.vendor == "sqlite":
        missing = f"sqlite:///{tmp_path}/gone/centralita.sqlite3"
    else:
        missing = f"postgres://postgres@127.0.0.1:{free_port()}/centralita"
    base = daphne(DATABASE_URL=missing, CHANNEL_LAYER="memory", TASK_BACKEND="db")
    # when a load balancer asks both probes, allowing 2 s
    ready = httpx.get(f"{base}/readyz", timeout=READY_CLIENT_TIMEOUT)
    live = httpx.get(f"{base}/healthz", timeout=READY_CLIENT_TIMEOUT)
    # then readiness fails (take this process out of rotation) and liveness does not (do not restart it)
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable" and "database" in ready.json()["failed"]
    assert live.status_code == 200 and live.json() == {"status": "ok"}
