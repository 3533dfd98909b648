"""The fast ASGI intake route: concurrent webhooks are group-committed and each answered only once stored."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator

from crm.intake import IntakeApp, reset_account_cache
from crm.models import KommoAccount, WebhookDelivery
from crm.tests.payloads import body, lead_item

pytestmark = pytest.mark.django_db(transaction=True)
FORM = [(b"content-type", b"application/x-www-form-urlencoded")]


async def not_found_fallback(scope, receive, send):
    await send({"type": "http.response.start", "status": 418, "headers": []})
    await send({"type": "http.response.body", "body": b"django"})


@pytest.fixture
def account():
    reset_account_cache()
    yield KommoAccount.objects.create(pk=1, subdomain="mycompany", account_id=32720107, long_lived_token="t",
                                      base_url="http://127.0.0.1:9", to_call_status_id=67548611)
    reset_account_cache()


def test_concurrent_webhooks_are_stored_in_one_batch_and_queued_once(account, settings):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": settings.TASK_QUEUES}}
    app = IntakeApp(not_found_fallback)
    path = f"/integrations/kommo/webhook/{account.webhook_secret}/"

    async def burst() -> list[int]:
        async def one(i: int) -> int:
            raw = body(lead_item("add", 0, lead_id=1000 + i, status_id=67548611)).encode()
            response = await HttpCommunicator(app, "POST", path, body=raw, headers=FORM).get_response(timeout=10)
            return int(response["status"])

        return await asyncio.gather(*(one(i) for i in range(40)))

    statuses = async_to_sync(burst)()
    assert statuses == [200] * 40
    assert WebhookDelivery.objects.filter(state="received").count() == 40
    batches = list(DBTaskResult.objects.filter(task_path="crm.tasks.process_kommo_webhooks"))
    assert sum(len(r.args_kwargs["args"][0]) for r in batches) == 40
    assert len(batches) < 40  # grouped: one processing task per commit, not one per webhook


def test_wrong_secret_foreign_account_and_garbage(account):
    app = IntakeApp(not_found_fallback)

    async def post(path: str, raw: bytes) -> tuple[int, bytes]:
        r = await HttpCommunicator(app, "POST", path, body=raw, headers=FORM).get_response(timeout=10)
        return int(r["status"]), r["body"]

    good_path = f"/integrations/kommo/webhook/{account.webhook_secret}/"
    foreign = body(lead_item("add", 0, lead_id=1, status_id=1),
                   account=[("account[subdomain]", "otra"), ("account[id]", "5")]).encode()
    assert async_to_sync(post)("/integrations/kommo/webhook/nope/", b"x")[0] == 404
    assert async_to_sync(post)(good_path, foreign)[0] == 403
    status, payload = async_to_sync(post)(good_path, b"{json")
    assert status == 400 and b"invalid_webhook" in payload
    assert sorted(WebhookDelivery.objects.values_list("state", flat=True)) == ["rejected", "rejected"]


def test_other_paths_go_to_django(account):
    app = IntakeApp(not_found_fallback)
    response = async_to_sync(HttpCommunicator(app, "GET", "/healthz").get_response)()
    assert response["status"] == 418
