from __future__ import annotations

import pytest

from crm.models import KommoAccount, WebhookDelivery
from crm.tests.payloads import ACCOUNT, body, lead_item
from crm.views import reset_account_cache

pytestmark = pytest.mark.django_db
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def account():
    reset_account_cache()
    yield KommoAccount.objects.create(pk=1, subdomain="mycompany", account_id=32720107, long_lived_token="t",
                                      base_url="http://127.0.0.1:9", to_call_pipeline_id=8572511,
                                      to_call_status_id=67548611, confirmed_status_id=67548619)
    reset_account_cache()


def url(account: KommoAccount, secret: str | None = None) -> str:
    return f"/integrations/kommo/webhook/{secret or account.webhook_secret}/"


def test_valid_webhook_is_stored_raw_answered_200_and_queued(client, account, django_capture_on_commit_callbacks):
    from django.tasks import default_task_backend

    default_task_backend.clear()
    raw = body(lead_item("status", 0, lead_id=15318175, status_id=67548611))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(account), raw, content_type=FORM)
    assert response.status_code == 200 and response.content == b""
    delivery = WebhookDelivery.objects.get()
    assert delivery.body == raw and delivery.state == "received"
    (queued,) = default_task_backend.results
    assert queued.task.name == "process_kommo_webhooks" and queued.args == [[delivery.pk]]


def test_wrong_secret_is_404_and_stores_nothing(client, account):
    response = client.post(url(account, "not-the-secret"), body(lead_item("add", 0, lead_id=1, status_id=1)),
                           content_type=FORM)
    assert response.status_code == 404
    assert not WebhookDelivery.objects.exists()


def test_foreign_account_is_403_and_recorded(client, account):
    foreign = [("account[subdomain]", "otra"), ("account[id]", "1"), ACCOUNT[2]]
    response = client.post(url(account), body(lead_item("add", 0, lead_id=1, status_id=1), account=foreign),
                           content_type=FORM)
    assert response.status_code == 403 and response.json()["code"] == "wrong_account"
    rejected = WebhookDelivery.objects.get()
    assert rejected.state == "rejected" and "account mismatch" in rejected.error


def test_unparseable_body_is_400_with_reason_and_kept(client, account):
    response = client.post(url(account), '{"json": "no"}', content_type="application/json")
    assert response.status_code == 400
    assert "Unparseable Kommo webhook" in response.json()["detail"]
    kept = WebhookDelivery.objects.get()
    assert kept.body == '{"json": "no"}' and kept.state == "rejected"


def test_get_is_not_allowed(client, account):
    assert client.get(url(account)).status_code == 405
