"""Fake WhatsApp Business Cloud API (Meta Graph API) server, webhook emitter and fault injection.

It speaks the wire contract in ``/work/shared/contracts/whatsapp.md`` (section numbers below refer to it):

* ``GET /{ver}/{phone-number-id}``: the phone number (display number, verified name, quality rating).
* ``POST /{ver}/{phone-number-id}/messages``: text, media (by uploaded id or link), location, contacts,
  interactive, reaction and template sends answer ``{messaging_product, contacts[{input, wa_id}], messages[{id}]}``;
  mark-as-read answers ``{"success": true}``; Graph error envelopes (131030, 131047, 130429, 190, 132000/132001,
  100) on bad input or on demand, section 6.
* ``POST /{ver}/{phone-number-id}/media`` (multipart upload), ``GET /{ver}/{media-id}`` (a download URL) and the
  download itself, which needs the bearer token like Meta's lookaside URLs.
* ``GET /{ver}/{waba-id}/message_templates`` with ``limit``/``after`` cursor paging.
* The 24-hour window (section 7) per (phone number id, wa_id), kept from the inbound messages this fake emitted:
  ``window_mode`` "off" (no check), "sync" (HTTP 400 with 131047) or "async" (200, then a ``failed`` status
  webhook with 131047). Which one Meta does is [U] in the contract, so both exist.
* Interactive reply-button and list messages are checked against Meta's limits (:func:`check_interactive`) and
  refused with 131009 as Graph does.
* Webhooks (sections 2-5): every POST is signed ``X-Hub-Signature-256`` over the exact bytes sent. Customers
  "write" through :meth:`FakeWhatsapp.customer_writes` and press a button or pick a list row of an interactive
  message they were sent through :meth:`FakeWhatsapp.customer_chooses` (``/_fake/choose``); status sequences
  (sent→delivered→read, or →failed) follow each send when ``auto_status`` is set, optionally shuffled (out of
  order) and duplicated (Meta retries).
* Fault injection: scripted HTTP status / Graph code for the next N matching requests, slow answers, and held
  requests (parked until released; dropped if the client dies meanwhile) to kill a sender mid-call.
* A control API under ``/_fake/`` (no auth, plain JSON) for tests and the demo.

Standard library only and no Django, so it also runs as its own process::

    python -m fakes.whatsapp --port 8012 --token TOKEN --app-secret SECRET \\
        --webhook-url http://127.0.0.1:8000/integrations/whatsapp/webhook/106540352242922/
    python -m fakes.whatsapp customer --webhook-url … --app-secret SECRET --from 573001234567 --text "Hola"

In tests::

    with FakeWhatsappServer(token="tok", app_secret="s3cret") as fw:
        fw.state.webhook_url = live_url
        fw.state.customer_writes("573001234567", "Hola", name="Ana")
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import email.parser
import email.policy
import hashlib
import hmac
import http.client
import json
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
from typing import Any

from fakes.server import (
    FakeHandler,
    FakeHTTPServer,
    LoopbackServer,
    Request,
    RequestHolds,
    Response,
    json_response,
    peer_open,
)

JSONDict = dict[str, Any]

DEFAULT_VERSION = "v23.0"
DEFAULT_PHONE_NUMBER_ID = "106540352242922"
DEFAULT_WABA_ID = "102290129340398"
DEFAULT_DISPLAY_NUMBER = "15550783881"
DEFAULT_VERIFIED_NAME = "Centralita Demo"
WINDOW_SECONDS = 24 * 3600
LOG_LIMIT = 5000
ERROR_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
SEND_TYPES = frozenset({"text", "template", "location", "contacts", "interactive", "reaction", *MEDIA_TYPES})

# Graph error texts (contract §5-6; pywa errors.py). The exact titles are [S].
ERRORS: dict[int, tuple[str, str]] = {
    100: ("Invalid parameter", ""),
    190: ("Invalid OAuth access token - Cannot parse access token", ""),
    130429: ("Rate limit hit", "Cloud API message throughput has been reached."),
    131030: ("Recipient phone number not in allowed list",
             "Recipient phone number not in allowed list: Add recipient phone number to recipient list and try "
             "again."),
    131047: ("Re-engagement message",
             "Message failed to send because more than 24 hours have passed since the customer last replied to "
             "this number."),
    131009: ("Parameter value is not valid", ""),
    131053: ("Media upload error", "Unable to find the media with the given id."),
    132000: ("Number of parameters does not match the expected number of params",
             "body: number of localizable_params does not match the expected number of params"),
    132001: ("Template name does not exist in the translation",
             "template name does not exist in the translation"),
}

DEMO_TEMPLATES: tuple[JSONDict, ...] = (
    {"name": "seguimiento_pedido", "language": "es", "status": "APPROVED", "category": "UTILITY",
     "parameter_format": "POSITIONAL",
     "components": [{"type": "BODY", "text": "Hola {{1}}, tu pedido {{2}} está en camino. ¿Te ayudamos en algo más?",
                     "example": {"body_text": [["Ana", "1042"]]}}]},
    {"name": "retomar_conversacion", "language": "es", "status": "APPROVED", "category": "UTILITY",
     "parameter_format": "POSITIONAL",
     "components": [{"type": "HEADER", "format": "TEXT", "text": "Seguimos en contacto"},
                    {"type": "BODY", "text": "Hola {{1}}, te escribimos para retomar tu consulta. Responde a este "
                                             "mensaje y te atendemos enseguida.",
                     "example": {"body_text": [["Ana"]]}},
                    {"type": "FOOTER", "text": "Centralita"},
                    {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Continuar"}]}]},
    {"name": "recordatorio_pago", "language": "es_MX", "status": "APPROVED", "category": "UTILITY",
     "parameter_format": "POSITIONAL",
     "components": [{"type": "BODY", "text": "Hola {{1}}, te recordamos que el pago de {{2}} vence el {{3}}.",
                     "example": {"body_text": [["Ana", "$150.000", "30 de noviembre"]]}}]},
    {"name": "bienvenida", "language": "es", "status": "APPROVED", "category": "MARKETING",
     "parameter_format": "NAMED",
     "components": [{"type": "BODY", "text": "¡Hola {{first_name}}! Gracias por escribirnos. ¿En qué te ayudamos?",
                     "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"}]}}]},
    {"name": "promo_navidad", "language": "es", "status": "PENDING", "category": "MARKETING",
     "parameter_format": "POSITIONAL",
     "components": [{"type": "BODY", "text": "Hola {{1}}, ¡llegó la Navidad!", "example": {"body_text": [["Ana"]]}}]},
    {"name": "oferta_rechazada", "language": "es", "status": "REJECTED", "category": "MARKETING",
     "parameter_format": "POSITIONAL", "components": [{"type": "BODY", "text": "GANA DINERO YA"}]},
)


# --------------------------------------------------------------------------------------------------------------
# Payload builders and signing (used by the fake, by tests and by the benchmark)
# --------------------------------------------------------------------------------------------------------------


# A marketing template (campaigns): not among the demo's defaults, which the inbox's template picker lists.
PROMO_TEMPLATE: JSONDict = {
    "name": "promo_reactivacion", "language": "es", "status": "APPROVED", "category": "MARKETING",
    "components": [{"type": "BODY", "text": "Hola {{1}}, te extrañamos. Vuelve con {{2}} de descuento.",
                    "example": {"body_text": [["Ana", "20%"]]}}]}


def sign(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` header value for ``body`` (contract §2)."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def new_wamid() -> str:
    """A wamid shaped like Meta's: ``wamid.`` + base64 of a protobuf-ish blob."""
    return "wamid." + base64.b64encode(b"\x15\x02\x00\x11\x18\x12" + secrets.token_hex(12).encode()).decode()


