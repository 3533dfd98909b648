"""The only module that talks HTTP to Meta's Graph API (STYLE §10), see /work/shared/contracts/whatsapp.md.

Explicit timeouts. 429, 5xx, connection errors and Meta's throttling codes are retried in the call with
exponential backoff and jitter, then raised as `GraphUnavailable` (the caller retries later); any other Graph
error envelope becomes a `GraphError` carrying Meta's code, title and details, which is final.

Sends are not idempotent at Meta (there is no idempotency key): a POST is retried only when Meta did not take
it (connection refused, 429, 5xx). A read timeout after Meta accepted a message surfaces as `GraphUnavailable`
and the sender's later retry may send that one message twice; that is the documented at-least-once edge.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx

from connectors.whatsapp import conf
from connectors.whatsapp.signing import signature_header
from core.backoff import backoff_seconds

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
MEDIA_READ_TIMEOUT = 60.0
RETRIES = 3  # in-call retries after the first try
MAX_TEMPLATE_PAGES = 50  # 50 × 100 templates: far beyond a real WABA's limit (250 per account)
# Graph codes that mean "slow down / try again" even when the HTTP status is 4xx (contract §6; pywa errors.py):
# 4 app rate limit, 80007 WABA rate limit, 130429 throughput, 131048 spam rate limit, 131056 pair rate limit,
# 1/2 unknown/service errors that Meta flags transient.
RETRYABLE_CODES = frozenset({1, 2, 4, 80007, 130429, 131048, 131056})


class GraphError(Exception):
    """A Graph API answer we cannot use; `text` is what an agent or admin sees."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None, title: str = "",
                 details: str = "") -> None:
        super().__init__(message)
        self.message, self.status, self.code, self.title, self.details = message, status, code, title, details

    @property
    def text(self) -> str:
        head = f"(#{self.code}) " if self.code is not None and f"#{self.code}" not in self.message else ""
        tail = f" {self.details}" if self.details and self.details not in self.message else ""
        return f"{head}{self.message}{tail}".strip()[:300]


class GraphUnavailable(GraphError):
    """Timeouts, connection errors, 5xx, 429 and throttling codes that outlived the in-call retries."""

    retryable = True


@dataclass(frozen=True)
class PhoneNumberInfo:
    id: str
    display_phone_number: str
    verified_name: str
    quality_rating: str


def _error_from(response: httpx.Response) -> GraphError:
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        text = response.text[:200].strip() or response.reason_phrase
        cls = GraphUnavailable if response.status_code == 429 or response.status_code >= 500 else GraphError
        return cls(f"HTTP {response.status_code}: {text}", status=response.status_code)
    code = error.get("code")
    code = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
    details = ""
    if isinstance(error.get("error_data"), dict):
        details = str(error["error_data"].get("details") or "")
    message = str(error.get("error_user_msg") or error.get("message") or f"HTTP {response.status_code}")
    transient = (response.status_code == 429 or response.status_code >= 500 or code in RETRYABLE_CODES
                 or bool(error.get("is_transient")))
    cls = GraphUnavailable if transient else GraphError
    return cls(message, status=response.status_code, code=code, title=str(error.get("error_user_title") or ""),
               details=details)


