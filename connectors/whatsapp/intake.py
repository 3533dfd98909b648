"""WhatsApp webhook intake: one decision function shared by the Django view and the fast ASGI route.

Meta wants a 200 quickly and redelivers otherwise (contract §3), and a busy number sends thousands of webhooks per
minute. The fast route (`WhatsappIntakeApp`, chained in config/asgi.py ahead of Django) therefore:

* matches `POST /integrations/whatsapp/webhook/<phone number id>/` before Django (no middleware stack);
* checks `X-Hub-Signature-256` on the event loop (HMAC-SHA256 of the raw bytes with the number's app secret; missing
  → 401, bad → 403, both recorded as `rejected` with the reason and never processed);
* takes the app secret from a per-process cache with a short TTL (SECRET_TTL), so a hot number costs no query;
* **group-commits**: requests arriving within a few milliseconds are stored in one transaction and each is answered
  200 only after its raw body is committed ("stored before answered"); one processing task (queue "messaging") is
  enqueued per batch after commit.

Every process has its own cache and writer and shares nothing but the database, so the route scales out with the
number of web processes. Processing (parsing, media downloads, the inbox) happens in the worker, which records each
delivery's outcome on its own (connectors.whatsapp.actions.do_process_delivery).

One request never costs the others of its batch their answer: if the batch's single insert fails, each is stored on
its own and only the one that cannot be stored gets a 500 (Meta redelivers it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import (
    transaction,
)

from connectors.whatsapp import tasks
from connectors.whatsapp.models import WebhookDelivery, WhatsappNumber
from connectors.whatsapp.signing import signature_valid
from core.intake import (
    GroupCommitWriter,
    IntakeRoute,
    KeyCache,
    Receive,
    Send,
    enqueue_with_rows,
    keeping_connection,
    read_capped_body,
    respond,
    respond_json,
    store_batch_or_each,
)
from core.request_context import client_ip_from_scope

logger = logging.getLogger(__name__)
PREFIX = "/integrations/whatsapp/webhook/"
SECRET_TTL = 5.0  # seconds an app secret (or "no such number") is trusted per process after reading it
MAX_BODY = 4 * 1024 * 1024  # Meta's payloads are at most 3 MB (contract §3 [S]); anything bigger is not Meta
REJECTED_BODY_LIMIT = 10_000  # a refused body is kept for inspection, but an unsigned flood must not fill the disk
BATCH_MAX = 200
BATCH_WAIT = 0.002  # seconds the writer waits to gather a batch (the store itself takes longer, so batches grow
#                     with load: measured 1-3 ms keeps p99 low at 1,000/s, see docs/benchmarks.md "WhatsApp")
SIGNATURE_HEADER = b"x-hub-signature-256"
D = WebhookDelivery.State


@dataclass(frozen=True)
class NumberKey:
    pk: int
    app_secret: str


def _load_number(phone_number_id: str) -> NumberKey | None:
    row = (WhatsappNumber.objects.filter(phone_number_id=phone_number_id, is_active=True)
           .values_list("pk", "app_secret").first())
    return NumberKey(row[0], row[1]) if row else None


_secrets: KeyCache[NumberKey] = KeyCache(_load_number, ttl=SECRET_TTL)


def forget(phone_number_id: str | None = None) -> None:
    """Drops this process's cached secret (after connecting, rotating or deactivating a number)."""
    _secrets.forget(phone_number_id)


def lookup(phone_number_id: str) -> NumberKey | None:
    return _secrets.lookup(phone_number_id)


@dataclass(frozen=True)
class Decision:
    status: int  # 200 accept, 401 unsigned, 403 bad signature, 404 unknown number, 413 too large
    state: str = D.RECEIVED
    error: str = ""

    @property
    def store(self) -> bool:
        return self.status != 404


def decide(number: NumberKey | None, signature: str | None, body: bytes, *, too_large: bool = False) -> Decision:
    if number is None:
        return Decision(404)  # not a connected number: nothing is stored for random traffic
    if too_large:
        return Decision(413, D.REJECTED, f"body larger than {MAX_BODY} bytes")
    if not signature:
        return Decision(401, D.REJECTED, "missing X-Hub-Signature-256")
    if not signature_valid(body, number.app_secret, signature):
        return Decision(403, D.REJECTED, "bad X-Hub-Signature-256")
    return Decision(200)


@dataclass(frozen=True)
class Incoming:
    number_id: int
    body: bytes
    remote_addr: str | None
    decision: Decision


def _row(item: Incoming) -> WebhookDelivery:
    body = item.body if item.decision.state == D.RECEIVED else item.body[:REJECTED_BODY_LIMIT]
    # NUL cannot be stored in a PostgreSQL text column; JSON never carries a raw one (it would be "\u0000").
    text = body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return WebhookDelivery(number_id=item.number_id, body=text, remote_addr=item.remote_addr,
                           state=item.decision.state, error=item.decision.error)


def store_batch(items: list[Incoming]) -> list[int | None]:
    """Stores raw bodies in one transaction; queues one processing task for the accepted ones after commit
    (core.intake.store_batch_or_each: one request's bad data does not lose the others)."""
    return store_batch_or_each(_store, items, what="whatsapp webhook")


def _store(items: list[Incoming]) -> list[int]:
    rows = [_row(i) for i in items]

    with transaction.atomic():
        stored = WebhookDelivery.objects.bulk_create(rows)
        accepted = [r.pk for r in stored if r.state == D.RECEIVED]
        if accepted:
            enqueue_with_rows(tasks.process_whatsapp_webhooks, accepted)
    return [r.pk for r in stored]


class WhatsappIntakeApp(IntakeRoute):
    """ASGI route for POST /integrations/whatsapp/webhook/<phone number id>/ (core.intake); everything else goes to
    Django (which answers the GET verification handshake)."""

    prefix = PREFIX

    def __init__(self, fallback: Any) -> None:
        super().__init__(fallback)
        self.writer = GroupCommitWriter(keeping_connection(store_batch), wait=BATCH_WAIT, limit=BATCH_MAX,
                                        what="whatsapp webhook")

    async def handle(self, scope: dict[str, Any], receive: Receive, send: Send, tail: str) -> None:
        if not tail.isdigit():
            await self.fallback(scope, receive, send)
            return
        # The number first: an unknown one is answered 404 without reading its body. The signature covers the body,
        # so that check needs it — read no further than MAX_BODY (core.intake.read_capped_body).
        hit, number = _secrets.cached(tail)
        if not hit:
            number = await sync_to_async(_secrets.load)(tail)
        if number is None:
            await respond_json(send, 404, {"detail": "Not found.", "code": 404})
            return
        body, too_large = await read_capped_body(scope, receive, MAX_BODY)
        signature = None
        for name, value in scope.get("headers") or ():
            if name == SIGNATURE_HEADER:
                signature = value.decode("latin-1")
                break
        decision = decide(number, signature, body, too_large=too_large)
        if decision.store:
            # X-Forwarded-For only from a trusted proxy (TRUSTED_PROXIES)
            await self.writer.store(Incoming(number.pk, body, client_ip_from_scope(scope), decision))
        if decision.status == 200:
            await respond(send, 200)
        else:
            await respond_json(send, decision.status, {"detail": decision.error or "Not found.",
                                                       "code": decision.status})