def new_media_id() -> str:
    return str(random.randint(10**15, 10**16 - 1))  # noqa: S311 - an id, not a secret


def encode(payload: JSONDict) -> bytes:
    """Compact UTF-8 JSON, as Meta sends it (the signature covers these exact bytes)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def envelope(value: JSONDict, *, phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
             display_phone_number: str = DEFAULT_DISPLAY_NUMBER, waba_id: str = DEFAULT_WABA_ID) -> JSONDict:
    """``object → entry[] → changes[] → value`` around one value (contract §3-5)."""
    full = {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": display_phone_number, "phone_number_id": phone_number_id},
            **value}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": waba_id, "changes": [{"field": "messages", "value": full}]}]}


def message(kind: str, wa_id: str, *, wamid: str | None = None, timestamp: int | None = None,
            context: JSONDict | None = None, **content: Any) -> JSONDict:
    """One ``messages[]`` item: ``message("text", "5730…", text={"body": "Hola"})``; the key named after the
    type carries its content, e.g. ``image={"id": …, "mime_type": …, "sha256": …, "caption": …}``."""
    item: JSONDict = {"from": wa_id, "id": wamid or new_wamid(), "timestamp": str(timestamp or int(time.time())),
                      "type": kind}
    if context:
        item["context"] = context
    item.update(content)
    return item


def text_message(wa_id: str, body: str, **kwargs: Any) -> JSONDict:
    return message("text", wa_id, text={"body": body}, **kwargs)


def interactive_reply(wa_id: str, reply_id: str, title: str, *, kind: str = "button_reply", description: str = "",
                      context: JSONDict | None = None, **kwargs: Any) -> JSONDict:
    """The ``messages[]`` item of a customer pressing a reply button (``button_reply``) or picking a list row
    (``list_reply``, which may carry the row's description); ``context`` names the business message answered
    (``{"from": <display number>, "id": <its wamid>}``), as Meta sends it."""
    reply: JSONDict = {"id": reply_id, "title": title}
    if kind == "list_reply" and description:
        reply["description"] = description
    return message("interactive", wa_id, context=context, interactive={"type": kind, kind: reply}, **kwargs)


def inbound_payload(messages: Sequence[JSONDict], *, name: str = "", wa_id: str | None = None,
                    **where: str) -> JSONDict:
    """A ``messages`` webhook carrying ``messages`` from one customer (``contacts[]`` with their profile name)."""
    sender = wa_id or (messages[0]["from"] if messages else "")
    contacts = [{"profile": {"name": name}, "wa_id": sender}]
    return envelope({"contacts": contacts, "messages": list(messages)}, **where)


def status_item(wamid: str, status: str, recipient_id: str, *, timestamp: int | None = None,
                callback_data: str | None = None, error_code: int | None = None) -> JSONDict:
    """One ``statuses[]`` item (contract §5); ``failed`` carries ``errors[]``; ``read``/``failed`` omit pricing."""
    item: JSONDict = {"id": wamid, "status": status, "timestamp": str(timestamp or int(time.time())),
                      "recipient_id": recipient_id}
    if callback_data:
        item["biz_opaque_callback_data"] = callback_data
    if status in ("sent", "delivered"):
        item["conversation"] = {"id": secrets.token_hex(16), "expiration_timestamp": str(int(time.time()) + 86400),
                                "origin": {"type": "service"}}
        item["pricing"] = {"billable": True, "pricing_model": "PMP", "type": "free_customer_service",
                           "category": "service"}
    if status == "failed":
        code = error_code or 131047
        title, details = ERRORS.get(code, ("Message undeliverable", ""))
        item["errors"] = [{"code": code, "title": title, "message": title, "error_data": {"details": details},
                           "href": ERROR_HREF}]
    return item


def status_payload(statuses: Sequence[JSONDict], **where: str) -> JSONDict:
    return envelope({"statuses": list(statuses)}, **where)


def post_webhook(url: str, body: bytes, app_secret: str | None, *, signature: str | None = None,
                 timeout: float = 10.0) -> tuple[int, bytes]:
    """POSTs ``body`` to ``url`` signed with ``app_secret`` (``signature`` overrides, e.g. a wrong one; an app
    secret of None sends no signature header). Returns (status, response body)."""
    parts = urllib.parse.urlsplit(url)
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    elif app_secret is not None:
        headers["X-Hub-Signature-256"] = sign(body, app_secret)
    try:
        conn.request("POST", parts.path + (f"?{parts.query}" if parts.query else ""), body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------------------------


def graph_error(code: int, *, status: int = 400, message: str | None = None, details: str | None = None) -> Response:
    """Meta's error envelope (contract §6)."""
    title, default_details = ERRORS.get(code, ("Error", ""))
    error: JSONDict = {"message": message or f"(#{code}) {title}", "type": "OAuthException", "code": code,
                       "fbtrace_id": secrets.token_urlsafe(16)}
    if details or default_details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details or default_details}
    return json_response(status, {"error": error})


