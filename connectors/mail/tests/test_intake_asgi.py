"""The email webhook on the one intake (core.intake): concurrent posts group-committed, each answered with its row
only once stored and queued for processing; Mailgun's signature checked before storing; other paths to Django."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator

from connectors.mail import webhook
from connectors.mail.actions import check_save_mailbox
from connectors.mail.models import InboundMail
from fakes.mailservers import customer_mail

pytestmark = pytest.mark.django_db(transaction=True)
SIGNING_KEY = "key-mailgun-pruebas"


async def django_fallback(scope, receive, send):
    await send({"type": "http.response.start", "status": 418, "headers": []})
    await send({"type": "http.response.body", "body": b"django"})


@pytest.fixture
def mailbox():
    webhook.forget()
    yield check_save_mailbox(None, address="ayuda@entrada.example.test", mailgun_signing_key=SIGNING_KEY)
    webhook.forget()


def call(app, path, body, content_type=b"message/rfc822", method="POST"):
    async def go():
        response = await HttpCommunicator(app, method, path, body=body,
                                          headers=[(b"content-type", content_type)]).get_response(timeout=10)
        return int(response["status"]), response["body"]

    return async_to_sync(go)()


def mailgun_form(raw: bytes, *, key: str = SIGNING_KEY) -> bytes:
    timestamp, token = "1763719200", "tok-1"
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return urlencode({"body-mime": raw.decode(), "recipient": "ayuda@entrada.example.test", "timestamp": timestamp,
                      "token": token, "signature": signature}).encode()


def test_concurrent_posts_are_stored_answered_with_their_row_and_queued(mailbox, settings):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": settings.TASK_QUEUES}}
    app = webhook.MailIntakeApp(django_fallback)
    path = f"/integrations/mail/raw/{mailbox.webhook_token}/"
    bodies = [customer_mail(sender="Ana <ana@cliente.test>", to=mailbox.address, subject=f"Pedido {i}",
                            body="Hola", message_id=f"<m{i}@cliente.test>") for i in range(12)]

    # when twelve mails are posted at the same time
    async def burst():
        async def one(body):
            response = await HttpCommunicator(app, "POST", path, body=body,
                                              headers=[(b"content-type", b"message/rfc822")]).get_response(timeout=10)
            return int(response["status"]), response["body"]

        return await asyncio.gather(*(one(b) for b in bodies))

    answers = async_to_sync(burst)()
    # then each is answered 200 with its stored row, and each row is queued for processing once
    assert [status for status, _body in answers] == [200] * 12
    rows = {r.pk: bytes(r.raw) for r in InboundMail.objects.all()}
    assert sorted(rows.values()) == sorted(bodies)
    queued = [r.args_kwargs["args"][0] for r in DBTaskResult.objects.filter(
        task_path="connectors.mail.tasks.process_inbound_mail")]
    assert sorted(queued) == sorted(rows)


def test_a_bad_mailgun_signature_is_refused_and_kept_for_inspection(mailbox):
    app = webhook.MailIntakeApp(django_fallback)
    path = f"/integrations/mail/mailgun/{mailbox.webhook_token}/"
    raw = customer_mail(sender="ana@cliente.test", to=mailbox.address, subject="Hola", body="x",
                        message_id="<s1@cliente.test>")
    form = b"application/x-www-form-urlencoded"
    assert call(app, path, mailgun_form(raw, key="otra-clave"), form)[0] == 403
    assert call(app, path, mailgun_form(raw), form)[0] == 200
    assert list(InboundMail.objects.order_by("pk").values_list("status", "error")) == [
        ("rejected", "mailgun signature mismatch"), ("received", "")]


def test_other_paths_go_to_django(mailbox):
    app = webhook.MailIntakeApp(django_fallback)
    assert call(app, f"/integrations/mail/raw/{mailbox.webhook_token}/", b"", method="GET")[0] == 418
    assert call(app, "/integrations/mail/", b"x")[0] == 418
    assert call(app, "/healthz", b"", method="GET")[0] == 418
