"""Fake Twilio Programmable Messaging (SMS) server: the REST API, signed status callbacks and inbound messages.

It speaks the wire contract in ``/work/shared/contracts/sms.md`` (Twilio's Message resource, API 2010-04-01):

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP Basic auth ``AccountSid:AuthToken`` (401 with
  Twilio's 20003 otherwise) and a form-encoded body: ``To`` (E.164), ``From`` or ``MessagingServiceSid``, ``Body``
  (1,600 characters at most), optional ``StatusCallback``. Answers ``201`` with the Message resource: ``sid``
  ("SM" + 32 hex), ``status`` ``queued`` (``accepted`` through a messaging service), ``num_segments`` (a string, as
  Twilio sends it) computed with GSM 03.38's rules, ``price`` null, ``date_created`` in RFC 2822.
* Twilio's error JSON ``{"code", "message", "more_info", "status"}``: 21211 invalid ``To``, 21610 an opted-out
  recipient (STOP), 21602/21603/21604/21617 missing or too long fields, any other code on demand (``fail_next``).
* A per-second rate limit (``rate_per_second``): beyond it, ``429`` with code 20429 and ``Retry-After``.
* ``GET …/Messages.json`` lists the messages (newest first) with the ``To``, ``From``, ``DateSent``, ``DateSent<``
  and ``DateSent>`` filters and Twilio's paging fields (``page``, ``page_size``, ``next_page_uri``…);
  ``GET …/Messages/{Sid}.json`` fetches one.
* Status callbacks to each message's ``StatusCallback``: form-encoded ``MessageSid``, ``MessageStatus``, ``ErrorCode``
  (failed/undelivered), ``To``, ``From``, ``AccountSid``…, signed ``X-Twilio-Signature`` exactly as Twilio signs
  (HMAC-SHA1 of the URL plus the sorted parameters, base64). The sequence (``auto_status``, default sent→delivered)
  can be reversed or shuffled (out of order), duplicated (Twilio retries), and end in ``failed``/``undelivered``
  with 30003 for some numbers (``unreachable``) or the next sends (``fail_delivery_next``). ``callback_mode``
  "timer" POSTs them from a background thread after ``status_delay`` seconds each (the demo); "manual" keeps them
  until the test takes them (``take_callbacks``: no thread, no waiting) or POSTs them (``deliver_callbacks``).
* Inbound messages: :meth:`FakeTwilio.customer_writes` POSTs a signed inbound message (``MessageSid``, ``From``,
  ``To``, ``Body``, ``NumSegments``…) to ``webhook_url``; :meth:`FakeTwilio.inbound_request` builds it unsent.
* A control API under ``/_fake/`` (no auth, plain JSON) for tests and the demo: ``health``, ``state``, ``log``,
  ``reset``, ``inbound``, ``faults``, ``config``, ``opt_out``, ``status``, ``callbacks``.

Standard library only and no Django, so it also runs as its own process::

    python -m fakes.sms --port 8013 --account-sid AC… --auth-token TOKEN \\
        --webhook-url http://127.0.0.1:8000/integrations/sms/1/inbound/

In tests::

    with FakeTwilioServer(account_sid=SID, auth_token="tok", callback_mode="manual") as ft:
        ft.base_url; ft.state.take_callbacks(); ft.state.inbound_request("+573001234567", "Hola")
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import email.utils
import functools
import hashlib
import hmac
import http.client
import random
import re
import secrets
import sys
import threading
import time
import traceback
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fakes.server import FakeHandler, FakeHTTPServer, LoopbackServer, Request, Response, json_response

JSONDict = dict[str, Any]
Params = list[tuple[str, str]]

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "c0ffee" * 5 + "00"  # 34 characters, like Twilio's
DEFAULT_AUTH_TOKEN = "fake-twilio-auth-token"  # noqa: S105 - the fake's public demo token
DEFAULT_FROM = "+15005550006"  # Twilio's magic "valid sender" test number
LOG_LIMIT = 5000
BODY_LIMIT = 1600
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
ERROR_HREF = "https://www.twilio.com/docs/errors/"
FINAL = frozenset({"delivered", "undelivered", "failed", "read"})

# Twilio's texts for the codes this fake answers (twilio.com/docs/errors/<code>).
ERRORS: dict[int, str] = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    21211: "The 'To' number is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21606: ("The 'From' phone number provided is not a valid message-capable Twilio phone number for this "
            "destination/account"),
    21610: "Attempt to send to unsubscribed recipient",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
}

# --------------------------------------------------------------------------------------------------------------
# Segments (GSM 03.38) and signatures: written here again on purpose, so that the tests comparing this fake with
# connectors.sms.segments / connectors.sms.signing catch a mistake in either.
# --------------------------------------------------------------------------------------------------------------

GSM_BASIC = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
                      "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENDED = frozenset("\f^{}\\[~]|€")


def num_segments(body: str) -> int:
    """SMS parts Twilio bills for `body`: GSM-7 160/153 septets (extension characters take 2), otherwise UCS-2
    70/67 UTF-16 units (astral characters take 2); a two-unit character is never split across parts."""
    if all(c in GSM_BASIC or c in GSM_EXTENDED for c in body):
        units, single, part = [2 if c in GSM_EXTENDED else 1 for c in body], 160, 153
    else:
        units, single, part = [2 if ord(c) > 0xFFFF else 1 for c in body], 70, 67
    if sum(units) <= single:
        return 1 if units else 0
    parts, used = 1, 0
    for size in units:
        if used + size > part:
            parts, used = parts + 1, 0
        used += size
    return parts


def sign(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """X-Twilio-Signature: base64(HMAC-SHA1(token, url + name+value of each parameter, sorted by name))."""
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def new_sid(prefix: str = "SM") -> str:
    return prefix + secrets.token_hex(16)


def rfc2822(when: float) -> str:
    return email.utils.format_datetime(datetime.fromtimestamp(when, UTC))


def post_form(url: str, params: Params, *, auth_token: str | None, signature: str | None = None,
              timeout: float = 10.0) -> tuple[int, bytes]:
    """POSTs `params` form-encoded to `url`, signed with `auth_token` (`signature` overrides, e.g. a wrong one; a
    token of None sends no signature). Returns (status, body)."""
    parts = urllib.parse.urlsplit(url)
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "TwilioProxy/1.1"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    elif auth_token is not None:
        headers["X-Twilio-Signature"] = sign(auth_token, url, params)
    try:
        conn.request("POST", parts.path + (f"?{parts.query}" if parts.query else ""),
                     body=urllib.parse.urlencode(params).encode(), headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------------------------


def twilio_error(code: int, *, status: int = 400, message: str | None = None,
                 headers: dict[str, str] | None = None) -> Response:
    """Twilio's error body: {"code", "message", "more_info", "status"}."""
    return json_response(status, {"code": code, "message": message or ERRORS.get(code, "Error"),
                                  "more_info": f"{ERROR_HREF}{code}", "status": status}, headers)