class GraphClient:
    """`with GraphClient(base_url=…, token=…) as g: g.send_message(pnid, payload)`."""

    def __init__(self, *, base_url: str, token: str, version: str | None = None, retries: int = RETRIES,
                 backoff: float | None = None, transport: httpx.BaseTransport | None = None) -> None:
        self.root = base_url.rstrip("/")
        self.version = version or conf.graph_version()
        self.token = token
        self.retries = retries
        self.backoff = conf.client_backoff() if backoff is None else backoff
        self.http = httpx.Client(timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT), transport=transport,
                                 headers={"Authorization": f"Bearer {token}",
                                          "User-Agent": "Centralita-WhatsApp/1.0"})

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def url(self, path: str) -> str:
        return f"{self.root}/{self.version}/{path.lstrip('/')}"

    def _request(self, method: str, url: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        last: GraphError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(backoff_seconds(attempt, base=self.backoff))
            try:
                response = self.http.request(
                    method, url, **kwargs,
                    timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT) if timeout else httpx.USE_CLIENT_DEFAULT)
            except httpx.ConnectError as exc:  # never reached Meta: always safe to retry
                last = GraphUnavailable(f"{type(exc).__name__}: {exc}")
                continue
            except httpx.TimeoutException as exc:
                last = GraphUnavailable(f"timeout: {type(exc).__name__}")
                if method != "GET":
                    break  # Meta may have taken it: let the caller decide (see the module docstring)
                continue
            except httpx.HTTPError as exc:
                raise GraphUnavailable(f"{type(exc).__name__}: {exc}") from exc
            if response.status_code < 400:
                return response
            error = _error_from(response)
            if not error.retryable:
                raise error
            last = error
            logger.info("graph %s %s: %s (attempt %d)", method, url, error.text, attempt + 1)
        assert last is not None
        raise last

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError as exc:
            raise GraphError(f"HTTP {response.status_code}: not JSON", status=response.status_code) from exc
        if not isinstance(payload, dict):
            raise GraphError("unexpected answer", status=response.status_code)
        return payload

    # --- endpoints ---------------------------------------------------------------------------------------

    def get_phone_number(self, phone_number_id: str) -> PhoneNumberInfo:
        fields = "id,display_phone_number,verified_name,quality_rating"
        data = self._json(self._request("GET", self.url(phone_number_id), params={"fields": fields}))
        return PhoneNumberInfo(id=str(data.get("id") or phone_number_id),
                               display_phone_number=str(data.get("display_phone_number") or ""),
                               verified_name=str(data.get("verified_name") or ""),
                               quality_rating=str(data.get("quality_rating") or ""))

    def send_message(self, phone_number_id: str, payload: dict[str, Any]) -> str:
        """POST /{phone-number-id}/messages; returns the wamid Meta assigned."""
        data = self._json(self._request("POST", self.url(f"{phone_number_id}/messages"), json=payload))
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages or not messages[0].get("id"):
            raise GraphError("the send answer carries no message id")
        return str(messages[0]["id"])

    def mark_read(self, phone_number_id: str, wamid: str) -> None:
        self._request("POST", self.url(f"{phone_number_id}/messages"),
                      json={"messaging_product": "whatsapp", "status": "read", "message_id": wamid})

    def upload_media(self, phone_number_id: str, *, data: bytes, content_type: str, filename: str) -> str:
        """POST /{phone-number-id}/media (multipart); returns the media id to send by id."""
        response = self._request("POST", self.url(f"{phone_number_id}/media"), timeout=MEDIA_READ_TIMEOUT,
                                 data={"messaging_product": "whatsapp", "type": content_type},
                                 files={"file": (filename, data, content_type)})
        media_id = self._json(response).get("id")
        if not media_id:
            raise GraphError("the upload answer carries no media id")
        return str(media_id)

    def media_info(self, media_id: str) -> dict[str, Any]:
        """GET /{media-id}: a short-lived download URL plus mime_type, sha256 and file_size."""
        return self._json(self._request("GET", self.url(media_id)))

    def download(self, url: str, *, max_bytes: int) -> bytes:
        """The media URL needs the same bearer token (it is not public)."""
        with self.http.stream("GET", url, timeout=httpx.Timeout(MEDIA_READ_TIMEOUT, connect=CONNECT_TIMEOUT)) as r:
            if r.status_code >= 400:
                r.read()
                raise _error_from(r)
            chunks, size = [], 0
            for chunk in r.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise GraphError(f"media larger than {max_bytes} bytes")
                chunks.append(chunk)
        return b"".join(chunks)

    def download_media(self, media_id: str, *, max_bytes: int) -> tuple[bytes, dict[str, Any]]:
        info = self.media_info(media_id)
        url = info.get("url")
        if not url:
            raise GraphError("the media answer carries no URL")
        try:
            return self.download(str(url), max_bytes=max_bytes), info
        except httpx.TimeoutException as exc:
            raise GraphUnavailable(f"timeout downloading media {media_id}") from exc
        except httpx.HTTPError as exc:
            raise GraphUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def templates(self, waba_id: str) -> list[dict[str, Any]]:
        """Every template of the WABA (GET /{waba-id}/message_templates, following paging.next)."""
        fields = "id,name,language,status,category,components,parameter_format"
        url: str | None = self.url(f"{waba_id}/message_templates")
        params: dict[str, Any] | None = {"fields": fields, "limit": 100}
        found: list[dict[str, Any]] = []
        for _page in range(MAX_TEMPLATE_PAGES):
            if url is None:
                break
            data = self._json(self._request("GET", url, params=params))
            found += [t for t in data.get("data") or [] if isinstance(t, dict)]
            paging = data.get("paging") if isinstance(data.get("paging"), dict) else {}
            url, params = (paging or {}).get("next"), None  # `next` already carries every query parameter
        return found


def post_signed_webhook(url: str, body: bytes, app_secret: str) -> int:
    """POSTs a webhook body signed like Meta signs it (the admin page's "Simular mensaje" uses it to reach our own
    endpoint, so the demo goes through the real signature check and intake). Returns the HTTP status."""
    response = httpx.post(url, content=body, timeout=httpx.Timeout(10.0, connect=CONNECT_TIMEOUT),
                          headers={"Content-Type": "application/json",
                                   "X-Hub-Signature-256": signature_header(body, app_secret)})
    return response.status_code
