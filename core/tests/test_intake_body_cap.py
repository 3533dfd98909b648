"""Issue 14: every webhook route (Kommo, WhatsApp, email) refuses an over-size body before reading it all, and
answers an unknown secret, number or token without reading the body at all. A counting ASGI `receive` shows how
much was read."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync

from connectors.mail import webhook as mail_webhook
from connectors.mail.actions import check_save_mailbox
from connectors.mail.models import InboundMail
from connectors.whatsapp import intake as wa_intake
from connectors.whatsapp.models import WebhookDelivery as WhatsappDelivery
from crm import intake as kommo_intake
from crm.intake import IntakeApp, reset_account_cache
from crm.models import KommoAccount
from crm.models import WebhookDelivery as KommoDelivery

pytestmark = pytest.mark.django_db(transaction=True)
CHUNK = 64 * 1024


class Sender:
    """A client posting `total` bytes in CHUNK pieces; counts how many the app asked for."""

    def __init__(self, total: int) -> None:
        self.left, self.reads = total, 0
        self.status: int | None = None

    async def receive(self) -> dict[str, Any]:
        self.reads += 1
        piece = min(CHUNK, self.left)
        self.left -= piece
        return {"type": "http.request", "body": b"x" * piece, "more_body": self.left > 0}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]


async def refuse(scope: dict[str, Any], receive: Any, send: Any) -> None:
    raise AssertionError("the route passed the request on")


def post(app: Any, path: str, client: Sender, *, announce: int | None = None) -> Sender:
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    if announce is not None:
        headers.append((b"content-length", str(announce).encode()))
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers, "client": ("127.0.0.1", 5000)}
    async_to_sync(app)(scope, client.receive, client.send)
    return client


def assert_refused_before_reading_it_all(app: Any, path: str, cap: int) -> None:
    """A 50 MB body announced by Content-Length is answered 413 without reading a chunk; the same body chunked and
    unannounced stops being read at the chunk that crosses the cap."""
    total = 50 * 1024 * 1024
    announced = post(app, path, Sender(total), announce=total)
    assert (announced.status, announced.reads) == (413, 0)
    chunked = post(app, path, Sender(total))
    assert chunked.status == 413 and chunked.reads == cap // CHUNK + 1


@pytest.fixture
def kommo_account():
    reset_account_cache()
    yield KommoAccount.objects.create(pk=1, subdomain="mycompany", account_id=32720107, long_lived_token="t",
                                      base_url="http://127.0.0.1:9", to_call_status_id=67548611)
    reset_account_cache()


def test_kommo_refuses_a_huge_body_before_reading_it_and_keeps_the_evidence(kommo_account):
    path = f"/integrations/kommo/webhook/{kommo_account.webhook_secret}/"
    assert_refused_before_reading_it_all(IntakeApp(refuse), path, kommo_intake.MAX_BODY)
    # and each is recorded as rejected with the reason (and at most the cap of its body)
    rows = list(KommoDelivery.objects.order_by("pk"))
    assert [r.state for r in rows] == ["rejected", "rejected"]
    assert all("larger than" in r.error and len(r.body) <= kommo_intake.MAX_BODY for r in rows)


def test_kommo_answers_a_wrong_secret_without_reading_the_body(kommo_account):
    client = post(IntakeApp(refuse), "/integrations/kommo/webhook/not-the-secret/", Sender(5 * 1024 * 1024))
    assert (client.status, client.reads) == (404, 0)
    assert not KommoDelivery.objects.exists()


def test_whatsapp_refuses_a_huge_body_before_reading_it_all(whatsapp_number):
    assert_refused_before_reading_it_all(wa_intake.WhatsappIntakeApp(refuse),
                                         f"/integrations/whatsapp/webhook/{whatsapp_number.phone_number_id}/",
                                         wa_intake.MAX_BODY)
    assert set(WhatsappDelivery.objects.values_list("state", flat=True)) == {"rejected"}


def test_whatsapp_answers_an_unknown_number_without_reading_the_body(whatsapp_number):
    client = post(wa_intake.WhatsappIntakeApp(refuse), "/integrations/whatsapp/webhook/99999999/",
                  Sender(5 * 1024 * 1024))
    assert (client.status, client.reads) == (404, 0)
    assert not WhatsappDelivery.objects.exists()


@pytest.fixture
def mailbox():
    mail_webhook.forget()
    yield check_save_mailbox(None, address="entrada@correo.example.test")
    mail_webhook.forget()


def test_mail_refuses_a_huge_body_before_reading_it_all(mailbox, settings):
    settings.ATTACHMENT_MAX_BYTES = 1024 * 1024  # cap: 1.5 MB + 1 MB of headroom
    assert_refused_before_reading_it_all(mail_webhook.MailIntakeApp(refuse),
                                         f"/integrations/mail/raw/{mailbox.webhook_token}/", mail_webhook.max_body())
    rows = list(InboundMail.objects.order_by("pk"))
    assert [r.status for r in rows] == ["rejected", "rejected"]
    assert all("larger than" in r.error and len(bytes(r.raw)) <= mail_webhook.REJECTED_BODY_LIMIT for r in rows)


def test_mail_answers_an_unknown_token_or_provider_without_reading_the_body(mailbox):
    app = mail_webhook.MailIntakeApp(refuse)
    unknown = post(app, "/integrations/mail/raw/not-the-token/", Sender(5 * 1024 * 1024))
    assert (unknown.status, unknown.reads) == (404, 0)
    provider = post(app, f"/integrations/mail/sendgrid/{mailbox.webhook_token}/", Sender(5 * 1024 * 1024))
    assert (provider.status, provider.reads) == (404, 0)
    assert not InboundMail.objects.exists()