@dataclass
class Number:
    phone_number_id: str
    waba_id: str
    display_phone_number: str
    verified_name: str
    quality_rating: str = "GREEN"


@dataclass
class Fault:
    """The next ``remaining`` requests whose path contains ``path`` (and method matches) get ``status`` (with a Graph
    ``code`` envelope when given) after ``delay`` seconds; ``status`` None = only the delay."""

    status: int | None
    remaining: int = 1
    code: int | None = None
    path: str = ""
    method: str | None = None
    delay: float = 0.0
    message: str | None = None


class FakeWhatsapp:
    """The fake's state; thread-safe (the HTTP server is threaded)."""

    def __init__(self, token: str = "fake-whatsapp-token", app_secret: str = "fake-app-secret", *,  # noqa: S107
                 numbers: Iterable[Number] | None = None, webhook_url: str | None = None,
                 version: str = DEFAULT_VERSION, window_mode: str = "off", auto_status: Sequence[str] = (),
                 status_delay: float = 0.2, shuffle_statuses: bool = False, duplicate_statuses: bool = False,
                 templates: Iterable[JSONDict] | None = None, allowed_recipients: Iterable[str] | None = None,
                 public_url: str | None = None, max_per_second: int | None = None) -> None:
        self.lock = threading.RLock()
        # Cloud API throughput: sends beyond this many in one second answer 130429 "Rate limit hit" (HTTP 429 here,
        # so a client honours it like any throttling answer); None = unlimited.
        self.max_per_second = max_per_second
        self.throttled = 0  # sends refused for the rate
        self._send_times: deque[float] = deque()
        self.tokens = {token}
        self.app_secret = app_secret
        self.version = version
        self.webhook_url = webhook_url
        self.window_mode = window_mode
        self.auto_status = list(auto_status)
        self.status_delay = status_delay
        self.shuffle_statuses = shuffle_statuses
        self.duplicate_statuses = duplicate_statuses
        self.allowed_recipients = set(allowed_recipients) if allowed_recipients is not None else None
        self.public_url = public_url
        self.numbers: dict[str, Number] = {n.phone_number_id: n for n in numbers or [
            Number(DEFAULT_PHONE_NUMBER_ID, DEFAULT_WABA_ID, DEFAULT_DISPLAY_NUMBER, DEFAULT_VERIFIED_NAME)]}
        self.templates: list[JSONDict] = []
        for t in DEMO_TEMPLATES if templates is None else templates:
            self.add_template(t)
        self.sent: list[JSONDict] = []
        self.media: dict[str, JSONDict] = {}
        self.last_inbound: dict[tuple[str, str], float] = {}
        self.webhooks: list[JSONDict] = []  # what this fake POSTed: url, body, status
        self.faults: list[Fault] = []
        self._requests: deque[JSONDict] = deque(maxlen=LOG_LIMIT)
        self._timers: list[threading.Timer] = []
        self.holds = RequestHolds()

    # -- configuration --------------------------------------------------------------------------------------

    @property
    def number(self) -> Number:
        return next(iter(self.numbers.values()))

    def add_template(self, template: JSONDict) -> JSONDict:
        item = {"id": str(template.get("id") or random.randint(10**14, 10**15 - 1)),  # noqa: S311
                "parameter_format": "POSITIONAL", "category": "UTILITY", "status": "APPROVED",
                **copy.deepcopy(template)}
        with self.lock:
            self.templates = [t for t in self.templates
                              if (t["name"], t["language"]) != (item["name"], item["language"])] + [item]
        return item

    def fail_next(self, count: int = 1, *, status: int | None = 500, code: int | None = None, path: str = "",
                  method: str | None = None, delay: float = 0.0, message: str | None = None) -> None:
        with self.lock:
            self.faults.append(Fault(status, count, code, path, method, delay, message))

    def slow(self, seconds: float, count: int = 1, *, path: str = "") -> None:
        self.fail_next(count, status=None, path=path, delay=seconds)

    def hold_next(self, count: int = 1, *, path: str = "", method: str | None = None,
                  on_disconnect: str = "drop") -> None:
        """Parks the next ``count`` matching requests until :meth:`release` (see fakes.server.RequestHolds)."""
        self.holds.add(path=path, method=method, count=count, on_disconnect=on_disconnect)

    def release(self) -> None:
        self.holds.release()

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def reset(self) -> None:
        self.holds.reset()
        with self.lock:
            self.sent.clear()
            self.webhooks.clear()
            self.faults.clear()
            self.last_inbound.clear()
            self._requests.clear()

    def add_media(self, data: bytes, mime_type: str, filename: str = "") -> str:
        media_id = new_media_id()
        with self.lock:
            self.media[media_id] = {"data": data, "mime_type": mime_type, "filename": filename,
                                    "sha256": hashlib.sha256(data).hexdigest()}
        return media_id

    def link_base(self, host: str | None) -> str:
        return (self.public_url or f"http://{host or '127.0.0.1'}").rstrip("/")

    # -- the edge -------------------------------------------------------------------------------------------

    def gate(self, method: str, path: str) -> Response | None:
        with self.lock:
            fault = next((f for f in self.faults if f.remaining > 0 and f.path in path
                          and (f.method is None or f.method == method)), None)
            if fault is not None:
                fault.remaining -= 1
                self.faults = [f for f in self.faults if f.remaining > 0]
        if fault is None:
            return None
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status is None:
            return None
        if fault.code is not None:
            return graph_error(fault.code, status=fault.status, message=fault.message)
        if fault.status >= 500:
            return json_response(fault.status, {"error": {"message": "An unknown error has occurred.",
                                                          "type": "OAuthException", "code": 1,
                                                          "is_transient": True,
                                                          "fbtrace_id": secrets.token_urlsafe(16)}})
        return json_response(fault.status, {"error": {"message": fault.message or "Error", "code": 100}})

    def authorized(self, header: str | None) -> bool:
        token = (header or "").removeprefix("Bearer ").strip()
        return bool(token) and token in self.tokens

    def log_request(self, entry: JSONDict) -> None:
        with self.lock:
            self._requests.append(entry)

    @property
    def requests(self) -> list[JSONDict]:
        with self.lock:
            return copy.deepcopy(list(self._requests))

    # -- customers writing, statuses --------------------------------------------------------------------------

    def emit(self, payload: JSONDict | bytes, *, url: str | None = None, signature: str | None = None,
             unsigned: bool = False) -> tuple[int, bytes]:
        """POSTs one webhook (signed with the app secret unless ``signature``/``unsigned`` say otherwise)."""
        target = url or self.webhook_url
        if not target:
            raise RuntimeError("no webhook_url configured")
        body = payload if isinstance(payload, bytes) else encode(payload)
        record: JSONDict = {"url": target, "body": body.decode(), "status": None}
        with self.lock:
            self.webhooks.append(record)  # recorded even when the receiver is down (tests replay them)
        status, answer = post_webhook(target, body, None if unsigned else self.app_secret, signature=signature)
        record["status"] = status
        return status, answer

    def customer_writes(self, wa_id: str, text: str | None = None, *, name: str = "Cliente",
                        phone_number_id: str | None = None, item: JSONDict | None = None,
                        timestamp: int | None = None, times: int = 1) -> tuple[int, JSONDict]:
        """A customer sends a message to the business number: opens their 24-hour window here and POSTs the
        signed webhook (``times`` > 1 redelivers the same body, as Meta's retries do)."""
        number = self.numbers.get(phone_number_id or "", self.number)
        msg = item or text_message(wa_id, text or "", timestamp=timestamp)
        payload = inbound_payload([msg], name=name, wa_id=wa_id, phone_number_id=number.phone_number_id,
                                  display_phone_number=number.display_phone_number, waba_id=number.waba_id)
        with self.lock:
            stamp = float(msg.get("timestamp") or time.time())
            key = (number.phone_number_id, wa_id)
            self.last_inbound[key] = max(stamp, self.last_inbound.get(key, 0.0))
        status = 0
        body = encode(payload)
        for _ in range(times):
            status, _answer = self.emit(body)
        return status, payload

    def customer_chooses(self, wa_id: str, option_id: str, *, name: str = "Cliente",
                         wamid: str | None = None) -> tuple[int, JSONDict]:
        """A customer presses a reply button (or picks a list row) of the newest interactive message this fake
        accepted for them (or of the one with ``wamid``) and Meta POSTs the webhook (see :meth:`chosen_reply`)."""
        item, phone_number_id = self.chosen_reply(wa_id, option_id, wamid=wamid)
        return self.customer_writes(wa_id, name=name, phone_number_id=phone_number_id, item=item)

    def chosen_reply(self, wa_id: str, option_id: str, *, wamid: str | None = None) -> tuple[JSONDict, str]:
        """(the ``messages[]`` item, the business phone number id) of a customer pressing ``option_id`` on the newest
        interactive message this fake accepted for them (or the one with ``wamid``), with ``context`` pointing at
        it as Meta sends it. Raises LookupError when no such message offered ``option_id``: a customer can only
        press what they got."""
        with self.lock:
            offered = [s for s in self.sent if s["to"] == wa_id and s["type"] == "interactive"
                       and (wamid is None or s["wamid"] == wamid)]
        if not offered:
            raise LookupError(f"no interactive message was sent to {wa_id}")
        record = offered[-1]
        content = record["payload"]["interactive"]
        action = content.get("action") or {}
        if content.get("type") == "button":
            options = [b.get("reply") or {} for b in action.get("buttons") or []]
            kind = "button_reply"
        else:
            options = [row for section in action.get("sections") or [] for row in section.get("rows") or []]
            kind = "list_reply"
        option = next((o for o in options if o.get("id") == option_id), None)
        if option is None:
            raise LookupError(f"{option_id!r} is not among {[o.get('id') for o in options]}")
        number = self.numbers[record["phone_number_id"]]
        item = interactive_reply(wa_id, option_id, str(option.get("title") or ""), kind=kind,
                                 description=str(option.get("description") or ""),
                                 context={"from": number.display_phone_number, "id": record["wamid"]})
        return item, number.phone_number_id

    def emit_statuses(self, sent: JSONDict, sequence: Sequence[str], *, error_code: int | None = None) -> None:
        """Status webhooks for one sent message, one POST per status (shuffled/duplicated if configured)."""
        number = self.numbers[sent["phone_number_id"]]
        stamp = int(time.time())
        items = [status_item(sent["wamid"], s, sent["to"], timestamp=stamp + i,
                             callback_data=sent["payload"].get("biz_opaque_callback_data"),
                             error_code=error_code if s == "failed" else None) for i, s in enumerate(sequence)]
        if self.shuffle_statuses:
            items.reverse()  # the worst order: read, delivered, sent
        if self.duplicate_statuses:
            items = [x for item in items for x in (item, item)]
        for item in items:
            with contextlib.suppress(OSError):
                self.emit(status_payload([item], phone_number_id=number.phone_number_id,
                                         display_phone_number=number.display_phone_number, waba_id=number.waba_id))

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        def run() -> None:
            try:
                action()
            except Exception:  # a background webhook must never kill the fake
                traceback.print_exc()

        timer = threading.Timer(delay, run)
        timer.daemon = True
        with self.lock:
            self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()

    def close(self) -> None:
        self.holds.release()  # parked handler threads finish before the server goes away
        with self.lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()

    # -- the API ----------------------------------------------------------------------------------------------

    def window_open(self, phone_number_id: str, wa_id: str) -> bool:
        with self.lock:
            last = self.last_inbound.get((phone_number_id, wa_id))
        return last is not None and time.time() - last <= WINDOW_SECONDS

    def send(self, phone_number_id: str, payload: JSONDict) -> Response:  # noqa: PLR0911 - one answer per check
        if payload.get("messaging_product") != "whatsapp":
            return graph_error(100, message="(#100) The parameter messaging_product is required.")
        if payload.get("status") == "read":
            if not payload.get("message_id"):
                return graph_error(100, message="(#100) The parameter message_id is required.")
            return json_response(200, {"success": True})
        to = str(payload.get("to") or payload.get("recipient") or "")
        if not to:
            return graph_error(100, message="(#100) The parameter to is required.")
        wa_id = re.sub(r"\D", "", to)
        kind = payload.get("type", "text")
        if kind not in SEND_TYPES:
            return graph_error(100, message=f"(#100) Param type must be one of {sorted(SEND_TYPES)}")
        content = payload.get(kind)
        if not isinstance(content, dict):
            return graph_error(100, message=f"(#100) The parameter {kind} is required.")
        problem = self._check_content(kind, content)
        if problem is not None:
            return problem
        if self.allowed_recipients is not None and wa_id not in self.allowed_recipients:
            return graph_error(131030)
        late = kind != "template" and self.window_mode != "off" and not self.window_open(phone_number_id, wa_id)
        if late and self.window_mode == "sync":
            return graph_error(131047)
        if self.max_per_second is not None:
            with self.lock:
                now = time.monotonic()
                while self._send_times and now - self._send_times[0] >= 1.0:
                    self._send_times.popleft()
                if len(self._send_times) >= self.max_per_second:
                    self.throttled += 1
                    return graph_error(130429, status=429)
                self._send_times.append(now)
        wamid = new_wamid()
        record = {"phone_number_id": phone_number_id, "to": wa_id, "type": kind, "payload": payload,
                  "wamid": wamid, "at": time.time()}
        with self.lock:
            self.sent.append(record)
        if late:  # "async": accepted now, failed by webhook (the common report of 131047)
            self._later(self.status_delay, lambda: self.emit_statuses(record, ["failed"], error_code=131047))
        elif self.auto_status and self.webhook_url:
            sequence = list(self.auto_status)
            self._later(self.status_delay, lambda: self.emit_statuses(record, sequence))
        answer: JSONDict = {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": wa_id}],
                            "messages": [{"id": wamid}]}
        if kind == "template":
            answer["messages"][0]["message_status"] = "accepted"
        return json_response(200, answer)

    def _check_content(self, kind: str, content: JSONDict) -> Response | None:
        if kind == "text" and not str(content.get("body") or "").strip():
            return graph_error(100, message="(#100) The parameter text['body'] is required.")
        if kind in MEDIA_TYPES:
            if not content.get("id") and not content.get("link"):
                return graph_error(100, message=f"(#100) The parameter {kind}['id'] or {kind}['link'] is required.")
            if content.get("id") and str(content["id"]) not in self.media:
                return graph_error(131053)
        if kind == "template":
            return self._check_template(content)
        if kind == "interactive":
            problem = check_interactive(content)
            return graph_error(131009, details=problem) if problem else None
        return None

    def _check_template(self, content: JSONDict) -> Response | None:
        name = content.get("name")
        language = (content.get("language") or {}).get("code")
        with self.lock:
            template = next((t for t in self.templates if t["name"] == name and t["language"] == language
                             and t["status"] == "APPROVED"), None)
        if template is None:
            return graph_error(132001, status=404, details=f"template name ({name}) does not exist in {language}")
        body: JSONDict = next((c for c in template["components"] if c.get("type") == "BODY"), {})
        expected = len(set(re.findall(r"\{\{\s*([\w]+)\s*\}\}", str(body.get("text", "")))))
        given = sum(len(c.get("parameters") or []) for c in content.get("components") or []
                    if str(c.get("type", "")).lower() == "body")
        if expected != given:
            return graph_error(132000, details=f"body: number of localizable_params ({given}) does not match the "
                                               f"expected number of params ({expected})")
        return None

    def upload(self, phone_number_id: str, content_type: str, body: bytes) -> Response:
        fields = parse_multipart(content_type, body)
        if fields.get("messaging_product", ("", "", b""))[2].decode() != "whatsapp":
            return graph_error(100, message="(#100) The parameter messaging_product is required.")
        file = fields.get("file")
        if file is None:
            return graph_error(100, message="(#100) The parameter file is required.")
        filename, part_type, data = file
        mime = fields["type"][2].decode() if "type" in fields else part_type
        return json_response(200, {"id": self.add_media(data, mime, filename)})

    def media_info(self, media_id: str, base: str) -> Response:
        with self.lock:
            media = self.media.get(media_id)
        if media is None:
            return graph_error(100, message=f"Unsupported get request. Object with ID '{media_id}' does not exist.")
        url = f"{base}/whatsapp_business/attachments/?mid={media_id}&ext={int(time.time())}&hash={secrets.token_hex(8)}"
        return json_response(200, {"messaging_product": "whatsapp", "url": url, "mime_type": media["mime_type"],
                                   "sha256": media["sha256"], "file_size": len(media["data"]), "id": media_id})

    def download(self, media_id: str) -> Response:
        with self.lock:
            media = self.media.get(media_id)
        if media is None:
            return Response(404, b"Not Found", "text/plain")
        return Response(200, media["data"], media["mime_type"])

    def list_templates(self, waba_id: str, query: dict[str, str], base: str, path: str) -> Response:
        with self.lock:
            mine = copy.deepcopy(self.templates)
        if not any(n.waba_id == waba_id for n in self.numbers.values()):
            return graph_error(100, message=f"Unsupported get request. Object with ID '{waba_id}' does not exist.")
        limit = max(1, min(int(query.get("limit") or 25), 100))
        start = int(base64.b64decode(query["after"]).decode()) if query.get("after") else 0
        page = mine[start:start + limit]
        paging: JSONDict = {"cursors": {"before": base64.b64encode(str(start).encode()).decode(),
                                        "after": base64.b64encode(str(start + len(page)).encode()).decode()}}
        if start + limit < len(mine):
            rest = {k: v for k, v in query.items() if k != "after"}
            rest["after"] = paging["cursors"]["after"]
            paging["next"] = f"{base}{path}?{urllib.parse.urlencode(rest)}"
        return json_response(200, {"data": page, "paging": paging})

    def snapshot(self) -> JSONDict:
        with self.lock:
            return {"sent": copy.deepcopy(self.sent), "webhooks": len(self.webhooks),
                    "media": sorted(self.media), "templates": copy.deepcopy(self.templates),
                    "window_mode": self.window_mode, "faults": len(self.faults),
                    "numbers": [vars(n) for n in self.numbers.values()], "holds": self.holds.snapshot()}