@dataclass
class Fault:
    """The next `remaining` API requests (matching `method`) get `status`, with Twilio's error `code` when given
    (a 429 carries `retry_after` seconds in Retry-After). `after_accept`: the request is processed first (a send
    is stored and its callbacks scheduled) and only its answer is replaced — the answer a client lost."""

    status: int
    code: int | None = None
    remaining: int = 1
    method: str | None = None
    message: str | None = None
    retry_after: float | None = None
    after_accept: bool = False


@dataclass
class Callback:
    """One status callback as Twilio would POST it: `headers` carry the signature over `url` and `params`."""

    url: str
    params: Params
    headers: dict[str, str]

    @property
    def body(self) -> bytes:
        return urllib.parse.urlencode(self.params).encode()

    @property
    def fields(self) -> dict[str, str]:
        return dict(self.params)


class FakeTwilio:
    """The fake's state; thread-safe (the HTTP server is threaded)."""

    def __init__(self, account_sid: str = DEFAULT_ACCOUNT_SID, auth_token: str = DEFAULT_AUTH_TOKEN, *,
                 phone_number: str = DEFAULT_FROM, webhook_url: str | None = None, rate_per_second: int = 0,
                 auto_status: Sequence[str] = ("sent", "delivered"), status_order: str = "in_order",
                 status_delay: float = 0.5, duplicate_statuses: bool = False, callback_mode: str = "timer",
                 failure_status: str = "failed", failure_code: int = 30003) -> None:
        self.lock = threading.RLock()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.phone_number = phone_number
        self.webhook_url = webhook_url
        self.rate_per_second = rate_per_second
        self.auto_status = list(auto_status)
        self.status_order = status_order  # "in_order", "reverse" or "shuffle"
        self.status_delay = status_delay
        self.duplicate_statuses = duplicate_statuses
        self.callback_mode = callback_mode  # "timer" (POSTed by a thread) or "manual" (kept for take_callbacks)
        self.failure_status = failure_status
        self.failure_code = failure_code
        self.opted_out: set[str] = set()
        self.unreachable: set[str] = set()
        self.fail_delivery_remaining = 0
        self.messages: list[JSONDict] = []  # Message resources, oldest first (the list answers newest first)
        self.callbacks: list[JSONDict] = []  # what this fake POSTed (or handed over): url, params, status
        self.pending: list[Callback] = []  # manual mode: callbacks not yet taken
        self.faults: list[Fault] = []
        self._window: tuple[int, int] = (0, 0)  # (second, sends in it) for the rate limit
        self._requests: deque[JSONDict] = deque(maxlen=LOG_LIMIT)
        self._timers: list[threading.Timer] = []
        self._rng = random.Random(7)  # noqa: S311 - a reproducible "out of order", not security

    # -- configuration ----------------------------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, status: int = 400, code: int | None = None, method: str | None = "POST",
                  message: str | None = None, retry_after: float | None = None, after_accept: bool = False) -> None:
        """The next `count` API requests answer `status` (Twilio error `code`); a 429 sends Retry-After;
        `after_accept` processes the request first (Twilio took the message, the answer says otherwise)."""
        with self.lock:
            self.faults.append(Fault(status, code, count, method, message, retry_after, after_accept))

    def fail_delivery_next(self, count: int = 1) -> None:
        """The next `count` sends are accepted, then reported `failure_status` with `failure_code` (30003)."""
        with self.lock:
            self.fail_delivery_remaining += count

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()
            self.fail_delivery_remaining = 0

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.callbacks.clear()
            self.pending.clear()
            self.faults.clear()
            self.opted_out.clear()
            self.unreachable.clear()
            self.fail_delivery_remaining = 0
            self._window = (0, 0)
            self._requests.clear()

    def configure(self, values: JSONDict) -> None:
        with self.lock:
            for key in ("webhook_url", "rate_per_second", "status_order", "status_delay", "duplicate_statuses",
                        "callback_mode", "failure_status", "failure_code", "phone_number"):
                if key in values:
                    setattr(self, key, values[key])
            if "auto_status" in values:
                self.auto_status = list(values["auto_status"] or [])

    # -- the edge ---------------------------------------------------------------------------------------------

    def authorized(self, header: str | None, path_sid: str) -> bool:
        scheme, _space, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _colon, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (hmac.compare_digest(user.encode(), self.account_sid.encode()) and path_sid == self.account_sid
                and hmac.compare_digest(password.encode(), self.auth_token.encode()))

    def take_fault(self, method: str, *, after_accept: bool) -> Fault | None:
        with self.lock:
            fault = next((f for f in self.faults if f.remaining > 0 and f.method in (None, method)
                          and f.after_accept == after_accept), None)
            if fault is not None:
                fault.remaining -= 1
                self.faults = [f for f in self.faults if f.remaining > 0]
        return fault

    def gate(self, method: str, *, after_accept: bool = False) -> Response | None:
        fault = self.take_fault(method, after_accept=after_accept)
        if fault is None:
            return None
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
        if fault.code is not None:
            return twilio_error(fault.code, status=fault.status, message=fault.message, headers=headers)
        return json_response(fault.status, {"code": None, "message": fault.message or "Service unavailable",
                                            "status": fault.status}, headers)

    def rate_limited(self) -> Response | None:
        """At most `rate_per_second` sends in one wall-clock second (0: no limit), like an account's queue limit."""
        if not self.rate_per_second:
            return None
        second = int(time.time())
        with self.lock:
            window, used = self._window
            used = used + 1 if window == second else 1
            self._window = (second, used)
        if used <= self.rate_per_second:
            return None
        return twilio_error(20429, status=429, headers={"Retry-After": "1"})

    def log_request(self, entry: JSONDict) -> None:
        with self.lock:
            self._requests.append(entry)

    @property
    def requests(self) -> list[JSONDict]:
        with self.lock:
            return copy.deepcopy(list(self._requests))

    @property
    def sent(self) -> list[JSONDict]:
        """Outbound messages, oldest first."""
        with self.lock:
            return [copy.deepcopy(m) for m in self.messages if m["direction"] == "outbound-api"]

    # -- the API ----------------------------------------------------------------------------------------------

    def resource(self, message: JSONDict) -> JSONDict:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message['sid']}"
        public = {k: v for k, v in message.items() if not k.startswith("_")}
        return {**public, "uri": f"{uri}.json", "subresource_uris": {"media": f"{uri}/Media.json"}}

    def send(self, params: dict[str, list[str]]) -> Response:  # noqa: PLR0911 - one answer per check
        def one(name: str) -> str:
            return (params.get(name) or [""])[0]

        to, sender, service, body = one("To").strip(), one("From").strip(), one("MessagingServiceSid"), one("Body")
        if not to:
            return twilio_error(21604)
        if not sender and not service:
            return twilio_error(21603)
        if not body and not params.get("MediaUrl"):
            return twilio_error(21602)
        if not E164.match(to):
            return twilio_error(21211, message=f"The 'To' number {to} is not a valid phone number.")
        if sender and not E164.match(sender):
            return twilio_error(21606)
        if len(body) > BODY_LIMIT:
            return twilio_error(21617)
        with self.lock:
            if to in self.opted_out:
                return twilio_error(21610)
            fail = to in self.unreachable or self.fail_delivery_remaining > 0
            if self.fail_delivery_remaining > 0:
                self.fail_delivery_remaining -= 1
        now = time.time()
        message: JSONDict = {
            "account_sid": self.account_sid, "api_version": API_VERSION, "body": body, "date_created": rfc2822(now),
            "date_sent": rfc2822(now), "date_updated": rfc2822(now), "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": sender or self.phone_number,
            "messaging_service_sid": service or None, "num_media": "0", "num_segments": str(num_segments(body)),
            "price": None, "price_unit": "USD", "sid": new_sid("SM"), "status": "accepted" if service else "queued",
            "to": to, "_created": now, "_status_callback": one("StatusCallback"),
        }
        with self.lock:
            self.messages.append(message)
            answer = self.resource(message)
        callback = one("StatusCallback")
        if callback:
            sequence = list(self.auto_status)
            if fail:  # "failed" never left Twilio (no "sent" before it); "undelivered" reached a carrier first
                dropped = FINAL | ({"sent"} if self.failure_status == "failed" else set())
                sequence = [s for s in sequence if s not in dropped] + [self.failure_status]
            self.schedule_statuses(message["sid"], sequence, url=callback)
        return json_response(201, answer)

    def list_messages(self, query: dict[str, str]) -> Response:
        """Newest first; To/From exact; DateSent (one UTC day), DateSent< / DateSent> (on or before / after: a date
        or an ISO 8601 time); PageSize (≤ 1000, default 50), Page and PageToken."""
        with self.lock:
            rows = list(reversed(self.messages))
        for name in ("To", "From"):
            if query.get(name):
                rows = [m for m in rows if m[name.lower()] == query[name]]
        try:
            for name, keep in (("DateSent", _same_day), ("DateSent<", _on_or_before), ("DateSent>", _on_or_after)):
                if query.get(name):
                    bound = _parse_when(query[name])
                    rows = [m for m in rows if keep(m["_created"], bound, query[name])]
            size = max(1, min(int(query.get("PageSize") or 50), 1000))
            page = max(0, int(query.get("Page") or 0))
        except ValueError:
            return twilio_error(20001, message="Invalid query parameter", status=400)
        start = page * size
        chunk = rows[start:start + size]
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

        def page_uri(number: int) -> str:
            kept = {k: v for k, v in query.items() if k not in ("Page", "PageToken", "PageSize")}
            return f"{base}?{urllib.parse.urlencode({**kept, 'PageSize': size, 'Page': number})}"

        with self.lock:
            items = [self.resource(m) for m in chunk]
        return json_response(200, {
            "messages": items, "page": page, "page_size": size, "start": start,
            "end": start + max(len(chunk) - 1, 0), "uri": page_uri(page), "first_page_uri": page_uri(0),
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "next_page_uri": page_uri(page + 1) if start + size < len(rows) else None})

    def fetch(self, sid: str) -> Response:
        with self.lock:
            found = next((m for m in self.messages if m["sid"] == sid), None)
            if found is None:
                return twilio_error(20404, status=404)
            return json_response(200, self.resource(found))

    # -- status callbacks ----------------------------------------------------------------------------------------

    def _set_status(self, sid: str, status: str, error_code: int | None) -> JSONDict | None:
        with self.lock:
            message = next((m for m in self.messages if m["sid"] == sid), None)
            if message is None:
                return None
            message["status"], message["date_updated"] = status, rfc2822(time.time())
            if error_code is not None:
                message["error_code"], message["error_message"] = error_code, ERRORS.get(error_code)
            return dict(message)

    def callback_for(self, message: JSONDict, status: str, url: str, error_code: int | None = None) -> Callback:
        params: Params = [("AccountSid", self.account_sid), ("ApiVersion", API_VERSION), ("From", message["from"]),
                          ("MessageSid", message["sid"]), ("MessageStatus", status), ("SmsSid", message["sid"]),
                          ("SmsStatus", status), ("To", message["to"])]
        if message.get("messaging_service_sid"):
            params.append(("MessagingServiceSid", message["messaging_service_sid"]))
        if error_code is not None:
            params.append(("ErrorCode", str(error_code)))
        return Callback(url, params, {"X-Twilio-Signature": sign(self.auth_token, url, params),
                                      "Content-Type": "application/x-www-form-urlencoded"})

    def schedule_statuses(self, sid: str, sequence: Sequence[str], *, url: str,
                          error_code: int | None = None) -> list[Callback]:
        """The callbacks for one message, in the configured order (and duplicated if configured). The message's
        own status ends as the last of `sequence` (what Twilio's API would say), whatever order they arrive in."""
        with self.lock:
            message = next((m for m in self.messages if m["sid"] == sid), None)
        if message is None or not sequence:
            return []
        codes = [error_code or (self.failure_code if s in ("failed", "undelivered") else None) for s in sequence]
        final = self._set_status(sid, sequence[-1], codes[-1]) or message
        items = [self.callback_for(final, s, url, c) for s, c in zip(sequence, codes, strict=True)]
        if self.status_order == "reverse":
            items.reverse()
        elif self.status_order == "shuffle":
            with self.lock:
                self._rng.shuffle(items)
        if self.duplicate_statuses:
            items = [x for item in items for x in (item, item)]
        if self.callback_mode == "manual":
            with self.lock:
                self.pending.extend(items)
        else:
            for position, item in enumerate(items, start=1):
                self._later(self.status_delay * position, functools.partial(self._post_callback, item))
        return items

    def take_callbacks(self) -> list[Callback]:
        """Manual mode: the callbacks not yet taken, in the order Twilio would POST them."""
        with self.lock:
            taken, self.pending = self.pending, []
            for item in taken:
                self.callbacks.append({"url": item.url, "params": item.fields, "status": None})
        return taken

    def deliver_callbacks(self) -> list[int]:
        """Manual mode: POSTs the pending callbacks now, in order; returns the answers' statuses."""
        return [self._post_callback(item) for item in self.take_callbacks()]

    def _post_callback(self, item: Callback) -> int:
        record: JSONDict = {"url": item.url, "params": item.fields, "status": None}
        with self.lock:
            self.callbacks.append(record)
        try:
            status, _answer = post_form(item.url, item.params, auth_token=None,
                                        signature=item.headers["X-Twilio-Signature"])
        except OSError:
            status = 0
        record["status"] = status
        return status

    def _later(self, delay: float, action: Callable[[], Any]) -> None:
        def run() -> None:
            try:
                action()
            except Exception:  # a background callback must never kill the fake
                traceback.print_exc()

        timer = threading.Timer(delay, run)
        timer.daemon = True
        with self.lock:
            self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()

    def close(self) -> None:
        with self.lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()

    # -- customers writing ----------------------------------------------------------------------------------------

    def inbound_request(self, from_: str, body: str, *, to: str | None = None, url: str | None = None,
                        sid: str | None = None, extra: dict[str, str] | None = None) -> Callback:
        """The signed POST Twilio makes when a customer texts our number (not sent; the message is stored here)."""
        target = url or self.webhook_url
        if not target:
            raise RuntimeError("no webhook_url configured")
        now = time.time()
        message: JSONDict = {
            "account_sid": self.account_sid, "api_version": API_VERSION, "body": body, "date_created": rfc2822(now),
            "date_sent": rfc2822(now), "date_updated": rfc2822(now), "direction": "inbound", "error_code": None,
            "error_message": None, "from": from_, "messaging_service_sid": None, "num_media": "0",
            "num_segments": str(max(num_segments(body), 1)), "price": None, "price_unit": "USD",
            "sid": sid or new_sid("SM"), "status": "received", "to": to or self.phone_number, "_created": now,
            "_status_callback": ""}
        with self.lock:
            self.messages.append(message)
        params: Params = [("AccountSid", self.account_sid), ("ApiVersion", API_VERSION), ("Body", body),
                          ("From", from_), ("FromCountry", "CO" if from_.startswith("+57") else ""),
                          ("MessageSid", message["sid"]), ("NumMedia", "0"), ("NumSegments", message["num_segments"]),
                          ("SmsMessageSid", message["sid"]), ("SmsSid", message["sid"]), ("SmsStatus", "received"),
                          ("To", message["to"]), *(extra or {}).items()]
        return Callback(target, params, {"X-Twilio-Signature": sign(self.auth_token, target, params),
                                         "Content-Type": "application/x-www-form-urlencoded"})

    def customer_writes(self, from_: str, body: str, *, to: str | None = None, times: int = 1,
                        url: str | None = None) -> tuple[int, dict[str, str]]:
        """A customer texts our number: the signed webhook is POSTed (`times` > 1 redelivers it, as Twilio's
        retries do). Returns (last HTTP status, the parameters)."""
        request = self.inbound_request(from_, body, to=to, url=url)
        status = 0
        for _ in range(times):
            status, _answer = post_form(request.url, request.params, auth_token=None,
                                        signature=request.headers["X-Twilio-Signature"])
        with self.lock:
            self.callbacks.append({"url": request.url, "params": request.fields, "status": status})
        return status, request.fields

    def snapshot(self) -> JSONDict:
        with self.lock:
            return {"account_sid": self.account_sid, "phone_number": self.phone_number,
                    "messages": [self.resource(m) for m in self.messages], "callbacks": copy.deepcopy(self.callbacks),
                    "pending_callbacks": len(self.pending), "faults": len(self.faults),
                    "opted_out": sorted(self.opted_out), "unreachable": sorted(self.unreachable),
                    "rate_per_second": self.rate_per_second, "auto_status": list(self.auto_status),
                    "status_order": self.status_order, "callback_mode": self.callback_mode}


