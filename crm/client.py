"""The only module that talks HTTP to Kommo (STYLE §10).

Explicit timeouts; at most 7 requests/second per account (Kommo blocks the IP of clients that keep
exceeding it); 429 and 5xx retried with backoff (honouring `retry_after`); a 401 triggers one token
refresh in OAuth mode; problem+json errors become domain errors carrying Kommo's `detail`; a 403 means
the IP is blocked and is never retried (retrying makes the block worse).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
import redis
from django.conf import settings
from django.utils import timezone

from core.backoff import backoff_seconds, jittered
from core.outages import REDIS_DOWN

logger = logging.getLogger(__name__)

RATE_PER_SECOND = 7
# The window is a little longer than a second: Kommo counts arrivals, and network jitter can bunch up calls
# we sent exactly one second apart (measured: 1 violation in 21 calls with a 1.00 s window, none with 1.02 s
# plus even spacing). Calls are also spaced evenly (window / rate) instead of sent in bursts of 7, which
# keeps the sustained rate at 6.9 requests/second without ever tripping Kommo's limiter.
WINDOW_SECONDS = 1.02
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0


class KommoError(Exception):
    """A Kommo answer we cannot use. `detail` is Kommo's own text when it sent one."""

    retryable = False

    def __init__(self, detail: str, *, status: int | None = None, title: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.title = title


class KommoUnavailable(KommoError):
    """Timeouts, 5xx and 429 that outlived our in-call retries: try again later."""

    retryable = True


class KommoAuthError(KommoError):
    """401 after a refresh (token revoked or integration uninstalled): an admin must reconnect."""


class KommoBlocked(KommoError):
    """403: Kommo blocked this IP for exceeding the rate limit. Stop calling and alert an admin."""


class KommoNotFound(KommoError):
    pass


class RateLimiter(Protocol):
    def acquire(self) -> None: ...


class LocalRateLimiter:
    """Sliding-window limiter with even spacing, for one process (embedded mode runs one worker)."""

    def __init__(self, rate: int = RATE_PER_SECOND, period: float = WINDOW_SECONDS, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        # `clock` and `sleep` are injectable so tests drive a virtual clock instead of sleeping and measuring.
        self.rate, self.period = rate, period
        self.spacing = period / rate
        self.clock, self.sleep = clock, sleep
        self._stamps: list[float] = []
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self.clock()
                self._stamps = [t for t in self._stamps if now - t < self.period]
                last = self._stamps[-1] if self._stamps else None
                if len(self._stamps) < self.rate and (last is None or now - last >= self.spacing):
                    self._stamps.append(now)
                    return
                wait = self.spacing - (now - last) if last is not None else 0.0
                if len(self._stamps) >= self.rate:
                    wait = max(wait, self.period - (now - self._stamps[0]))
            self.sleep(max(wait, 0.001))


# Sliding-window log in one atomic script, timed by the Redis server's clock so every machine agrees.
# Returns 0 when a slot was taken, else the seconds to wait before the oldest call leaves the window.
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""


class RedisRateLimiter:
    """Limiter shared by every worker process on every machine (one sorted set per account).

    While Redis is unreachable, this process falls back to its own limiter at the same rate: a Kommo call already
    under way in a job (Redis dropped mid-job) finishes instead of failing its delivery for good. Several workers may
    then exceed the account's rate together for the few seconds of the outage; Kommo answers 429, which the client
    retries."""

    def __init__(self, url: str, key: str, rate: int = RATE_PER_SECOND, period: float = WINDOW_SECONDS) -> None:
        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.script = self.redis.register_script(_SLIDING_WINDOW)
        self.key, self.rate, self.period = key, rate, period
        self.fallback = LocalRateLimiter(rate, period)

    def acquire(self) -> None:
        while True:
            try:
                wait = float(self.script(keys=[self.key], args=[self.period, self.rate, uuid.uuid4().hex]))
            except REDIS_DOWN as exc:
                logger.warning("kommo rate limiter: Redis unavailable (%s); limiting this process on its own", exc)
                self.fallback.acquire()
                return
            if wait <= 0:
                return
            time.sleep(wait + random.uniform(0, 0.01))  # noqa: S311 - jitter, not security


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(account_key: str) -> RateLimiter:
    with _limiters_lock:
        if account_key not in _limiters:
            _limiters[account_key] = (
                RedisRateLimiter(settings.REDIS_URL, f"kommo-rate:{account_key}") if settings.REDIS_URL
                else LocalRateLimiter()
            )
        return _limiters[account_key]


@dataclass(frozen=True)
class Stage:
    pipeline_id: int
    pipeline_name: str
    status_id: int
    name: str


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: datetime


@dataclass
class Credentials:
    base_url: str
    subdomain: str
    access_token: str
    client_id: str = ""
    client_secret: str = ""
    refresh_token: str = ""
    redirect_uri: str = ""

    @property
    def can_refresh(self) -> bool:
        return bool(self.client_id and self.client_secret and self.refresh_token)


class KommoClient:
    def __init__(
        self,
        credentials: Credentials,
        *,
        on_tokens: Callable[[Tokens], None] | None = None,
        limiter: RateLimiter | None = None,
        max_attempts: int = 4,
        backoff: float | None = None,
        max_wait: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.credentials = credentials
        self.on_tokens = on_tokens
        self.limiter = limiter or limiter_for(credentials.subdomain)
        self.max_attempts = max_attempts
        self.backoff = settings.KOMMO_CLIENT_BACKOFF if backoff is None else backoff
        self.max_wait = max_wait
        self.http = httpx.Client(
            base_url=credentials.base_url.rstrip("/"),
            timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
            headers={"User-Agent": "Centralita/1.0 (+kommo-integration)"},
            transport=transport,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> KommoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, params: Any = None, json: Any = None,
                 auth: bool = True) -> httpx.Response:
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            headers = {"Authorization": f"Bearer {self.credentials.access_token}"} if auth else {}
            self.limiter.acquire()
            try:
                response = self.http.request(method, path, params=params, json=json, headers=headers)
            except httpx.TransportError as exc:
                if attempt >= self.max_attempts:
                    raise KommoUnavailable(f"Kommo did not answer: {type(exc).__name__}: {exc}") from exc
                self._sleep(attempt, None)
                continue
            status = response.status_code
            if status in (200, 201, 202, 204):
                return response
            if status == 401 and auth and not refreshed and self.credentials.can_refresh:
                self.refresh()
                refreshed = True
                continue
            if status == 429 or status >= 500:
                if attempt >= self.max_attempts:
                    raise self._error(response, KommoUnavailable)
                self._sleep(attempt, self._retry_after(response))
                continue
            if status == 401:
                raise self._error(response, KommoAuthError)
            if status == 403:
                raise self._error(response, KommoBlocked)
            if status == 404:
                raise self._error(response, KommoNotFound)
            raise self._error(response, KommoError)

    def _sleep(self, attempt: int, retry_after: float | None) -> None:
        if retry_after is not None:  # Kommo said when: wait that long (jittered), within our patience
            time.sleep(jittered(min(self.max_wait, retry_after), 0.1))
        else:
            time.sleep(backoff_seconds(attempt, base=self.backoff, cap=self.max_wait, jitter=0.1))

    @staticmethod
    def _retry_after(response: httpx.Response) -> float | None:
        try:
            value = response.json().get("retry_after")
        except (ValueError, AttributeError):
            value = response.headers.get("Retry-After")
        try:
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    @staticmethod
    def _error(response: httpx.Response, cls: type[KommoError]) -> KommoError:
        title, detail = "", response.text[:300] or f"HTTP {response.status_code}"
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            title = str(body.get("title", ""))
            detail = str(body.get("detail") or body.get("hint") or detail)
            problems = body.get("validation-errors")
            if problems:
                detail += ": " + "; ".join(
                    f"{e.get('path')}: {e.get('detail')}" for p in problems for e in p.get("errors", []))
        return cls(detail, status=response.status_code, title=title)

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # --- OAuth ----------------------------------------------------------------------------------------

    def _token_request(self, payload: dict[str, str]) -> Tokens:
        response = self._request("POST", "/oauth2/access_token", json={
            "client_id": self.credentials.client_id, "client_secret": self.credentials.client_secret,
            "redirect_uri": self.credentials.redirect_uri, **payload}, auth=False)
        body = response.json()
        tokens = Tokens(access_token=body["access_token"], refresh_token=body["refresh_token"],
                        expires_at=timezone.now() + timedelta(seconds=int(body.get("expires_in", 86400))))
        self.credentials.access_token = tokens.access_token
        self.credentials.refresh_token = tokens.refresh_token
        if self.on_tokens is not None:
            self.on_tokens(tokens)
        return tokens

    def exchange_code(self, code: str) -> Tokens:
        return self._token_request({"grant_type": "authorization_code", "code": code})

    def refresh(self) -> Tokens:
        """Refresh tokens rotate: the caller must persist the new refresh token (`on_tokens`)."""
        return self._token_request({"grant_type": "refresh_token", "refresh_token": self.credentials.refresh_token})

    # --- API ------------------------------------------------------------------------------------------

    def get_account(self) -> dict[str, Any]:
        return self._json(self._request("GET", "/api/v4/account")) or {}

    def stages(self) -> list[Stage]:
        body = self._json(self._request("GET", "/api/v4/leads/pipelines")) or {}
        return [
            Stage(pipeline_id=int(pipeline["id"]), pipeline_name=str(pipeline.get("name", "")),
                  status_id=int(status["id"]), name=str(status.get("name", "")))
            for pipeline in body.get("_embedded", {}).get("pipelines", [])
            for status in pipeline.get("_embedded", {}).get("statuses", [])
        ]

    def get_lead(self, lead_id: int) -> dict[str, Any] | None:
        try:
            return self._json(self._request("GET", f"/api/v4/leads/{lead_id}", params={"with": "contacts"}))
        except KommoNotFound:
            return None

    def get_contacts(self, contact_ids: Iterable[int]) -> list[dict[str, Any]]:
        ids = list(dict.fromkeys(contact_ids))
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), 250):
            params = [("filter[id][]", str(i)) for i in ids[start:start + 250]] + [("limit", "250")]
            body = self._json(self._request("GET", "/api/v4/contacts", params=params)) or {}
            found.extend(body.get("_embedded", {}).get("contacts", []))
        return found

    def update_lead(self, lead_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        return self._json(self._request("PATCH", f"/api/v4/leads/{lead_id}", json=fields)) or {}

    def register_webhook(self, destination: str, events: list[str]) -> dict[str, Any]:
        """Kommo updates the subscription when the destination already exists (contract §1.1)."""
        return self._json(self._request("POST", "/api/v4/webhooks", json={
            "destination": destination, "settings": events, "sort": 10})) or {}

    def lead_has_note(self, lead_id: int, marker: str) -> bool:
        page = 1
        while True:
            body = self._json(self._request("GET", f"/api/v4/leads/{lead_id}/notes",
                                            params={"page": page, "limit": 250})) or {}
            notes = body.get("_embedded", {}).get("notes", [])
            if any(marker in str((n.get("params") or {}).get("text", "")) for n in notes):
                return True
            if not notes or not body.get("_links", {}).get("next"):
                return False
            page += 1

    def add_lead_note(self, lead_id: int, text: str, *, request_id: str = "") -> dict[str, Any]:
        note: dict[str, Any] = {"note_type": "common", "params": {"text": text}}
        if request_id:
            note["request_id"] = request_id
        return self._json(self._request("POST", f"/api/v4/leads/{lead_id}/notes", json=[note])) or {}


def contact_values(contact: dict[str, Any], code: str) -> list[str]:
    """Values of the PHONE or EMAIL multitext fields (found by `field_code`, never by id)."""
    values: list[str] = []
    for cf in contact.get("custom_fields_values") or []:
        if str(cf.get("field_code") or "").upper() == code:
            values.extend(str(v.get("value", "")).strip() for v in cf.get("values") or [] if v.get("value"))
    return values
