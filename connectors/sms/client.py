"""The only module that talks HTTP to Twilio's Programmable Messaging API (STYLE §10), see
/work/shared/contracts/sms.md.

Explicit timeouts, HTTP Basic auth with the account SID and auth token, form-encoded sends. Errors:

* `SmsRateLimited` — HTTP 429 / Twilio 20429, with the seconds Twilio asked us to wait (`Retry-After`); raised at
  once, never slept on here: the caller defers its work (a worker must not sleep through a rate limit);
* `SmsUnavailable` — 5xx, timeouts and network errors (SmsRateLimited is one too: both pass). Reads (GET) are
  retried in the call with exponential backoff first. A send is retried in the call only when it never reached
  Twilio (connection refused); `unknown_outcome` says Twilio may have taken it (the answer was lost, or a 5xx came
  back after the request arrived), and the caller reconciles with `list_messages` before sending again;
* `SmsError` — anything else Twilio refused (21211 invalid number, 21610 opted out, 20003 bad credentials…):
  permanent, with Twilio's code and message.

Except SmsRateLimited before SmsUnavailable before SmsError (each is a subclass of the next).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx

from connectors.sms import conf
from core.backoff import backoff_seconds

if TYPE_CHECKING:
    from connectors.sms.models import SmsAccount

logger = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
RETRIES = 2  # in-call retries of a read, after the first try
MAX_LIST_PAGES = 10  # reconciling looks at recent messages to one number: 10 × 50 is far more than it needs
DEFAULT_RETRY_AFTER = 1.0  # Twilio's 429 without Retry-After: its queue limits are per second


class SmsError(Exception):
    """An answer Twilio gave (or could not give). `text` is what an agent or admin sees: "21211: The 'To' …"."""

    retryable = False

    def __init__(self, code: int | None, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

    @property
    def text(self) -> str:
        return (f"{self.code}: {self.message}" if self.code else self.message)[:300]


class SmsUnavailable(SmsError):
    """5xx, timeouts and network errors. `unknown_outcome`: a send whose answer was lost (Twilio may have it)."""

    retryable = True

    def __init__(self, code: int | None, message: str, status: int | None = None, *,
                 unknown_outcome: bool = False) -> None:
        super().__init__(code, message, status)
        self.unknown_outcome = unknown_outcome


class SmsRateLimited(SmsUnavailable):
    """HTTP 429 / 20429: try again in `retry_after` seconds (Twilio's Retry-After, or one second)."""

    def __init__(self, retry_after: float, message: str = "Too Many Requests", code: int | None = 20429) -> None:
        super().__init__(code, message, 429)
        self.retry_after = retry_after


@dataclass(frozen=True)
class SentSms:
    sid: str
    status: str
    num_segments: int
    price: Decimal | None  # null until Twilio knows it (always, right after the send); negative = a charge


def _retry_after(response: httpx.Response) -> float:
    raw = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return DEFAULT_RETRY_AFTER


def _error_from(response: httpx.Response) -> SmsError:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    data = payload if isinstance(payload, dict) else {}
    raw_code = data.get("code")
    code = int(raw_code) if isinstance(raw_code, int | str) and str(raw_code).isdigit() else None
    message = str(data.get("message") or data.get("detail") or response.text[:200].strip()
                  or response.reason_phrase or f"HTTP {response.status_code}")
    if response.status_code == 429 or code == 20429:
        return SmsRateLimited(_retry_after(response), message, code)
    if response.status_code >= 500:
        return SmsUnavailable(code, f"HTTP {response.status_code}: {message}", response.status_code)
    return SmsError(code, message, response.status_code)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


class SmsClient:
    """`with SmsClient(base_url, account_sid, auth_token) as sms: sms.send(to=…, body=…, from_=…)`."""

    def __init__(self, base_url: str, account_sid: str, auth_token: str, *, timeout: float = READ_TIMEOUT,
                 connect_timeout: float = CONNECT_TIMEOUT, retries: int = RETRIES, backoff: float | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.root = base_url.rstrip("/")
        self.account_sid = account_sid
        self.retries = retries
        self.backoff = conf.client_backoff() if backoff is None else backoff
        self.http = httpx.Client(timeout=httpx.Timeout(timeout, connect=connect_timeout), transport=transport,
                                 auth=(account_sid, auth_token),
                                 headers={"User-Agent": "Centralita-SMS/1.0", "Accept": "application/json"})

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    @property
    def messages_url(self) -> str:
        return f"{self.root}/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError as exc:
            raise SmsError(None, f"HTTP {response.status_code}: not JSON", response.status_code) from exc
        if not isinstance(payload, dict):
            raise SmsError(None, "unexpected answer", response.status_code)
        return payload

    def _get(self, url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        last: SmsError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(backoff_seconds(attempt, base=self.backoff))
            try:
                response = self.http.get(url, params=params)
            except httpx.HTTPError as exc:
                last = SmsUnavailable(None, f"{type(exc).__name__}: {exc}".strip(": "))
                continue
            if response.status_code < 400:
                return self._json(response)
            error = _error_from(response)
            if isinstance(error, SmsRateLimited) or not error.retryable:
                raise error
            last = error
            logger.info("twilio GET %s: %s (attempt %d)", url, error.text, attempt + 1)
        assert last is not None
        raise last

    # --- endpoints ---------------------------------------------------------------------------------------

    def send(self, *, to: str, body: str, from_: str | None = None, messaging_service_sid: str | None = None,
             status_callback: str | None = None) -> SentSms:
        """POST Messages.json. Exactly one of `from_` and `messaging_service_sid` names the sender."""
        if bool(from_) == bool(messaging_service_sid):
            raise ValueError("give exactly one of from_ and messaging_service_sid")
        data = {"To": to, "Body": body}
        if from_:
            data["From"] = from_
        if messaging_service_sid:
            data["MessagingServiceSid"] = messaging_service_sid
        if status_callback:
            data["StatusCallback"] = status_callback
        for attempt in range(2):  # one more try only when the first never reached Twilio
            try:
                response = self.http.post(self.messages_url, data=data)
                break
            except httpx.ConnectError as exc:
                if attempt:
                    raise SmsUnavailable(None, f"ConnectError: {exc}") from exc
                time.sleep(backoff_seconds(1, base=self.backoff))
            except httpx.HTTPError as exc:  # sent, or partly: Twilio may have taken it
                raise SmsUnavailable(None, f"{type(exc).__name__}: {exc}".strip(": "),
                                     unknown_outcome=True) from exc
        if response.status_code >= 400:
            error = _error_from(response)
            if type(error) is SmsUnavailable:  # a 5xx after the POST arrived: Twilio may have stored it anyway
                error.unknown_outcome = True
            raise error
        payload = self._json(response)
        sid = str(payload.get("sid") or "")
        if not sid:
            raise SmsError(None, "the send answer carries no sid", response.status_code)
        return SentSms(sid=sid, status=str(payload.get("status") or "queued"),
                       num_segments=_int(payload.get("num_segments"), 1), price=_decimal(payload.get("price")))

    def list_messages(self, *, to: str, date_sent_after: datetime, page_size: int = 50) -> list[dict[str, Any]]:
        """Messages to `to` sent on or after `date_sent_after` (Twilio's `DateSent>` filter), newest first,
        following `next_page_uri` (at most MAX_LIST_PAGES pages)."""
        when = date_sent_after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        url: str | None = self.messages_url
        params: dict[str, Any] | None = {"To": to, "DateSent>": when, "PageSize": page_size}
        found: list[dict[str, Any]] = []
        for _page in range(MAX_LIST_PAGES):
            if url is None:
                break
            data = self._get(url, params)
            found += [m for m in data.get("messages") or [] if isinstance(m, dict)]
            following = data.get("next_page_uri")
            url, params = (f"{self.root}{following}" if following else None), None  # next_page_uri keeps the query
        return found

    def check_credentials(self) -> None:
        """A GET of the account's Messages list (one row): raises SmsError (20003) when Twilio refuses the
        account SID and auth token."""
        self._get(self.messages_url, {"PageSize": 1})


def client_for(account: SmsAccount, **kwargs: Any) -> SmsClient:
    return SmsClient(account.base_url, account.account_sid, account.auth_token, **kwargs)


def post_signed_form(url: str, params: list[tuple[str, str]], signature: str) -> int:
    """POSTs a form signed like Twilio signs it (the admin page's "Simular SMS entrante" uses it to reach our own
    endpoint, so the demo goes through the real signature check and intake). Returns the HTTP status."""
    response = httpx.post(url, data=dict(params), timeout=httpx.Timeout(10.0, connect=CONNECT_TIMEOUT),
                          headers={"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"})
    return response.status_code