def _parse_when(text: str) -> datetime:
    """A date (YYYY-MM-DD, that day's midnight UTC) or an ISO 8601 time."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _same_day(created: float, bound: datetime, raw: str) -> bool:
    return datetime.fromtimestamp(created, UTC).date() == bound.date()


def _on_or_before(created: float, bound: datetime, raw: str) -> bool:
    if len(raw.strip()) == 10:  # a date: "on or before midnight" of that day, as Twilio documents
        return datetime.fromtimestamp(created, UTC).date() <= bound.date()
    return created <= bound.timestamp()


def _on_or_after(created: float, bound: datetime, raw: str) -> bool:
    return created >= bound.timestamp()


# --------------------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------------------


MESSAGES = re.compile(rf"^/{API_VERSION}/Accounts/([^/]+)/Messages(?:/([^/]+))?\.json$")


class _Api:
    def __init__(self, fake: FakeTwilio) -> None:
        self.fake = fake

    def handle(self, req: Request) -> Response:
        fake = self.fake
        match = MESSAGES.match(req.path)
        if match is None:
            return twilio_error(20404, status=404)
        account_sid, message_sid = match.groups()
        if not fake.authorized(req.headers.get("Authorization"), account_sid):
            return json_response(401, {"code": 20003, "message": "Authenticate",
                                       "more_info": f"{ERROR_HREF}20003", "status": 401},
                                 {"WWW-Authenticate": 'Basic realm="Twilio API"'})
        if message_sid and req.method == "GET":
            return fake.fetch(message_sid)
        if message_sid is None and req.method == "GET":
            return fake.list_messages(req.query)
        if message_sid is None and req.method == "POST":
            return fake.rate_limited() or fake.send(req.form())
        return twilio_error(20004, status=405, message="Method not allowed")


class _ControlApi:
    """``/_fake/…``: plain JSON, no auth. Tests and the demo drive the fake through it."""

    def __init__(self, fake: FakeTwilio) -> None:
        self.fake = fake

    def handle(self, req: Request) -> Response:  # noqa: PLR0911 - a router
        fake = self.fake
        route = (req.method, req.path.rstrip("/"))
        if route == ("GET", "/_fake/health"):
            return json_response(200, {"ok": True})
        if route == ("GET", "/_fake/state"):
            return json_response(200, fake.snapshot())
        if route == ("GET", "/_fake/log"):
            return json_response(200, {"requests": fake.requests})
        if route == ("POST", "/_fake/reset"):
            fake.reset()
            return json_response(200, {"ok": True})
        body: JSONDict = req.json() if req.method == "POST" else {}
        if route == ("POST", "/_fake/inbound"):
            status, params = fake.customer_writes(str(body.get("from") or "+573001234567"),
                                                  str(body.get("body") or "Hola"), to=body.get("to"),
                                                  times=int(body.get("times") or 1), url=body.get("url"))
            return json_response(200, {"status": status, "params": params})
        if route == ("POST", "/_fake/faults"):
            fake.fail_next(int(body.get("count") or 1), status=int(body.get("status") or 400), code=body.get("code"),
                           method=body.get("method", "POST"), message=body.get("message"),
                           retry_after=body.get("retry_after"), after_accept=bool(body.get("after_accept")))
            return json_response(200, {"faults": len(fake.faults)})
        if route == ("DELETE", "/_fake/faults"):
            fake.clear_faults()
            return json_response(200, {"faults": 0})
        if route == ("POST", "/_fake/fail_delivery"):
            fake.fail_delivery_next(int(body.get("count") or 1))
            return json_response(200, {"ok": True})
        if route == ("POST", "/_fake/opt_out"):
            with fake.lock:
                fake.opted_out.add(str(body.get("number") or ""))
            return json_response(200, {"opted_out": sorted(fake.opted_out)})
        if route == ("POST", "/_fake/status"):
            items = fake.schedule_statuses(str(body.get("sid") or ""), [str(body.get("status") or "delivered")],
                                           url=str(body.get("url") or ""), error_code=body.get("error_code"))
            return json_response(200 if items else 404, {"callbacks": len(items)})
        if route == ("POST", "/_fake/callbacks"):
            return json_response(200, {"statuses": fake.deliver_callbacks()})
        if route == ("POST", "/_fake/config"):
            fake.configure(body)
            return json_response(200, {"ok": True})
        return json_response(404, {"error": "unknown control route"})


class _Handler(FakeHandler[FakeTwilio, Request]):
    server_version = "fake-twilio"

    def build_request(self, path: str, query: str, body: bytes) -> Request:
        return Request(self.command, path, dict(urllib.parse.parse_qsl(query, keep_blank_values=True)), body,
                       self.headers)

    def serve_api(self, req: Request) -> Response:
        fake = self.fake
        started = time.time()
        response = fake.gate(req.method) or self.route_api(req)
        response = fake.gate(req.method, after_accept=True) or response
        form = {k: v[0] for k, v in req.form().items()} if req.method == "POST" else None
        fake.log_request({"method": req.method, "path": req.path, "query": req.query, "status": response.status,
                          "authorization": self.headers.get("Authorization") or "", "form": form,
                          "timestamp": started})
        return response

    def rejected(self, exc: Exception) -> Response | None:
        return twilio_error(20001, message=str(exc)) if isinstance(exc, ValueError) else None

    def crashed(self) -> Response:
        return json_response(500, {"code": 20500, "message": "Internal Server Error", "status": 500})


class FakeTwilioServer(LoopbackServer):
    """The fake on a loopback port in a daemon thread; a context manager.

    ``with FakeTwilioServer(account_sid=…, auth_token=…) as ft:`` → ``ft.base_url``, ``ft.state``. Extra keyword
    arguments go to :class:`FakeTwilio` (``callback_mode``, ``auto_status``, ``webhook_url``, ``rate_per_second``…).
    """

    name = "fake-sms"

    def __init__(self, account_sid: str = DEFAULT_ACCOUNT_SID, auth_token: str = DEFAULT_AUTH_TOKEN, *,
                 host: str = "127.0.0.1", port: int = 0, state: FakeTwilio | None = None, verbose: bool = False,
                 **options: Any) -> None:
        self.state = state if state is not None else FakeTwilio(account_sid, auth_token, **options)
        super().__init__(host=host, port=port, verbose=verbose)

    def make_httpd(self) -> FakeHTTPServer[FakeTwilio, Request]:
        return FakeHTTPServer((self.host, self.port), _Handler, self.state, api=_Api(self.state),
                              control=_ControlApi(self.state), verbose=self.verbose)


# --------------------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fakes.sms",
                                     description="Fake Twilio Programmable Messaging (SMS) server")
    sub = parser.add_subparsers(dest="command")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8013)
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN, help="Basic auth password; signs callbacks")
    parser.add_argument("--phone-number", default=DEFAULT_FROM, help="the account's number (inbound To)")
    parser.add_argument("--webhook-url", default=None, help="where inbound messages are POSTed (the app's webhook)")
    parser.add_argument("--rate-per-second", type=int, default=0, help="sends per second before 429 (0: no limit)")
    parser.add_argument("--auto-status", default="sent,delivered", help="status callbacks after each send")
    parser.add_argument("--status-order", choices=["in_order", "reverse", "shuffle"], default="in_order")
    parser.add_argument("--status-delay", type=float, default=1.0, help="seconds between status callbacks")
    parser.add_argument("--verbose", action="store_true")
    customer = sub.add_parser("customer", help="sign and POST one inbound SMS, then exit")
    customer.add_argument("--webhook-url", required=True)
    customer.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    customer.add_argument("--auth-token", required=True)
    customer.add_argument("--from", dest="from_", default="+573001234567")
    customer.add_argument("--to", default=DEFAULT_FROM)
    customer.add_argument("--body", default="Hola, quiero información")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.command == "customer":
        state = FakeTwilio(args.account_sid, args.auth_token, phone_number=args.to, webhook_url=args.webhook_url)
        status, _params = state.customer_writes(args.from_, args.body)
        print(f"HTTP {status}", flush=True)
        return 0 if status in (200, 204) else 1
    state = FakeTwilio(args.account_sid, args.auth_token, phone_number=args.phone_number,
                       webhook_url=args.webhook_url, rate_per_second=args.rate_per_second,
                       auto_status=[s for s in args.auto_status.split(",") if s.strip()],
                       status_order=args.status_order, status_delay=args.status_delay)
    server = FakeTwilioServer(host=args.host, port=args.port, state=state, verbose=args.verbose)
    return server.run_until_signalled("fake sms (twilio)")


__all__ = ["DEFAULT_ACCOUNT_SID", "DEFAULT_AUTH_TOKEN", "DEFAULT_FROM", "Callback", "FakeTwilio", "FakeTwilioServer",
           "main", "new_sid", "num_segments", "post_form", "sign", "twilio_error"]


if __name__ == "__main__":
    sys.exit(main())