# Interactive limits: Meta's "Interactive reply buttons messages" and "Interactive list messages" pages (copies
# dated Nov 2025). Lengths are counted in characters here; the error is 131009 "Parameter value is not valid" with
# the reason in error_data.details [S: the code and envelope from captured Graph answers; the exact details text
# is ours].
INTERACTIVE_LIMITS: dict[str, int] = {"button_body": 1024, "list_body": 4096, "header": 60, "footer": 60,
                                      "button_title": 20, "button_id": 256, "list_button": 20, "section_title": 24,
                                      "row_title": 24, "row_description": 72, "row_id": 200}


def _too_long(value: Any, limit: int) -> bool:
    return not isinstance(value, str) or len(value) > limit


def _blank(value: Any) -> bool:
    return not isinstance(value, str) or not value.strip()


def check_interactive(content: JSONDict) -> str | None:  # noqa: PLR0911 - one answer per rule, as Graph
    """Why Graph would refuse an ``interactive`` reply-button or list message (None: accepted). Other interactive
    types (cta_url, flow, product…) pass unchecked."""
    lim = INTERACTIVE_LIMITS
    kind = content.get("type")
    if kind not in ("button", "list"):
        return None if isinstance(kind, str) and kind else "interactive type is required"
    body = (content.get("body") or {}).get("text") if isinstance(content.get("body"), dict) else None
    if _blank(body):
        return "body text is required"
    if _too_long(body, lim[f"{kind}_body"]):
        return f"body text is too long. Max length: {lim[f'{kind}_body']}"
    for part in ("header", "footer"):
        text = (content.get(part) or {}).get("text") if isinstance(content.get(part), dict) else None
        if part in content and text is not None and _too_long(text, lim[part]):
            return f"{part} text is too long. Max length: {lim[part]}"
    action = content.get("action")
    if not isinstance(action, dict):
        return "action is required"
    if kind == "button":
        buttons = action.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            return "Buttons count is invalid. Min: 1, Max: 3"
        titles, ids = [], []
        for button in buttons:
            reply = button.get("reply") if isinstance(button, dict) and button.get("type") == "reply" else None
            if not isinstance(reply, dict):
                return "button type must be reply"
            if _blank(reply.get("title")) or _too_long(reply.get("title"), lim["button_title"]):
                return f"Button title length invalid. Min length: 1, Max length: {lim['button_title']}"
            if _blank(reply.get("id")) or _too_long(reply.get("id"), lim["button_id"]):
                return f"Button id length invalid. Min length: 1, Max length: {lim['button_id']}"
            titles.append(reply["title"])
            ids.append(reply["id"])
        if len(set(titles)) != len(titles):
            return "Button title must be unique"
        if len(set(ids)) != len(ids):
            return "Button id must be unique"
        return None
    if _blank(action.get("button")) or _too_long(action.get("button"), lim["list_button"]):
        return f"Button label length invalid. Min length: 1, Max length: {lim['list_button']}"
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
        return "Sections count is invalid. Min: 1, Max: 10"
    row_ids: list[str] = []
    for section in sections:
        if not isinstance(section, dict):
            return "section must be an object"
        title = section.get("title")
        if (len(sections) > 1 and _blank(title)) or (title is not None and _too_long(title, lim["section_title"])):
            return f"Section title length invalid. Min length: 1, Max length: {lim['section_title']}"
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            return "Rows count is invalid. Min: 1"
        for row in rows:
            if not isinstance(row, dict):
                return "row must be an object"
            if _blank(row.get("title")) or _too_long(row.get("title"), lim["row_title"]):
                return f"Row title length invalid. Min length: 1, Max length: {lim['row_title']}"
            if _blank(row.get("id")) or _too_long(row.get("id"), lim["row_id"]):
                return f"Row id length invalid. Min length: 1, Max length: {lim['row_id']}"
            if "description" in row and _too_long(row["description"], lim["row_description"]):
                return f"Row description length invalid. Max length: {lim['row_description']}"
            row_ids.append(row["id"])
    if len(row_ids) > 10:
        return "Total row count exceed max allowed count: 10"
    if len(set(row_ids)) != len(row_ids):
        return "Row id must be unique"
    return None


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str, str, bytes]]:
    """``multipart/form-data`` → {field: (filename, content type, bytes)} with the standard library."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, tuple[str, str, bytes]] = {}
    if not parsed.is_multipart():
        return fields
    for part in parsed.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        fields[name] = (part.get_filename() or "", part.get_content_type(),
                        payload if isinstance(payload, bytes) else b"")
    return fields


# --------------------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------------------


class _Api:
    def __init__(self, fake: FakeWhatsapp) -> None:
        self.fake = fake

    def handle(self, req: Request) -> Response:  # noqa: PLR0911 - a router
        fake = self.fake
        if req.path.startswith("/whatsapp_business/attachments"):
            if not fake.authorized(req.headers.get("Authorization")):
                return Response(401, b"Unauthorized", "text/plain")
            return fake.download(req.query.get("mid", ""))
        match = re.fullmatch(r"/(v\d+\.\d+)/([^/]+)(?:/([a-z_]+))?/?", req.path)
        if match is None:
            return graph_error(100, status=404, message="Unknown path components")
        _version, object_id, edge = match.groups()
        if not fake.authorized(req.headers.get("Authorization")):
            return graph_error(190, status=401)
        number = fake.numbers.get(object_id)
        if edge == "messages" and req.method == "POST" and number:
            try:
                payload = req.json()
            except ValueError:
                return graph_error(100, message="(#100) Invalid JSON")
            return fake.send(object_id, payload)
        if edge == "media" and req.method == "POST" and number:
            return fake.upload(object_id, req.headers.get("Content-Type") or "", req.body)
        if edge == "message_templates" and req.method == "GET":
            return fake.list_templates(object_id, req.query, req.base, req.path)
        if edge is None and req.method == "GET" and number:
            return json_response(200, {"verified_name": number.verified_name,
                                       "display_phone_number": number.display_phone_number,
                                       "id": number.phone_number_id, "quality_rating": number.quality_rating,
                                       "code_verification_status": "VERIFIED", "platform_type": "CLOUD_API",
                                       "throughput": {"level": "STANDARD"}})
        if edge is None and req.method == "GET":
            return fake.media_info(object_id, req.base)
        return graph_error(100, message=f"Unsupported {req.method.lower()} request. Object with ID '{object_id}' "
                                        "does not exist, cannot be loaded due to missing permissions, or does not "
                                        "support this operation.")


class _ControlApi:
    """``/_fake/…``: plain JSON, no auth. Tests and the demo drive the fake through it."""

    def __init__(self, fake: FakeWhatsapp) -> None:
        self.fake = fake

    def handle(self, req: Request) -> Response:  # noqa: PLR0911 - a router
        fake = self.fake
        route = (req.method, req.path.rstrip("/"))
        if route == ("GET", "/_fake/health"):
            return json_response(200, {"ok": True})
        if route == ("GET", "/_fake/state"):
            return json_response(200, fake.snapshot())
        if route == ("POST", "/_fake/reset"):
            fake.reset()
            return json_response(200, {"ok": True})
        body: JSONDict = req.json() if req.method == "POST" else {}
        if route == ("POST", "/_fake/inbound"):
            item = body.get("message")
            status, payload = fake.customer_writes(
                str(body.get("wa_id") or "573001234567"), str(body.get("text") or "Hola"),
                name=str(body.get("name") or "Cliente"), phone_number_id=body.get("phone_number_id"),
                item=item if isinstance(item, dict) else None, times=int(body.get("times") or 1))
            return json_response(200, {"status": status, "payload": payload})
        if route == ("POST", "/_fake/choose"):
            try:
                status, payload = fake.customer_chooses(str(body.get("wa_id") or "573001234567"),
                                                        str(body.get("option_id") or ""),
                                                        name=str(body.get("name") or "Cliente"),
                                                        wamid=body.get("wamid") or None)
            except LookupError as exc:
                return json_response(404, {"error": str(exc)})
            return json_response(200, {"status": status, "payload": payload})
        if route == ("POST", "/_fake/media"):
            data = base64.b64decode(str(body.get("data_b64") or ""))
            return json_response(200, {"id": fake.add_media(data, str(body.get("mime_type") or "image/jpeg"),
                                                            str(body.get("filename") or ""))})
        if route == ("POST", "/_fake/faults"):
            fake.fail_next(int(body.get("count") or 1), status=body.get("status"), code=body.get("code"),
                           path=str(body.get("path") or ""), method=body.get("method"),
                           delay=float(body.get("delay") or 0))
            return json_response(200, {"faults": len(fake.faults)})
        if route == ("DELETE", "/_fake/faults"):
            fake.clear_faults()
            return json_response(200, {"faults": 0})
        if route == ("POST", "/_fake/hold"):
            fake.hold_next(int(body.get("count") or 1), path=str(body.get("path") or ""), method=body.get("method"),
                           on_disconnect=str(body.get("on_disconnect") or "drop"))
            return json_response(200, fake.holds.snapshot())
        if route == ("POST", "/_fake/release"):
            fake.release()
            return json_response(200, fake.holds.snapshot())
        if route == ("POST", "/_fake/templates"):
            return json_response(201, fake.add_template(body))
        if route == ("POST", "/_fake/config"):
            for key in ("window_mode", "webhook_url", "status_delay", "shuffle_statuses", "duplicate_statuses"):
                if key in body:
                    setattr(fake, key, body[key])
            if "auto_status" in body:
                fake.auto_status = list(body["auto_status"] or [])
            return json_response(200, {"ok": True})
        return json_response(404, {"error": "unknown control route"})


class _Handler(FakeHandler[FakeWhatsapp, Request]):
    server_version = "fake-graph"

    def build_request(self, path: str, query: str, body: bytes) -> Request:
        return Request(self.command, path, dict(urllib.parse.parse_qsl(query)), body, self.headers,
                       self.fake.link_base(self.headers.get("Host")))

    def serve_api(self, req: Request) -> Response | None:
        fake = self.fake
        if not fake.holds.wait(req.method, req.path, lambda: peer_open(self.connection)):
            return None  # the client died while its request was parked: it never reached us
        started = time.time()
        response = fake.gate(req.method, req.path) or self.route_api(req)
        fake.log_request({"method": req.method, "path": req.path, "query": req.query, "status": response.status,
                          "authorization": self.headers.get("Authorization") or "",
                          "json": _maybe_json(req.body, self.headers.get("Content-Type")), "timestamp": started})
        return response

    def rejected(self, exc: Exception) -> Response | None:
        return graph_error(100, message=f"(#100) {exc}") if isinstance(exc, ValueError) else None

    def crashed(self) -> Response:
        return json_response(500, {"error": {"message": "An unknown error has occurred.", "code": 1,
                                             "is_transient": True}})


def _maybe_json(body: bytes, content_type: str | None) -> Any:
    if not body or "json" not in (content_type or ""):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


class FakeWhatsappServer(LoopbackServer):
    """The fake on a loopback port in a daemon thread; a context manager.

    ``with FakeWhatsappServer(token="tok", app_secret="s") as fw:`` → ``fw.base_url``, ``fw.state``.
    Extra keyword arguments go to :class:`FakeWhatsapp` (``window_mode``, ``auto_status``, ``webhook_url``…).
    """

    name = "fake-whatsapp"

    def __init__(self, token: str = "fake-whatsapp-token", app_secret: str = "fake-app-secret", *,  # noqa: S107
                 host: str = "127.0.0.1", port: int = 0, state: FakeWhatsapp | None = None, verbose: bool = False,
                 **options: Any) -> None:
        self.state = state if state is not None else FakeWhatsapp(token, app_secret, **options)
        super().__init__(host=host, port=port, verbose=verbose)

    def make_httpd(self) -> FakeHTTPServer[FakeWhatsapp, Request]:
        return FakeHTTPServer((self.host, self.port), _Handler, self.state, api=_Api(self.state),
                              control=_ControlApi(self.state), verbose=self.verbose)


# --------------------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fakes.whatsapp",
                                     description="Fake WhatsApp Business Cloud API (Graph API) server")
    sub = parser.add_subparsers(dest="command")
    serve = parser  # serving is the default command
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8012)
    serve.add_argument("--token", default="fake-whatsapp-token", help="bearer token the API accepts")
    serve.add_argument("--app-secret", default="fake-app-secret", help="signs the webhooks this fake sends")
    serve.add_argument("--phone-number-id", default=DEFAULT_PHONE_NUMBER_ID)
    serve.add_argument("--waba-id", default=DEFAULT_WABA_ID)
    serve.add_argument("--display-phone-number", default=DEFAULT_DISPLAY_NUMBER)
    serve.add_argument("--verified-name", default=DEFAULT_VERIFIED_NAME)
    serve.add_argument("--webhook-url", default=None, help="where status and inbound webhooks are POSTed")
    serve.add_argument("--window-mode", choices=["off", "sync", "async"], default="off",
                       help="24-hour window: off, sync (HTTP 400 131047) or async (failed status webhook)")
    serve.add_argument("--auto-status", default="", help="statuses sent after each send, e.g. sent,delivered,read")
    serve.add_argument("--status-delay", type=float, default=1.0)
    serve.add_argument("--public-url", default=None, help="base of media download URLs (default: Host header)")
    serve.add_argument("--verbose", action="store_true")
    customer = sub.add_parser("customer", help="sign and POST one inbound text webhook, then exit")
    customer.add_argument("--webhook-url", required=True)
    customer.add_argument("--app-secret", required=True)
    customer.add_argument("--phone-number-id", default=DEFAULT_PHONE_NUMBER_ID)
    customer.add_argument("--from", dest="wa_id", default="573001234567", help="wa_id: digits, no +")
    customer.add_argument("--name", default="Cliente de prueba")
    customer.add_argument("--text", default="Hola, quiero información")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.command == "customer":
        payload = inbound_payload([text_message(args.wa_id, args.text)], name=args.name,
                                  phone_number_id=args.phone_number_id)
        status, answer = post_webhook(args.webhook_url, encode(payload), args.app_secret)
        print(f"HTTP {status} {answer[:200].decode(errors='replace')}", flush=True)
        return 0 if status == 200 else 1
    state = FakeWhatsapp(
        args.token, args.app_secret, webhook_url=args.webhook_url, window_mode=args.window_mode,
        auto_status=[s for s in args.auto_status.split(",") if s.strip()], status_delay=args.status_delay,
        public_url=args.public_url,
        numbers=[Number(args.phone_number_id, args.waba_id, args.display_phone_number, args.verified_name)])
    server = FakeWhatsappServer(host=args.host, port=args.port, state=state, verbose=args.verbose)
    return server.run_until_signalled("fake whatsapp")


__all__ = ["DEMO_TEMPLATES", "FakeWhatsapp", "FakeWhatsappServer", "Number", "check_interactive", "encode", "envelope",
           "graph_error", "inbound_payload", "interactive_reply", "main", "message", "new_wamid", "post_webhook",
           "sign", "status_item", "status_payload", "text_message"]


if __name__ == "__main__":
    sys.exit(main())
