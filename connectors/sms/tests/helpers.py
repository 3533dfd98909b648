"""Test helpers: webhooks signed as Twilio signs them (built by fakes.sms) posted through our endpoints, and the
queued tasks run the way the worker would (the test settings use Django's DummyBackend, which only records them)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from django.tasks import default_task_backend
from django.test import Client

from fakes import sms as fs

ACCOUNT_SID = "AC" + "0a1b2c3d" * 4
AUTH_TOKEN = "sms-test-auth-token"
FROM_NUMBER = "+15017122661"
CUSTOMER = "+573001234567"  # a valid Colombian mobile: +57 300 123 4567
WORKER_TASKS = {"process_sms_webhooks", "retry_sms_send", "deliver_outbound"}
_done: set[int] = set()


def post_callback(client: Client, callback: fs.Callback, **headers: str) -> Any:
    """POSTs what the fake would have POSTed (its signed form) through the Django test client, to the same path."""
    parts = urlsplit(callback.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return client.post(path, callback.body, content_type="application/x-www-form-urlencoded",
                       headers={**callback.headers, **headers})


def post_form(client: Client, path: str, params: list[tuple[str, str]], *, signature: str | None) -> Any:
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    return client.post(path, urlencode(params), content_type="application/x-www-form-urlencoded", headers=headers)


def run_worker(*, rounds: int = 5, only: set[str] | None = None) -> list[Any]:
    """Runs the recorded tasks of the messaging queue once each (new tasks they enqueue run in the next round);
    returns their return values. Deferred tasks (run_after) run at once: tests control time themselves."""
    outcomes = []
    wanted = only or WORKER_TASKS
    for _round in range(rounds):
        pending = [r for r in default_task_backend.results if id(r) not in _done and r.task.name in wanted]
        if not pending:
            break
        for result in pending:
            _done.add(id(result))
            outcomes.append(result.task.call(*result.args, **result.kwargs))
    return outcomes


def queued(name: str) -> list[Any]:
    return [r for r in default_task_backend.results if r.task.name == name and id(r) not in _done]


def clear_tasks() -> None:
    default_task_backend.clear()
    _done.clear()
