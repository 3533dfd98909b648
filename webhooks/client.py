"""The only module that sends outgoing webhooks over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` + HMAC-SHA256(secret, "<timestamp>." + body) — the timestamp is signed too, so a receiver
    can reject replays of old deliveries."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status: int | None
    error: str


def post_event(url: str, *, secret: str, event: str, event_id: str, payload: dict[str, Any]) -> Attempt:
    body = json.dumps({"id": event_id, "event": event, "data": payload}, separators=(",", ":"),
                      ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Centralita-Webhooks/1.0",
        "X-Centralita-Event": event,
        "X-Centralita-Event-Id": event_id,
        "X-Centralita-Timestamp": timestamp,
        "X-Centralita-Signature": sign(secret, timestamp, body),
    }
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        return Attempt(False, None, f"{type(exc).__name__}: {exc}")
    if 200 <= response.status_code < 300:
        return Attempt(True, response.status_code, "")
    return Attempt(False, response.status_code, response.text[:300])
