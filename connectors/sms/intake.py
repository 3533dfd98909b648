"""Twilio webhook intake (inbound SMS and status callbacks): check the signature, store the raw body, queue its
processing, answer fast (STYLE §10).

Twilio signs every webhook with the account's auth token over the URL it called and the POST parameters
(signing.py). That URL is rebuilt from settings.SITE_URL and the request's path, never from the Host header: behind
a proxy the Host we see is not the one Twilio called, and a forged Host must not choose what is verified.

Every POST to a connected account's URL is stored before it is answered, signed or not: a good one `received`
(and queued), a missing or bad signature or an oversized body `rejected` with the reason (truncated, never
processed) and answered 403/413. No input is answered 500: a body that is not a form still parses (to parameters
that fail the signature), and NUL characters, which no PostgreSQL text column takes, are replaced before storing.

SMS traffic is far smaller than WhatsApp's (each message costs money), so this is a plain Django view: the
group-committing ASGI route WhatsApp needs (connectors/whatsapp/intake.py) would add nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from connectors.sms import signing, tasks
from connectors.sms.models import SmsAccount, WebhookDelivery
from core.tasks import enqueue_on_commit

PREFIX = "/integrations/sms/"
MAX_BODY = 64 * 1024  # Twilio's parameters are a few hundred bytes plus a 1,600-character body
REJECTED_BODY_LIMIT = 10_000
D = WebhookDelivery.State


def public_url(path_info: str, query: str = "") -> str:
    """The URL Twilio called, as configured: SITE_URL plus the path (and query) of the request."""
    return settings.SITE_URL.rstrip("/") + path_info + (f"?{query}" if query else "")


def inbound_url(account: SmsAccount) -> str:
    """Twilio → Phone Numbers → the number → Messaging → "A message comes in" (HTTP POST)."""
    return public_url(reverse("sms:inbound", args=[account.pk]))


def status_url(account: SmsAccount) -> str:
    """Passed as StatusCallback with every send (campaigns pass it too); shown for a messaging service's
    "Delivery status callback"."""
    return public_url(reverse("sms:status", args=[account.pk]))


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """The form's parameters in order (a name may repeat); undecodable bytes read as U+FFFD, never an error."""
    return parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)


@dataclass(frozen=True)
class Decision:
    status: int  # 200 accept, 403 unsigned or bad signature, 413 too large
    state: str = D.RECEIVED
    error: str = ""


def decide(account: SmsAccount, *, url: str, params: list[tuple[str, str]], signature: str | None,
           too_large: bool = False) -> Decision:
    if too_large:
        return Decision(413, D.REJECTED, f"body larger than {MAX_BODY} bytes")
    if not signature:
        return Decision(403, D.REJECTED, f"missing {signing.HEADER}")
    if not signing.is_valid(account.auth_token, url, params, signature):
        return Decision(403, D.REJECTED, f"bad {signing.HEADER} (for {url})")
    return Decision(200)


def _clean(text: str, limit: int) -> str:
    return text.replace("\x00", "\ufffd")[:limit]


def store(account: SmsAccount, *, kind: str, body: bytes, params: list[tuple[str, str]], decision: Decision,
          remote_addr: str | None) -> WebhookDelivery:
    """Stores the raw body (and queues its processing after commit when accepted)."""
    raw = body if decision.state == D.RECEIVED else body[:REJECTED_BODY_LIMIT]
    fields = dict(params)
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            account=account, kind=kind, body=raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
            message_sid=_clean(fields.get("MessageSid") or fields.get("SmsSid") or "", 64),
            status=_clean(fields.get("MessageStatus") or fields.get("SmsStatus") or "", 20),
            remote_addr=remote_addr, state=decision.state, error=decision.error)
        if delivery.state == D.RECEIVED:
            enqueue_on_commit(tasks.process_sms_webhooks, [delivery.pk])
    return delivery
