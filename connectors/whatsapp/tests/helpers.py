"""Test helpers: signed webhooks as Meta sends them (built by fakes.whatsapp) and running the queued tasks the way
the worker would (the test settings use Django's DummyBackend, which only records enqueued tasks)."""

from __future__ import annotations

from typing import Any

from django.tasks import default_task_backend
from django.test import Client

from fakes import whatsapp as fw

APP_SECRET = "wa-test-app-secret"
WA_ID = "573001234567"  # a valid Colombian mobile: +57 300 123 4567
WEBHOOK = "/integrations/whatsapp/webhook/{}/"


def url(number: Any) -> str:
    return WEBHOOK.format(number.phone_number_id)


def post(client: Client, number: Any, payload: dict[str, Any] | bytes, *, secret: str | None = APP_SECRET,
         signature: str | None = None) -> Any:
    body = payload if isinstance(payload, bytes) else fw.encode(payload)
    headers = {}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    elif secret is not None:
        headers["X-Hub-Signature-256"] = fw.sign(body, secret)
    return client.post(url(number), body, content_type="application/json", headers=headers)


def inbound(number: Any, *items: dict[str, Any], name: str = "Ana Peña", wa_id: str = WA_ID) -> dict[str, Any]:
    return fw.inbound_payload(list(items), name=name, wa_id=wa_id, phone_number_id=number.phone_number_id,
                              display_phone_number=number.display_phone_number, waba_id=number.waba_id)


def statuses(number: Any, *items: dict[str, Any]) -> dict[str, Any]:
    return fw.status_payload(list(items), phone_number_id=number.phone_number_id,
                             display_phone_number=number.display_phone_number, waba_id=number.waba_id)


_done: set[int] = set()

WORKER_TASKS = {"process_whatsapp_webhooks", "process_whatsapp_webhook", "retry_whatsapp_send", "deliver_outbound"}


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


def clear_tasks() -> None:
    default_task_backend.clear()
    _done.clear()
