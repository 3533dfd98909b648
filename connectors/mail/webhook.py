"""The email providers' inbound webhook (Mailgun `forward()`, Postmark JSON, a raw RFC 822 POST) on the one intake
(core.intake), like Kommo's and WhatsApp's.

`MailIntakeApp` (chained in config/asgi.py ahead of Django) takes `POST /integrations/mail/<provider>/<token>/`:
* the mailbox is looked up by the unguessable token in the URL **before the body is read** (a per-process cache
  with a short TTL; an unknown token or provider is answered 404 and nothing is read or stored);
* the body is read no further than the cap (`max_body()`: a mail with attachments up to ATTACHMENT_MAX_BYTES,
  base64-encoded in a form or JSON, plus headroom); an over-size body is answered 413 and kept truncated, rejected;
* Mailgun's signature (when the mailbox has its signing key) is checked before the row is stored; a bad one is kept
  as `rejected` with the reason, answered 403 and never processed;
* raw bodies are group-committed (each request answered only once its body is committed) and each accepted one is
  queued for processing (`tasks.process_inbound_mail`), which parses, threads and ingests it in the worker.

The Django view (connectors.mail.views.inbound_webhook: test client, WSGI) runs the same decision and store."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from connectors.mail import tasks
from connectors.mail.intake import WEBHOOK_SOURCES, verify_mailgun
from connectors.mail.models import InboundMail, Mailbox
from connectors.mail.parsing import parse_form
from core.intake import (
    GroupCommitWriter,
    IntakeRoute,
    KeyCache,
    Receive,
    Send,
    keeping_connection,
    read_capped_body,
    respond_json,
    store_batch_or_each,
)
from core.tasks import enqueue_on_commit

PREFIX = "/integrations/mail/"
KEY_TTL = 5.0  # seconds a token's mailbox (or "no such mailbox") is trusted per process
REJECTED_BODY_LIMIT = 10_000
S = InboundMail.Status


def max_body() -> int:
    # A mail with attachments up to the limit, base64-encoded (4/3) inside a form or JSON, plus headroom.
    return int(settings.ATTACHMENT_MAX_BYTES * 1.5) + 1024 * 1024


@dataclass(frozen=True)
class MailboxKey:
    pk: int
    mailgun_signing_key: str


def _load_mailbox(token: str) -> MailboxKey | None:
    mailbox = Mailbox.with_webhook_token(token).filter(enabled=True).first() if token else None
    return MailboxKey(mailbox.pk, mailbox.mailgun_signing_key or "") if mailbox is not None else None


_keys: KeyCache[MailboxKey] = KeyCache(_load_mailbox, ttl=KEY_TTL)


def forget() -> None:
    """Drops this process's cached tokens (after a mailbox is saved, disabled or its token rotated)."""
    _keys.forget()


@dataclass(frozen=True)
class Decision:
    status: int  # 200 accept, 403 bad signature, 404 unknown mailbox or provider, 413 too large
    state: str = S.RECEIVED
    error: str = ""

    @property
    def store(self) -> bool:
        return self.status != 404


def decide(key: MailboxKey | None, provider: str, body: bytes, content_type: str, *,
           too_large: bool = False) -> Decision:
    if key is None or provider not in WEBHOOK_SOURCES:
        return Decision(404)
    if too_large:
        return Decision(413, S.REJECTED, f"body larger than {max_body()} bytes")
    if provider == InboundMail.Source.MAILGUN and key.mailgun_signing_key:
        try:
            problem = verify_mailgun(key.mailgun_signing_key, parse_form(body, content_type))
        except ValueError as exc:
            problem = str(exc)
        if problem:
            return Decision(403, S.REJECTED, problem)
    return Decision(200)


@dataclass(frozen=True)
class Incoming:
    mailbox_id: int
    provider: str
    body: bytes
    content_type: str
    decision: Decision


def _row(item: Incoming) -> InboundMail:
    accepted = item.decision.state == S.RECEIVED
    return InboundMail(mailbox_id=item.mailbox_id, source=item.provider, content_type=item.content_type[:200],
                       raw=item.body if accepted else item.body[:REJECTED_BODY_LIMIT], status=item.decision.state,
                       error=item.decision.error[:1000], processed_at=None if accepted else timezone.now())


def _store(items: list[Incoming]) -> list[int]:
    with transaction.atomic():
        stored = InboundMail.objects.bulk_create([_row(i) for i in items])
        for row in stored:
            if row.status == S.RECEIVED:
                enqueue_on_commit(tasks.process_inbound_mail, row.pk)
    return [r.pk for r in stored]


def store_batch(items: list[Incoming]) -> list[int | None]:
    """Stores raw bodies in one transaction and queues each accepted one after commit (one request's bad data does
    not lose the others: core.intake.store_batch_or_each)."""
    return store_batch_or_each(_store, items, what="mail webhook")


def receive(*, provider: str, token: str, body: bytes, content_type: str,
            too_large: bool = False) -> tuple[Decision, int | None]:
    """The same decision and store for one request, synchronously (the Django view)."""
    key = _keys.lookup(token)
    decision = decide(key, provider, body, content_type, too_large=too_large)
    if not decision.store or key is None:
        return decision, None
    (pk,) = store_batch([Incoming(key.pk, provider, body, content_type, decision)])
    return decision, pk


def _header(scope: dict[str, Any], wanted: bytes) -> str:
    for name, value in scope.get("headers") or ():
        if name == wanted:
            return str(value.decode("latin-1"))
    return ""


class MailIntakeApp(IntakeRoute):
    """ASGI route for POST /integrations/mail/<provider>/<token>/ (core.intake); everything else goes to Django."""

    prefix = PREFIX

    def __init__(self, fallback: Any) -> None:
        super().__init__(fallback)
        self.writer = GroupCommitWriter(keeping_connection(store_batch), wait=0.002, limit=50, what="mail webhook")

    async def handle(self, scope: dict[str, Any], receive: Receive, send: Send, tail: str) -> None:
        provider, _slash, token = tail.partition("/")
        if not token or "/" in token:
            await self.fallback(scope, receive, send)
            return
        # The mailbox first: an unknown token or provider is answered 404 without reading the body.
        hit, key = _keys.cached(token)
        if not hit:
            key = await sync_to_async(_keys.load)(token)
        if key is None or provider not in WEBHOOK_SOURCES:
            await respond_json(send, 404, {"code": "mailbox_not_found", "detail": "Not found."})
            return
        body, too_large = await read_capped_body(scope, receive, max_body())
        content_type = _header(scope, b"content-type")
        decision = await asyncio.to_thread(decide, key, provider, body, content_type, too_large=too_large)
        pk = await self.writer.store(Incoming(key.pk, provider, body, content_type, decision))
        if decision.status == 200:
            await respond_json(send, 200, {"id": pk, "status": "received"})
        else:
            code = "too_large" if decision.status == 413 else "bad_signature"
            await respond_json(send, decision.status, {"code": code, "detail": decision.error})
