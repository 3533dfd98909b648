"""Kommo webhook intake: one decision function shared by the Django view and the fast ASGI route.

Kommo waits 2 s and retries or disables a slow endpoint, and a busy account sends bursts. The fast route
(`IntakeApp`, mounted in config/asgi.py ahead of Django) skips the middleware stack and **group-commits**: requests
arriving within a few milliseconds are stored in one transaction, and each is answered 200 only after its raw
body is committed ("stored before answered" holds for every request). One processing task is queued per batch.

One request can never cost the others of its batch their answer: if the batch's single insert fails, each request
is stored on its own and only the one that cannot be stored gets a 500 (Kommo retries it). The worker then
processes and records each delivery on its own (crm.tasks).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import (
    close_old_connections,
    transaction,
)
from django.utils.crypto import constant_time_compare

from core.intake import (
    GroupCommitWriter,
    IntakeRoute,
    Receive,
    Send,
    enqueue_with_rows,
    read_capped_body,
    respond,
    respond_json,
    store_batch_or_each,
)
from core.request_context import client_ip_from_scope
from crm import tasks
from crm.models import KommoAccount, WebhookDelivery
from crm.webhooks import WebhookParseError, peek_account

logger = logging.getLogger(__name__)
PREFIX = "/integrations/kommo/webhook/"
ACCOUNT_CACHE_SECONDS = 5.0
BATCH_MAX = 200
MAX_BODY = 1024 * 1024  # Kommo posts form bodies of a few KB (250 leads at most per event); 1 MiB is far beyond
BATCH_WAIT = 0.004  # seconds the writer waits to gather a batch (measured: 2-5 ms keeps p99 well under 100 ms)

_account_cache: tuple[float, KommoAccount | None] = (0.0, None)


def current_account() -> KommoAccount | None:
    """The connected account, cached briefly per process (it only changes when an admin reconnects)."""
    global _account_cache  # noqa: PLW0603 - a tiny per-process cache
    stamp, account = _account_cache
    now = time.monotonic()
    if now - stamp > ACCOUNT_CACHE_SECONDS:
        account = KommoAccount.current()
        _account_cache = (now, account)
    return account


def reset_account_cache() -> None:
    global _account_cache  # noqa: PLW0603
    _account_cache = (0.0, None)


@dataclass(frozen=True)
class Decision:
    status: int  # 200 accept, 400 unparseable, 403 foreign account, 404 unknown secret
    state: str = WebhookDelivery.State.RECEIVED
    error: str = ""
    detail: str = ""
    code: str = ""

    @property
    def store(self) -> bool:
        return self.status != 404


def decide(account: KommoAccount | None, secret: str, body: str, *, too_large: bool = False) -> Decision:
    """Kommo signs nothing: the unguessable secret in the URL and the account check are the protection."""
    if account is None or not constant_time_compare(secret, account.webhook_secret):
        return Decision(404)
    if too_large:  # Kommo's webhooks are a few KB; the first MAX_BODY bytes are kept on the rejected row
        return Decision(413, WebhookDelivery.State.REJECTED, f"body larger than {MAX_BODY} bytes",
                        f"The body is larger than {MAX_BODY} bytes.", "too_large")
    try:
        subdomain, account_id = peek_account(body)
    except WebhookParseError as exc:
        return Decision(400, WebhookDelivery.State.REJECTED, f"unparseable: {exc}",
                        f"Unparseable Kommo webhook: {exc}", "invalid_webhook")
    if (subdomain and subdomain != account.subdomain) or (
            account_id is not None and account.account_id is not None and account_id != account.account_id):
        logger.warning("kommo webhook for foreign account %s/%s", subdomain, account_id)
        return Decision(403, WebhookDelivery.State.REJECTED, f"account mismatch: {subdomain}/{account_id}",
                        "This webhook URL belongs to another Kommo account.", "wrong_account")
    return Decision(200)


@dataclass(frozen=True)
class Incoming:
    body: str
    content_type: str
    remote_addr: str | None
    decision: Decision


def _row(item: Incoming) -> WebhookDelivery:
    # NUL cannot be stored in a PostgreSQL text column and never belongs in a form body: it is replaced.
    return WebhookDelivery(body=item.body.replace("\x00", "\ufffd"), content_type=item.content_type[:100],
                           remote_addr=item.remote_addr, state=item.decision.state, error=item.decision.error)


def _store(items: list[Incoming]) -> list[int]:
    with transaction.atomic():
        rows = WebhookDelivery.objects.bulk_create([_row(i) for i in items])
        accepted = [r.pk for r in rows if r.state == WebhookDelivery.State.RECEIVED]
        if accepted:
            enqueue_with_rows(tasks.process_kommo_webhooks, accepted)
    return [r.pk for r in rows]


def store_batch(items: list[Incoming]) -> list[int | None]:
    """Stores raw bodies in one transaction; queues one processing task for the accepted ones after commit
    (core.intake.store_batch_or_each: one request's bad data does not lose the others)."""
    return store_batch_or_each(_store, items, what="kommo webhook")


def _store_batch_in_thread(items: list[Incoming]) -> list[int | None]:
    close_old_connections()
    return store_batch(items)


class IntakeApp(IntakeRoute):
    """ASGI route for POST /integrations/kommo/webhook/<secret>/ (core.intake; everything else goes to Django)."""

    prefix = PREFIX

    def __init__(self, fallback: Any) -> None:
        super().__init__(fallback)
        self.writer = GroupCommitWriter(_store_batch_in_thread, wait=BATCH_WAIT, limit=BATCH_MAX,
                                        what="kommo webhook")

    async def handle(self, scope: dict[str, Any], receive: Receive, send: Send, tail: str) -> None:
        # The secret first: a wrong one is answered 404 without reading its body; then no more than MAX_BODY.
        account = await sync_to_async(current_account)()
        if account is None or not constant_time_compare(tail, account.webhook_secret):
            await respond_json(send, 404, {"detail": "Not found."})
            return
        raw, too_large = await read_capped_body(scope, receive, MAX_BODY)
        body = raw.decode("utf-8", errors="replace")
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        client_ip = client_ip_from_scope(scope)  # X-Forwarded-For only from a trusted proxy (TRUSTED_PROXIES)
        decision = decide(account, tail, body, too_large=too_large)
        if decision.store:
            await self.writer.store(Incoming(body, content_type, client_ip, decision))
        if decision.status == 200:
            await respond(send, 200)
        elif decision.status == 404:
            await respond_json(send, 404, {"detail": "Not found."})
        else:
            await respond_json(send, decision.status, {"detail": decision.detail, "code": decision.code})
