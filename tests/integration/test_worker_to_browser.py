"""An event raised in a real background worker process reaches a real browser, in both modes:

* embedded: database task queue (`db_worker`) + a database channel layer (channels-lite on SQLite,
  channels-postgres LISTEN/NOTIFY on PostgreSQL);
* scale: RQ on Redis (`run_worker`: RQ's SimpleWorker with its scheduler) + channels-redis.

The task is `realtime.tasks.auto_offline`: the worker sets an agent who closed Centralita "desconectado"
and the supervisor's open page shows it without reloading.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from playwright.sync_api import Browser, expect

from accounts.roles import Role
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.e2e]
REDIS_TEST_URL = os.environ.get("CENTRALITA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def subprocess_database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "postgres")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def embedded_layer() -> tuple[str, dict[str, Any]]:
    """Without Redis the layer goes through the database: channels-lite on SQLite, LISTEN/NOTIFY on PostgreSQL."""
    if connection.vendor == "sqlite":
        return "lite", {"BACKEND": "channels_lite.layers.core.SQLiteChannelLayer", "CONFIG": {"database": "default"}}
    db = connection.settings_dict
    config = {k: db[k] for k in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")}
    return "postgres", {"BACKEND": "realtime.layers.PostgresChannelLayer",
                        "CONFIG": {**config, "TIME_ZONE": None, "PSYCOPG_OPTIONS": {"min_size": 1, "max_size": 4}}}


MODES: dict[str, dict[str, Any]] = {
    "embedded": {
        "env": {"TASK_BACKEND": "db"},
        "worker": ["db_worker", "--queue-name", "*", "--no-reload", "--interval", "0.2"],
        "settings": {
            "TASKS": {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": settings.TASK_QUEUES}},
        },
    },
    "scale": {
        "env": {"TASK_BACKEND": "rq", "CHANNEL_LAYER": "redis", "REDIS_URL": REDIS_TEST_URL},
        "worker": ["run_worker"],
        "settings": {
            "TASKS": {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": settings.TASK_QUEUES}},
            "RQ_QUEUES": {name: {"URL": REDIS_TEST_URL} for name in settings.TASK_QUEUES},
            "CHANNEL_LAYERS": {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": [REDIS_TEST_URL]}}},
        },
    },
}


@pytest.fixture(params=list(MODES))
def stack(request: pytest.FixtureRequest, transactional_db: Any) -> Iterator[dict[str, Any]]:
    mode = MODES[request.param]
    if request.param == "scale":
        if not redis_reachable():
            pytest.skip("Redis is not reachable on 127.0.0.1:6379 (the CI PostgreSQL+Redis pass runs this)")
        import redis

        redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    overrides = dict(mode["settings"])
    extra_env = dict(mode["env"])
    if request.param == "embedded":
        layer_name, layer = embedded_layer()
        overrides["CHANNEL_LAYERS"] = {"default": layer}
        extra_env["CHANNEL_LAYER"] = layer_name
    with override_settings(**overrides):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1",
               "DATABASE_URL": subprocess_database_url(), "PYTHONUNBUFFERED": "1", **extra_env}
        log = Path(settings.DATA_DIR) / f"worker-{request.param}.log"
        with log.open("w") as out:
            worker = subprocess.Popen([sys.executable, "manage.py", *mode["worker"]], cwd=settings.BASE_DIR,
                                      env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield {"mode": request.param, "log": log}
        finally:
            worker.terminate()
            try:  # a graceful stop finishes the current poll and closes the layer's pool; slow on a busy CI box
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)


@pytest.fixture
def live_server_in_mode(stack: dict[str, Any], asgi_live_server: str) -> str:
    # `stack` comes first so the forked server inherits the mode's channel layer settings.
    return asgi_live_server


def test_worker_event_reaches_supervisor_browser(stack, live_server_in_mode: str, browser: Browser):
    from realtime.tasks import auto_offline

    # given an agent who is "disponible" but has no Centralita tab open, and a supervisor watching
    agent = UserFactory(username="agente7", role=Role.AGENTE, availability="disponible")
    UserFactory(username="supervisora", role=Role.SUPERVISOR)
    page = browser.new_context().new_page()
    page.goto(f"{live_server_in_mode}/login/")
    page.fill("#id_username", "supervisora")
    page.fill("#id_password", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server_in_mode}/team/presence/")
    expect(page.locator("#realtime-state")).to_have_attribute("data-state", "connected", timeout=10_000)
    cell = page.get_by_test_id(f"presence-{agent.username}")
    expect(cell).to_contain_text("Disponible")

    # when the background worker process runs auto_offline for the agent
    auto_offline.enqueue(agent.pk)

    # then the supervisor's page shows the agent offline, without a reload
    try:
        expect(cell).to_contain_text("Desconectado", timeout=20_000)
    except AssertionError:
        raise AssertionError(f"[{stack['mode']}] worker log:\n{stack['log'].read_text()}") from None
    agent.refresh_from_db()
    assert agent.availability == "desconectado"
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
