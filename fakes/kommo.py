"""Fake Kommo (amoCRM) server: REST API v4, OAuth 2.0, account webhooks and fault injection.

It speaks the wire contract in ``/work/shared/contracts/kommo.md`` (section numbers below refer to it):

* REST API v4 under ``/api/v4/`` (success ``application/hal+json``, errors ``application/problem+json``,
  ``204`` with an empty body for empty lists, ``_page`` + ``_links.next`` pagination), section 2.
* ``POST /oauth2/access_token`` with rotating refresh tokens and a long-lived token, section 2.2.
* Account webhooks: ``application/x-www-form-urlencoded`` PHP bracket keys, 2 s timeout, 100-299 = delivered,
  retries on a configurable schedule, disabling after too many invalid answers, section 1.
* Fault injection: the 7 rps limiter (429 with ``retry_after``, then a bare ``403 Forbidden`` IP block), scripted
  status codes, slow answers, a "down" mode that closes connections without answering, section 4, and held
  requests (parked until released; ``on_disconnect`` says whether a request whose client died still happens).
* A control API under ``/_fake/`` (no auth, plain JSON) for tests and the demo.

Standard library only and no Django, so it also runs as its own process::

    python -m fakes.kommo --host 127.0.0.1 --port 8001 --subdomain demo --account-id 32720107 --token TOKEN

In tests::

    with FakeKommoServer(subdomain="demo", token="tok") as fk:
        httpx.get(f"{fk.base_url}/api/v4/account", headers={"Authorization": "Bearer tok"})
        fk.state.create_lead("Pedido 1042", contact={"name": "Ana Pérez", "phones": ["+34600111222"]})
"""

from __future__ import annotations

import argparse
import base64
import copy
import dataclasses
import email.message
import heapq
import http.client
import json
import os
import re
import secrets
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakes.server import FakeHandler, FakeHTTPServer, LoopbackServer, RequestHolds, peer_open
from fakes.server import Response as BaseResponse

JSONDict = dict[str, Any]

HAL_JSON = "application/hal+json"
PROBLEM_JSON = "application/problem+json"
PLAIN_JSON = "application/json"
HTML = "text/html"
FORM_URLENCODED = "application/x-www-form-urlencoded"

DEFAULT_SUBDOMAIN = "demo"
DEFAULT_ACCOUNT_ID = 32720107
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (300.0, 900.0, 900.0, 3600.0)
MAX_PER_PAGE = 250
DEFAULT_PER_PAGE = 50
MAX_WEBHOOKS = 100
LOG_LIMIT = 10000  # request log and delivery log keep the newest entries only

# The account's pipelines (section 2.6). 142/143 are the same ids in every pipeline.
MAIN_PIPELINE_ID = 8572511
AFTERSALES_PIPELINE_ID = 8572599
STATUS_INCOMING = 67548603
STATUS_INITIAL_CONTACT = 67548607
STATUS_TO_CALL = 67548611
STATUS_SALE_CONFIRMED = 67548619
STATUS_AFTERSALES_NEW = 67548701
WON_STATUS_ID = 142
LOST_STATUS_ID = 143
CLOSED_STATUS_IDS = frozenset({WON_STATUS_ID, LOST_STATUS_ID})
DEFAULT_STATUS_ID = STATUS_TO_CALL

API_USER_ID = 11087123  # the Kommo user behind every API token: modified_user_id of changes made through the API
UI_USER_ID = 12345678  # the "human in the Kommo UI" behind /_fake/ actions; default responsible user

# Lead and contact custom fields of the fake account (ids differ per real account: never rely on them).
DATE_FIELD_TYPES = frozenset({"date", "date_time", "birthday"})
ENUM_FIELD_TYPES = frozenset({"select", "multiselect", "radiobutton"})
LEAD_FIELDS: tuple[JSONDict, ...] = (
    {"id": 1246481, "name": "Producto", "code": None, "type": "text"},
    {"id": 1246489, "name": "Origen", "code": None, "type": "select", "enums": [
        {"id": 908101, "value": "WhatsApp", "sort": 1},
        {"id": 908103, "value": "Email", "sort": 2},
        {"id": 908105, "value": "Web chat", "sort": 3},
        {"id": 908107, "value": "Teléfono", "sort": 4},
    ]},
    {"id": 1246491, "name": "Fecha de contacto", "code": None, "type": "date"},
)
CONTACT_FIELDS: tuple[JSONDict, ...] = (
    {"id": 771906, "name": "Phone", "code": "PHONE", "type": "multitext", "enums": [
        {"id": 552476, "value": "WORK", "sort": 2},
        {"id": 552478, "value": "WORKDD", "sort": 4},
        {"id": 552480, "value": "MOB", "sort": 6},
        {"id": 552482, "value": "FAX", "sort": 8},
        {"id": 552484, "value": "HOME", "sort": 10},
        {"id": 552486, "value": "OTHER", "sort": 12},
    ]},
    {"id": 771908, "name": "Email", "code": "EMAIL", "type": "multitext", "enums": [
        {"id": 552488, "value": "WORK", "sort": 2},
        {"id": 552490, "value": "PRIV", "sort": 4},
        {"id": 552492, "value": "OTHER", "sort": 6},
    ]},
)

# Account webhook settings (section 1.1), plus the two community-seen ones.
WEBHOOK_SETTINGS = frozenset({
    "responsible_lead", "responsible_contact", "responsible_company", "responsible_customer", "responsible_task",
    "restore_lead", "restore_contact", "restore_company", "add_lead", "add_contact", "add_company", "add_customer",
    "add_talk", "add_task", "update_lead", "update_contact", "update_company", "update_customer", "update_talk",
    "update_task", "delete_lead", "delete_contact", "delete_company", "delete_customer", "delete_task",
    "status_lead", "note_lead", "note_contact", "note_company", "note_customer", "add_chat_template_review",
    "add_message", "add_unsorted",
})
NOTE_TYPES = frozenset({
    "common", "call_in", "call_out", "service_message", "extended_service_message", "geolocation", "sms_in",
    "sms_out", "attachment",
})

HTTP_TITLES = {
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 422: "Unprocessable Entity", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out",
}
NOT_VALID_CHOICE = "The value you selected is not a valid choice."
TOO_MANY_REQUESTS = "You have sent too many requests in a given amount of time. Please try again later."
OAUTH_PROBLEM_TYPE = "https://developers.amocrm.ru/v3/errors/OAuthProblemJson"
OAUTH_PROBLEM_TITLE = "Некорректный запрос"  # Kommo's own (Russian) texts
OAUTH_PROBLEM_DETAIL = "В запросе отсутствует ряд параметров или параметры невалидны"


def _now() -> int:
    return int(time.time())


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _to_int(value: Any) -> int | None:
    if _is_int(value):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


# --------------------------------------------------------------------------------------------------------------
# Errors and responses
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Response(BaseResponse):
    """One HTTP answer of the fake. Kommo's answers name their type (HAL JSON, problem+json, nginx's HTML), so
    there is no default one."""

    content_type: str | None = None


def json_response(status: int, payload: Any, content_type: str = HAL_JSON) -> Response:
    return Response(status, json.dumps(payload, ensure_ascii=False).encode(), content_type)


def html_response(status: int, title: str) -> Response:
    """A bare nginx-style HTML page, as a gateway or the IP block answers."""
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return Response(status, page.encode(), HTML)


def problem_body(status: int, detail: str, **extra: Any) -> JSONDict:
    """An ``application/problem+json`` body as in section 2.9."""
    if status == 500:
        return {"title": "ErrInternalServer", "status": 500,
                "detail": "Our team are probably already working on the elimination of the problem",
                "trace_id": str(uuid.uuid4()), **extra}
    return {"title": HTTP_TITLES.get(status, "Error"), "type": f"https://httpstatus.es/{status}", "status": status,
            "detail": detail, **extra}


def validation_error(code: str, path: str, detail: str) -> JSONDict:
    return {"code": code, "path": path, "detail": detail}


class KommoError(Exception):
    """Raised by the request handlers: becomes the HTTP answer as is."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response

    @classmethod
    def problem(cls, status: int, detail: str, **extra: Any) -> KommoError:
        return cls(json_response(status, problem_body(status, detail, **extra), PROBLEM_JSON))

    @classmethod
    def validation(cls, entries: Sequence[tuple[str, list[JSONDict]]]) -> KommoError:
        """HTTP 400 with the ``validation-errors`` body of section 2.9."""
        body = {"validation-errors": [{"request_id": rid, "errors": errs} for rid, errs in entries if errs],
                **problem_body(400, "Request validation failed")}
        return cls(json_response(400, body, PROBLEM_JSON))

    @classmethod
    def oauth(cls, hint: str, status: int = 400) -> KommoError:
        """The (community-observed) OAuthProblemJson body of section 2.2."""
        body = {"hint": hint, "title": OAUTH_PROBLEM_TITLE, "type": OAUTH_PROBLEM_TYPE, "status": status,
                "detail": OAUTH_PROBLEM_DETAIL}
        return cls(json_response(status, body, PROBLEM_JSON))


# --------------------------------------------------------------------------------------------------------------
# Webhook encoding (section 1.2)
# --------------------------------------------------------------------------------------------------------------


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    """PHP ``http_build_query`` flattening: nested keys in brackets, every value a string, ``None`` omitted."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}[{key}]", item, out)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _flatten(f"{prefix}[{index}]", item, out)
    elif value is None:
        return
    elif isinstance(value, bool):
        out.append((prefix, "1" if value else "0"))
    else:
        out.append((prefix, str(value)))


def webhook_pairs(groups: Iterable[tuple[str, str, Sequence[Mapping[str, Any]]]],
                  account: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The decoded ``(key, value)`` pairs of one webhook POST carrying one or more entity/action groups."""
    pairs: list[tuple[str, str]] = []
    for entity, action, items in groups:
        _flatten(entity, {action: list(items)}, pairs)
    _flatten("account", account, pairs)
    return pairs


def encode_webhook_groups(groups: Iterable[tuple[str, str, Sequence[Mapping[str, Any]]]],
                          account: Mapping[str, Any]) -> str:
    """Like :func:`encode_webhook` for a POST mixing several entities/actions (whether Kommo does it is [U])."""
    return urllib.parse.urlencode(webhook_pairs(groups, account))


def encode_webhook(entity: str, action: str, items: list[dict[str, Any]], account: dict[str, Any]) -> str:
    """The ``application/x-www-form-urlencoded`` body Kommo POSTs for ``entity[action]`` (section 1.2).

    ``items`` are webhook-shaped dicts (``custom_fields`` with ``id/name/code/values``; a date field's
    ``values`` is a plain list of unix times, so it encodes as ``custom_fields[i][values][0]=<unix>``).
    ``account`` is e.g. ``{"subdomain": "demo", "id": 32720107, "_links": {"self": "https://demo.kommo.com"}}``.
    """
    return encode_webhook_groups([(entity, action, items)], account)


def webhook_setting(entity: str, action: str) -> str:
    """The webhook ``settings`` value that subscribes to ``entity[action]``: ``leads``/``status`` → ``status_lead``."""
    singular = {"leads": "lead", "contacts": "contact", "companies": "company", "customers": "customer",
                "task": "task", "tasks": "task", "talk": "talk", "unsorted": "unsorted", "message": "message"}
    return f"{action}_{singular.get(entity, entity.rstrip('s'))}"


def webhook_custom_fields(custom_fields_values: Sequence[Mapping[str, Any]]) -> list[JSONDict]:
    """REST ``custom_fields_values`` → the webhook's ``custom_fields`` (``id/name/code/values[value,enum]``)."""
    out: list[JSONDict] = []
    for cf in custom_fields_values:
        item: JSONDict = {"id": cf["field_id"], "name": cf["field_name"]}
        if cf.get("field_code"):
            item["code"] = cf["field_code"]
        if cf.get("field_type") in DATE_FIELD_TYPES:
            item["values"] = [v.get("value") for v in cf["values"]]
        else:
            values: list[JSONDict] = []
            for v in cf["values"]:
                value: JSONDict = {"value": v.get("value")}
                if v.get("enum_id") is not None:
                    value["enum"] = v["enum_id"]
                values.append(value)
            item["values"] = values
        out.append(item)
    return out


# --------------------------------------------------------------------------------------------------------------
# Custom fields
# --------------------------------------------------------------------------------------------------------------


def _find_field(catalog: Sequence[JSONDict], item: Mapping[str, Any]) -> JSONDict | None:
    for spec in catalog:
        if _is_int(item.get("field_id")) and item["field_id"] == spec["id"]:
            return spec
        if item.get("field_code") and item["field_code"] == spec["code"]:
            return spec
        if item.get("field_name") and item["field_name"] == spec["name"]:
            return spec
    return None


def _find_enum(spec: Mapping[str, Any], item: Mapping[str, Any]) -> JSONDict | None:
    enums: list[JSONDict] = spec.get("enums", [])
    enum_id = _to_int(item.get("enum_id"))
    if enum_id is None and _to_int(item.get("enum")) is not None:
        enum_id = _to_int(item.get("enum"))
    code = item.get("enum_code") or (item.get("enum") if isinstance(item.get("enum"), str) else None)
    for enum in enums:
        if enum_id is not None and enum["id"] == enum_id:
            return enum
        if code and str(code).upper() == enum["value"]:
            return enum
        if spec["type"] in ENUM_FIELD_TYPES and enum_id is None and item.get("value") == enum["value"]:
            return enum
    if spec["type"] == "multitext" and enum_id is None and not code and enums:
        return enums[0]  # WORK
    return None


def _normalize_enum_value(spec: Mapping[str, Any], item: Mapping[str, Any],
                          path: str) -> tuple[JSONDict | None, JSONDict | None]:
    enum = _find_enum(spec, item)
    if enum is None:
        return None, validation_error("NotSupportedChoice", f"{path}.enum_id", NOT_VALID_CHOICE)
    if spec["type"] != "multitext":
        return {"value": enum["value"], "enum_id": enum["id"], "enum_code": None}, None
    value = item.get("value")
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        return None, validation_error("InvalidType", f"{path}.value", "This value should be of type string.")
    return {"value": str(value), "enum_id": enum["id"], "enum_code": enum["value"]}, None


def _normalize_cf_value(spec: Mapping[str, Any], raw: Any, path: str) -> tuple[JSONDict | None, JSONDict | None]:
    """One value of a field → REST shape (``value`` + ``enum_id``/``enum_code`` where the type has enums)."""
    item: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {"value": raw}
    kind = spec["type"]
    if kind in ENUM_FIELD_TYPES or kind == "multitext":
        return _normalize_enum_value(spec, item, path)
    value: Any = item.get("value")
    expected = "string"
    if kind in DATE_FIELD_TYPES:
        value, expected = _to_int(value), "int"
    elif kind == "checkbox":
        value = bool(value)
    elif value is not None and not isinstance(value, Mapping | list):
        value = str(value)
    if value is None or isinstance(value, Mapping | list):
        return None, validation_error("InvalidType", f"{path}.value", f"This value should be of type {expected}.")
    return {"value": value}, None


def normalize_custom_fields(raw: Any, catalog: Sequence[JSONDict],
                            base_path: str = "custom_fields_values") -> tuple[list[JSONDict], list[JSONDict]]:
    """Client input (``field_id``/``field_code``/``field_name`` + ``values`` or ``value``) → REST shape, errors."""
    if not isinstance(raw, list):
        return [], [validation_error("InvalidType", base_path, "This value should be of type array.")]
    out: list[JSONDict] = []
    errors: list[JSONDict] = []
    for index, item in enumerate(raw):
        path = f"{base_path}.{index}"
        if not isinstance(item, Mapping):
            errors.append(validation_error("InvalidType", path, "This value should be of type object."))
            continue
        spec = _find_field(catalog, item)
        if spec is None:
            errors.append(validation_error("NotSupportedChoice", f"{path}.field_id", NOT_VALID_CHOICE))
            continue
        raw_values = item["values"] if "values" in item else ([item["value"]] if "value" in item else [])
        if raw_values is None:
            raw_values = []
        if not isinstance(raw_values, list):
            errors.append(validation_error("InvalidType", f"{path}.values", "This value should be of type array."))
            continue
        values: list[JSONDict] = []
        for j, raw_value in enumerate(raw_values):
            value, error = _normalize_cf_value(spec, raw_value, f"{path}.values.{j}")
            if error is not None:
                errors.append(error)
            elif value is not None:
                values.append(value)
        out.append({"field_id": spec["id"], "field_name": spec["name"], "field_code": spec["code"],
                    "field_type": spec["type"], "values": values})
    return out, errors


def _merge_custom_fields(existing: list[JSONDict] | None, updates: list[JSONDict]) -> list[JSONDict] | None:
    """Fields in ``updates`` replace the same field; an update with no values clears that field."""
    merged = {cf["field_id"]: cf for cf in existing or []}
    for cf in updates:
        if cf["values"]:
            merged[cf["field_id"]] = cf
        else:
            merged.pop(cf["field_id"], None)
    return list(merged.values()) or None


# --------------------------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Lead:
    id: int
    name: str
    price: int
    status_id: int
    pipeline_id: int
    responsible_user_id: int
    created_by: int
    updated_by: int
    created_at: int
    updated_at: int
    closed_at: int | None = None
    loss_reason_id: int | None = None
    tags: list[JSONDict] = field(default_factory=list)  # [{"id", "name"}]
    custom_fields_values: list[JSONDict] | None = None
    contacts: list[int] = field(default_factory=list)  # the first one is the main contact


@dataclass
class Contact:
    id: int
    name: str
    first_name: str
    last_name: str
    responsible_user_id: int
    created_by: int
    updated_by: int
    created_at: int
    updated_at: int
    custom_fields_values: list[JSONDict] | None = None
    tags: list[JSONDict] = field(default_factory=list)


@dataclass
class Note:
    id: int
    entity_id: int
    note_type: str
    params: JSONDict
    created_by: int
    updated_by: int
    created_at: int
    updated_at: int
    responsible_user_id: int
    entity_type: str = "leads"


@dataclass
class Webhook:
    id: int
    destination: str
    settings: list[str]
    sort: int
    created_at: int
    updated_at: int
    created_by: int
    disabled: bool = False
    invalid_times: list[float] = field(default_factory=list)  # wall times of invalid deliveries (disabling rule)


@dataclass
class FakeKommoConfig:
    """Everything the contract leaves open ([U]) or a test wants to shrink. Change it with ``configure()``."""

    rate_limit: int | None = 7  # requests per ``rate_window`` seconds on /api/v4/* (one account); None = no limit
    rate_window: float = 1.0
    retry_after: int = 1  # ``retry_after`` of the 429 body
    block_after: int | None = 50  # 429s (since the last unblock) before the IP block; None = never block
    retry_schedule: list[float] = field(default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE))  # [S/U] 5m/15m/15m/1h
    webhook_timeout: float = 2.0  # total seconds Kommo waits for an answer
    webhook_user_agent: str = "amoCRM-WebHook-client/1.0"  # [S, may be outdated]
    disable_after: int = 100  # "more than 100 invalid responses in the last 2 hours" disables a webhook
    disable_window: float = 7200.0
    status_also_update: bool = True  # [U] a stage change also fires leads[update] for update_lead subscribers
    old_pipeline_id: bool = False  # [U] leads[status] items carry old_pipeline_id
    status_on_add: bool = True  # a lead created past its pipeline's first stage also fires leads[status]
    mix_actions: bool = False  # [U] one POST per subscriber carries every entity/action of one change
    webhook_post_status: int = 201  # [U] amoCRM docs say 201, third parties 200
    batch_504_over: int | None = None  # PATCH /api/v4/leads batches bigger than this answer 504 (optional, §4)
    access_token_ttl: int = 86400
    refresh_token_ttl: int = 90 * 86400
    auth_code_ttl: int = 1200


@dataclass
class _Fault:
    status: int | None
    delay: float
    count: int
    path_prefix: str
    method: str | None
    retry_after: int | None
    format: str | None  # "problem" | "html" | None (= by status)


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    delivery_id: int = field(compare=False)
    webhook_id: int = field(compare=False)
    destination: str = field(compare=False)
    body: str = field(compare=False)
    events: list[str] = field(compare=False)
    attempt: int = field(compare=False, default=1)


@dataclass
class _LeadChange:
    lead: Lead
    old_status_id: int
    old_pipeline_id: int
    old_responsible_user_id: int
    fields_changed: bool

    @property
    def status_changed(self) -> bool:
        return (self.old_status_id, self.old_pipeline_id) != (self.lead.status_id, self.lead.pipeline_id)

    @property
    def responsible_changed(self) -> bool:
        return self.old_responsible_user_id != self.lead.responsible_user_id


def _status(status_id: int, name: str, sort: int, color: str, *, type_: int = 0, editable: bool = True) -> JSONDict:
    return {"id": status_id, "name": name, "sort": sort, "is_editable": editable, "color": color, "type": type_}


def _closed_statuses() -> list[JSONDict]:
    return [_status(WON_STATUS_ID, "Closed - won", 10000, "#CCFF66", editable=False),
            _status(LOST_STATUS_ID, "Closed - lost", 11000, "#D5D8DB", editable=False)]


PIPELINES: tuple[JSONDict, ...] = (
    {"id": MAIN_PIPELINE_ID, "name": "Ventas", "sort": 1, "is_main": True, "is_unsorted_on": True,
     "is_archive": False, "statuses": [
         _status(STATUS_INCOMING, "Leads entrantes", 10, "#c1c1c1", type_=1, editable=False),
         _status(STATUS_INITIAL_CONTACT, "Contacto inicial", 20, "#99ccff"),
         _status(STATUS_TO_CALL, "Para Llamar", 30, "#ffff99"),
         _status(STATUS_SALE_CONFIRMED, "Venta Confirmada", 40, "#87f2c0"),
         *_closed_statuses()]},
    {"id": AFTERSALES_PIPELINE_ID, "name": "Postventa", "sort": 2, "is_main": False, "is_unsorted_on": False,
     "is_archive": False, "statuses": [_status(STATUS_AFTERSALES_NEW, "Nuevo", 10, "#99ccff"), *_closed_statuses()]},
)


def _pipeline(pipeline_id: int) -> JSONDict | None:
    return next((p for p in PIPELINES if p["id"] == pipeline_id), None)


def _pipeline_status_ids(pipeline_id: int) -> list[int]:
    pipeline = _pipeline(pipeline_id)
    return [s["id"] for s in pipeline["statuses"]] if pipeline else []


def _first_status_id(pipeline_id: int) -> int:
    pipeline = _pipeline(pipeline_id)
    assert pipeline is not None
    return int(min(pipeline["statuses"], key=lambda s: s["sort"])["id"])


def _jwt(payload: JSONDict) -> str:
    """A JWT-looking access token (unsigned; random signature) so clients that peek at ``exp`` work."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    header = b64(json.dumps({"typ": "JWT", "alg": "RS256", "jti": payload["jti"]}).encode())
    return f"{header}.{b64(json.dumps(payload).encode())}.{b64(secrets.token_bytes(64))}"


class FakeKommo:
    """In-memory state of one fake Kommo account, thread-safe (``self.lock``), plus the webhook emitter.

    Changes made through the Python API behave like the same change in the Kommo UI (webhooks fire unless
    ``emit=False``); changes through the REST API behave like API changes (``modified_user_id`` = API user).
    """

    def __init__(self, subdomain: str = DEFAULT_SUBDOMAIN, token: str | None = None, *,
                 account_id: int = DEFAULT_ACCOUNT_ID, account_name: str | None = None,
                 client_id: str | None = None, client_secret: str | None = None,
                 redirect_uri: str | None = None, public_url: str | None = None,
                 state_file: str | os.PathLike[str] | None = None, **config: Any) -> None:
        self.subdomain = subdomain
        self.account_id = account_id
        self.account_name = account_name or subdomain
        self.long_lived_token = token
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.public_url = public_url  # base of REST ``_links``; default: http://<Host header>
        self.account_url = f"https://{subdomain}.kommo.com"  # account[_links][self] and oauth ``referer``
        self.state_file = Path(state_file) if state_file else None
        self.config = FakeKommoConfig()
        self.lock = threading.RLock()
        self._cond = threading.Condition(self.lock)
        self._worker: threading.Thread | None = None
        self._closing = False
        self._queue: list[_Delivery] = []
        self._seq = 0
        self._inflight = 0
        self._access_tokens: dict[str, float] = {}
        self._refresh_tokens: dict[str, JSONDict] = {}
        self._auth_codes: dict[str, JSONDict] = {}
        self.holds = RequestHolds()
        self._reset_data()
        self._reset_faults()
        self.configure(**config)
        if self.state_file and self.state_file.exists():
            self.load(self.state_file)

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def _reset_data(self) -> None:
        self._leads: dict[int, Lead] = {}
        self._contacts: dict[int, Contact] = {}
        self._notes: dict[int, Note] = {}
        self._webhooks: dict[int, Webhook] = {}
        self._tags: dict[str, int] = {}
        self._deliveries: list[JSONDict] = []
        self._requests: list[JSONDict] = []
        self._next_ids = {"lead": 15318175, "contact": 10971465, "note": 76787983, "tag": 80147,
                          "webhook": 839656, "delivery": 1}
        self._queue = []

    def _reset_faults(self) -> None:
        self.rate_limit_violations = 0
        self.blocked = False
        self.down = False
        self._violations_since_unblock = 0
        self._window: deque[float] = deque()
        self._faults: list[_Fault] = []

    def hold_next(self, count: int = 1, *, path: str = "", method: str | None = None,
                  on_disconnect: str = "drop") -> None:
        """Parks the next ``count`` matching API requests until :meth:`release` (see fakes.server.RequestHolds)."""
        self.holds.add(path=path, method=method, count=count, on_disconnect=on_disconnect)

    def release(self) -> None:
        self.holds.release()

    def reset(self, *, keep_webhooks: bool = False, keep_tokens: bool = True) -> None:
        """Back to an empty account: no leads/contacts/notes/deliveries/requests, no faults, config unchanged."""
        with self.lock:
            webhooks = self._webhooks if keep_webhooks else {}
            next_webhook = self._next_ids["webhook"]
            self._reset_data()
            self._reset_faults()
            self.holds.reset()
            self._webhooks = webhooks
            self._next_ids["webhook"] = next_webhook
            if not keep_tokens:
                self._access_tokens.clear()
                self._refresh_tokens.clear()
                self._auth_codes.clear()
            self._cond.notify_all()

    def close(self) -> None:
        """Stop the webhook emitter thread (pending retries are dropped) and save the state file if any."""
        self.holds.release()  # parked handler threads finish before the server goes away
        with self.lock:
            self._closing = True
            self._cond.notify_all()
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=self.config.webhook_timeout + 1)
        if self.state_file:
            self.save(self.state_file)

    def configure(self, **options: Any) -> FakeKommoConfig:
        """Set any :class:`FakeKommoConfig` field, e.g. ``configure(rate_limit=None, retry_schedule=[0.1])``."""
        names = {f.name for f in dataclasses.fields(FakeKommoConfig)}
        unknown = set(options) - names
        if unknown:
            raise ValueError(f"unknown fake Kommo option(s): {', '.join(sorted(unknown))}")
        with self.lock:
            for name, value in options.items():
                setattr(self.config, name, [float(v) for v in value] if name == "retry_schedule" else value)
            self._cond.notify_all()
            return dataclasses.replace(self.config, retry_schedule=list(self.config.retry_schedule))

    def _next_id(self, kind: str) -> int:
        value = self._next_ids[kind]
        self._next_ids[kind] = value + 1
        return value

    # -- accounts, tokens ---------------------------------------------------------------------------------------

    def account_block(self) -> JSONDict:
        """The ``account[...]`` block of every webhook POST."""
        return {"subdomain": self.subdomain, "id": self.account_id, "_links": {"self": self.account_url}}

    def link_base(self, host: str | None = None) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{host}" if host else self.account_url

    def issue_auth_code(self, client_id: str | None = None) -> str:
        """An authorization code (valid ``auth_code_ttl`` s, single use) as Kommo's consent screen would give."""
        code = "def50200" + secrets.token_hex(96)
        with self.lock:
            self._auth_codes[code] = {"client_id": client_id or self.client_id,
                                      "expires_at": time.time() + self.config.auth_code_ttl, "used": False}
        return code

    def issue_tokens(self, client_id: str | None = None, *, parent: str | None = None) -> JSONDict:
        """A fresh access + refresh token pair, shaped like the ``/oauth2/access_token`` answer."""
        now = time.time()
        with self.lock:
            cid = client_id or self.client_id or "fake-client"
            access = _jwt({"aud": cid, "jti": secrets.token_hex(16), "iat": int(now), "nbf": int(now),
                           "exp": int(now + self.config.access_token_ttl), "sub": str(API_USER_ID),
                           "account_id": self.account_id, "base_domain": "kommo.com",
                           "scopes": ["crm", "notifications"]})
            refresh = "def50200" + secrets.token_hex(160)
            self._access_tokens[access] = now + self.config.access_token_ttl
            self._refresh_tokens[refresh] = {"client_id": cid, "expires_at": now + self.config.refresh_token_ttl,
                                             "parent": parent, "revoked": False}
            return {"token_type": "Bearer", "expires_in": self.config.access_token_ttl, "server_time": int(now),
                    "access_token": access, "refresh_token": refresh}

    def revoke_tokens(self, *, long_lived: bool = False) -> None:
        """Revoke every OAuth token (the integration was uninstalled): the API answers 401, refresh 400."""
        with self.lock:
            self._access_tokens.clear()
            for record in self._refresh_tokens.values():
                record["revoked"] = True
            if long_lived:
                self.long_lived_token = None

    def expire_access_tokens(self) -> None:
        """Make every OAuth access token expired (refresh tokens stay usable)."""
        with self.lock:
            for token in self._access_tokens:
                self._access_tokens[token] = 0.0

    def is_authorized(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Bearer "):
            return False
        token = authorization[len("Bearer "):].strip()
        with self.lock:
            if self.long_lived_token and secrets.compare_digest(token.encode(), self.long_lived_token.encode()):
                return True
            return self._access_tokens.get(token, 0.0) > time.time()

    def oauth_token(self, params: Mapping[str, Any]) -> JSONDict:
        """``POST /oauth2/access_token``: ``authorization_code`` and ``refresh_token`` grants (section 2.2)."""
        client_id = params.get("client_id")
        if not client_id or not params.get("client_secret"):
            raise KommoError.oauth("Check the `client_id` and `client_secret` parameters")
        if (self.client_id and client_id != self.client_id) or (
                self.client_secret and params.get("client_secret") != self.client_secret):
            raise KommoError.oauth("Client authentication failed", status=401)
        grant = params.get("grant_type")
        with self.lock:
            if grant == "authorization_code":
                return self._grant_code(str(client_id), params.get("code"))
            if grant == "refresh_token":
                return self._grant_refresh(str(client_id), params.get("refresh_token"))
        raise KommoError.oauth("The authorization grant type is not supported by the authorization server.")

    def _grant_code(self, client_id: str, code: Any) -> JSONDict:
        if not code:
            raise KommoError.oauth("Check the `code` parameter")
        record = self._auth_codes.get(str(code))
        if record is None:
            raise KommoError.oauth("Cannot decrypt the authorization code")
        if record["used"]:
            raise KommoError.oauth("Authorization code has been revoked")
        if record["expires_at"] <= time.time():
            raise KommoError.oauth("Authorization code has expired")
        if record["client_id"] and record["client_id"] != client_id:
            raise KommoError.oauth("Authorization code was not issued to this client")
        record["used"] = True
        return self.issue_tokens(client_id)

    def _grant_refresh(self, client_id: str, token: Any) -> JSONDict:
        record = self._refresh_tokens.get(str(token)) if token else None
        if record is None or record["client_id"] != client_id:
            raise KommoError.oauth("Invalid refresh token")
        if record["revoked"]:
            raise KommoError.oauth("Token has been revoked")
        if record["expires_at"] <= time.time():
            raise KommoError.oauth("Token has expired")
        # Rotation: the old refresh token stays valid until the new one is used, so using this one retires
        # its predecessor.
        parent = self._refresh_tokens.get(record["parent"] or "")
        if parent is not None:
            parent["revoked"] = True
        return self.issue_tokens(client_id, parent=str(token))

    # -- faults and the limiter ---------------------------------------------------------------------------------

    def add_fault(self, status: int | None = None, *, delay: float = 0.0, count: int = 1, path_prefix: str = "/",
                  method: str | None = None, retry_after: int | None = None, body_format: str | None = None) -> None:
        """Script the next ``count`` answers under ``path_prefix``: a status code, a delay, or both."""
        if status is None and not delay:
            raise ValueError("a fault needs a status or a delay")
        if status is not None and not 400 <= status <= 599:
            raise ValueError("fault status must be 4xx or 5xx")
        with self.lock:
            self._faults.append(_Fault(status, float(delay), int(count), path_prefix,
                                       method.upper() if method else None, retry_after, body_format))

    def set_down(self, down: bool = True) -> None:
        """While down, every non-``/_fake/`` request is read and the connection closed without an answer."""
        with self.lock:
            self.down = down

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()
            self.down = False

    def unblock(self) -> None:
        """Lift the IP block (the 403 mode) and empty the limiter's window."""
        with self.lock:
            self.blocked = False
            self._violations_since_unblock = 0
            self._window.clear()

    def apply_fault_spec(self, spec: Mapping[str, Any]) -> None:
        """The ``POST /_fake/faults`` body: a scripted fault, ``down``, ``clear``, ``unblock`` and/or config keys."""
        spec = dict(spec)
        if spec.pop("clear", False):
            self.clear_faults()
        if spec.pop("unblock", False):
            self.unblock()
        if "down" in spec:
            self.set_down(bool(spec.pop("down")))
        fault_keys = ["status", "delay", "count", "path_prefix", "method", "format"]
        if "status" in spec:  # a scripted 429's retry_after; without a status it is the limiter's config
            fault_keys.append("retry_after")
        fault = {k: spec.pop(k) for k in fault_keys if k in spec}
        if "status" in fault or "delay" in fault:
            self.add_fault(fault.get("status"), delay=float(fault.get("delay") or 0.0),
                           count=int(fault.get("count", 1)), path_prefix=str(fault.get("path_prefix", "/")),
                           method=fault.get("method"),
                           retry_after=fault.get("retry_after"), body_format=fault.get("format"))
        elif fault:
            raise ValueError("a fault needs a status or a delay")
        if spec:
            self.configure(**spec)

    def faults(self) -> JSONDict:
        with self.lock:
            return {"down": self.down, "blocked": self.blocked, "rate_limit_violations": self.rate_limit_violations,
                    "scripted": [dataclasses.asdict(f) for f in self._faults],
                    "config": dataclasses.asdict(self.config)}

    def is_down(self) -> bool:
        with self.lock:
            return self.down

    def gate(self, method: str, path: str) -> Response | None:
        """The edge in front of the API: IP block, the limiter, then scripted faults (may sleep)."""
        with self.lock:
            if self.blocked:
                return html_response(403, "403 Forbidden")
            if path.startswith("/api/"):
                limited = self._rate_check()
                if limited is not None:
                    return limited
            fault = self._take_fault(method, path)
        if fault is None:
            return None
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status is None:
            return None
        return self._fault_response(fault)

    def _rate_check(self) -> Response | None:
        now = time.monotonic()
        window = self._window
        while window and window[0] <= now - self.config.rate_window:
            window.popleft()
        if self.config.rate_limit is not None and len(window) >= self.config.rate_limit:
            self.rate_limit_violations += 1
            self._violations_since_unblock += 1
            if self.config.block_after is not None and self._violations_since_unblock >= self.config.block_after:
                self.blocked = True
            body = problem_body(429, TOO_MANY_REQUESTS, retry_after=self.config.retry_after)
            return json_response(429, body, PROBLEM_JSON)
        window.append(now)
        return None

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if path.startswith(fault.path_prefix) and fault.method in (None, method):
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_response(self, fault: _Fault) -> Response:
        assert fault.status is not None
        fmt = fault.format or ("html" if fault.status in {502, 503, 504} else "problem")
        if fmt == "html":
            return html_response(fault.status, f"{fault.status} {HTTP_TITLES.get(fault.status, 'Error')}")
        extra: JSONDict = {}
        detail = "Fault injected by the fake Kommo server"
        if fault.status == 429:
            extra["retry_after"] = fault.retry_after if fault.retry_after is not None else self.config.retry_after
            detail = TOO_MANY_REQUESTS
        return json_response(fault.status, problem_body(fault.status, detail, **extra), PROBLEM_JSON)

    # -- request log --------------------------------------------------------------------------------------------

    def log_request(self, entry: JSONDict) -> None:
        with self.lock:
            self._requests.append(entry)
            del self._requests[:-LOG_LIMIT]

    @property
    def requests(self) -> list[JSONDict]:
        """The API request log (a copy): method, path, query, query_string, json, body, headers, status, timestamp."""
        with self.lock:
            return copy.deepcopy(self._requests)

    def clear_requests(self) -> None:
        with self.lock:
            self._requests.clear()

    # -- tags, contacts -----------------------------------------------------------------------------------------

    def _tag(self, name: str) -> JSONDict:
        if name not in self._tags:
            self._tags[name] = self._next_id("tag")
        return {"id": self._tags[name], "name": name}

    def _tag_by_id(self, tag_id: int) -> JSONDict | None:
        return next(({"id": i, "name": n} for n, i in self._tags.items() if i == tag_id), None)

    def create_contact(self, name: str, phones: Sequence[str | Mapping[str, Any]] = (),
                       emails: Sequence[str | Mapping[str, Any]] = (), *, first_name: str | None = None,
                       last_name: str | None = None, responsible_user_id: int = UI_USER_ID,
                       emit: bool = True) -> JSONDict:
        """Create a contact (``contacts[add]`` webhook unless ``emit=False``); returns its REST JSON."""
        with self.lock:
            contact = self._new_contact({"name": name, "phones": list(phones), "emails": list(emails),
                                         "first_name": first_name, "last_name": last_name,
                                         "responsible_user_id": responsible_user_id})
            if emit:
                self._emit([("contacts", "add", [self._contact_item(contact)])])
            return self.render_contact(contact, self.link_base())

    def _new_contact(self, spec: Mapping[str, Any]) -> Contact:
        name = str(spec.get("name") or "").strip()
        first, _, last = name.partition(" ")
        raw: list[JSONDict] = []
        for key, code in (("phones", "PHONE"), ("emails", "EMAIL")):
            values = spec.get(key) or []
            if values:
                raw.append({"field_code": code, "values": list(values)})
        fields, errors = normalize_custom_fields(raw, CONTACT_FIELDS, "contact.custom_fields_values")
        if errors:
            raise KommoError.validation([("0", errors)])
        now = _now()
        responsible = _to_int(spec.get("responsible_user_id")) or UI_USER_ID
        contact = Contact(id=self._next_id("contact"), name=name, first_name=spec.get("first_name") or first,
                          last_name=spec.get("last_name") or last, responsible_user_id=responsible,
                          created_by=UI_USER_ID, updated_by=UI_USER_ID, created_at=now, updated_at=now,
                          custom_fields_values=fields or None)
        self._contacts[contact.id] = contact
        return contact

    def render_contact(self, contact: Contact, base: str, with_: frozenset[str] = frozenset()) -> JSONDict:
        """``GET /api/v4/contacts/{id}`` shape (section 2.4)."""
        embedded: JSONDict = {"tags": [{"id": t["id"], "name": t["name"], "color": None} for t in contact.tags],
                              "companies": []}
        if "leads" in with_:
            embedded["leads"] = [{"id": lead.id, "_links": {"self": {"href": f"{base}/api/v4/leads/{lead.id}"}}}
                                 for lead in self._leads.values() if contact.id in lead.contacts]
        return {"id": contact.id, "name": contact.name, "first_name": contact.first_name,
                "last_name": contact.last_name, "responsible_user_id": contact.responsible_user_id, "group_id": 0,
                "created_by": contact.created_by, "updated_by": contact.updated_by, "created_at": contact.created_at,
                "updated_at": contact.updated_at, "closest_task_at": None,
                "custom_fields_values": copy.deepcopy(contact.custom_fields_values), "account_id": self.account_id,
                "_links": {"self": {"href": f"{base}/api/v4/contacts/{contact.id}"}}, "_embedded": embedded}

    def get_contact(self, contact_id: int) -> JSONDict | None:
        with self.lock:
            contact = self._contacts.get(contact_id)
            return self.render_contact(contact, self.link_base()) if contact else None

    # -- leads --------------------------------------------------------------------------------------------------

    def render_lead(self, lead: Lead, base: str, with_: frozenset[str] = frozenset()) -> JSONDict:
        """``GET /api/v4/leads/{id}`` shape (section 2.3)."""
        embedded: JSONDict = {"tags": [{"id": t["id"], "name": t["name"], "color": None} for t in lead.tags],
                              "companies": []}
        if "contacts" in with_:
            embedded["contacts"] = [
                {"id": cid, "is_main": index == 0, "_links": {"self": {"href": f"{base}/api/v4/contacts/{cid}"}}}
                for index, cid in enumerate(lead.contacts)]
        return {"id": lead.id, "name": lead.name, "price": lead.price,
                "responsible_user_id": lead.responsible_user_id, "group_id": 0, "status_id": lead.status_id,
                "pipeline_id": lead.pipeline_id, "loss_reason_id": lead.loss_reason_id, "source_id": None,
                "created_by": lead.created_by, "updated_by": lead.updated_by, "created_at": lead.created_at,
                "updated_at": lead.updated_at, "closed_at": lead.closed_at, "closest_task_at": None,
                "is_deleted": False, "custom_fields_values": copy.deepcopy(lead.custom_fields_values),
                "score": None, "account_id": self.account_id, "labor_cost": None,
                "_links": {"self": {"href": f"{base}/api/v4/leads/{lead.id}"}}, "_embedded": embedded}

    def get_lead(self, lead_id: int) -> JSONDict | None:
        with self.lock:
            lead = self._leads.get(lead_id)
            return self.render_lead(lead, self.link_base(), frozenset({"contacts"})) if lead else None

    def _lookup_lead(self, lead_id: int) -> Lead:
        lead = self._leads.get(lead_id)
        if lead is None:
            raise KommoError.problem(404, f"Lead {lead_id} not found")
        return lead

    def create_lead(self, name: str, *, status_id: int | None = None, pipeline_id: int | None = None,
                    price: int = 0, tags: Sequence[str] = (), custom_fields: Sequence[Mapping[str, Any]] = (),
                    contact: Mapping[str, Any] | None = None, responsible_user_id: int = UI_USER_ID,
                    emit: bool = True) -> JSONDict:
        """Create a lead (and its contact) as a user would in the Kommo UI; returns the lead's REST JSON.

        Defaults to "Para Llamar" in "Ventas" (or the first stage of ``pipeline_id``). ``contact`` is
        ``{"name", "phones": [...], "emails": [...]}`` or ``{"id": <existing contact>}``. Webhooks, in order:
        ``contacts[add]`` (new contact), ``leads[add]``, and ``leads[status]`` when the lead lands past its
        pipeline's first stage (``old_status_id`` = that first stage; ``config.status_on_add``).
        """
        with self.lock:
            pipeline = pipeline_id if pipeline_id is not None else MAIN_PIPELINE_ID
            if _pipeline(pipeline) is None:
                raise KommoError.validation([("0", [validation_error("NotSupportedChoice", "pipeline_id",
                                                                     NOT_VALID_CHOICE)])])
            if status_id is None:
                status_id = DEFAULT_STATUS_ID if pipeline == MAIN_PIPELINE_ID else _first_status_id(pipeline)
            if status_id not in _pipeline_status_ids(pipeline):
                raise KommoError.validation([("0", [validation_error("NotSupportedChoice", "status_id",
                                                                     NOT_VALID_CHOICE)])])
            fields, errors = normalize_custom_fields(list(custom_fields), LEAD_FIELDS)
            if errors:
                raise KommoError.validation([("0", errors)])
            events: list[tuple[str, str, list[JSONDict]]] = []
            contact_ids: list[int] = []
            if contact is not None:
                existing = _to_int(contact.get("id"))
                if existing is not None:
                    if existing not in self._contacts:
                        raise KommoError.problem(404, f"Contact {existing} not found")
                    contact_ids.append(existing)
                else:
                    new_contact = self._new_contact(contact)
                    contact_ids.append(new_contact.id)
                    events.append(("contacts", "add", [self._contact_item(new_contact)]))
            now = _now()
            lead = Lead(id=self._next_id("lead"), name=name, price=int(price), status_id=status_id,
                        pipeline_id=pipeline, responsible_user_id=responsible_user_id, created_by=UI_USER_ID,
                        updated_by=UI_USER_ID, created_at=now, updated_at=now,
                        closed_at=now if status_id in CLOSED_STATUS_IDS else None,
                        tags=[self._tag(t) for t in dict.fromkeys(tags)], custom_fields_values=fields or None,
                        contacts=contact_ids)
            self._leads[lead.id] = lead
            events.append(("leads", "add", [self._lead_item(lead, "add")]))
            first = _first_status_id(pipeline)
            if self.config.status_on_add and status_id != first:
                events.append(("leads", "status", [self._lead_item(lead, "status", old_status_id=first,
                                                                   old_pipeline_id=pipeline)]))
            if emit:
                self._emit(events)
            return self.render_lead(lead, self.link_base(), frozenset({"contacts"}))

    def move_lead(self, lead_id: int, status_id: int, pipeline_id: int | None = None, *,
                  user_id: int = UI_USER_ID, emit: bool = True) -> JSONDict:
        """Move a lead to another stage (``leads[status]``, plus ``leads[update]`` if ``status_also_update``)."""
        changes: JSONDict = {"status_id": status_id}
        if pipeline_id is not None:
            changes["pipeline_id"] = pipeline_id
        else:
            with self.lock:
                lead = self._lookup_lead(lead_id)
                if status_id not in _pipeline_status_ids(lead.pipeline_id):
                    owner = next((p["id"] for p in PIPELINES if status_id in _pipeline_status_ids(p["id"])), None)
                    if owner is not None:
                        changes["pipeline_id"] = owner
        return self.update_lead(lead_id, changes, user_id=user_id, emit=emit)

    def update_lead(self, lead_id: int, changes: Mapping[str, Any], *, user_id: int = UI_USER_ID,
                    emit: bool = True) -> JSONDict:
        """Apply PATCH-style ``changes`` as a UI user; fires ``leads[update]``/``[status]``/``[responsible]``.

        Besides the PATCH fields, ``tags`` (a list of names, replaces all tags) and ``custom_fields``
        (same input as :meth:`create_lead`) are accepted.
        """
        item = dict(changes)
        if "tags" in item:
            item.setdefault("_embedded", {})["tags"] = [{"name": n} for n in item.pop("tags") or []]
        if "custom_fields" in item:
            item["custom_fields_values"] = item.pop("custom_fields")
        with self.lock:
            self._lookup_lead(lead_id)
            item["id"] = lead_id
            changed = self.patch_leads([item], user_id=user_id, emit=emit)
            return self.render_lead(changed[0].lead, self.link_base(), frozenset({"contacts"}))

    def delete_lead(self, lead_id: int, *, emit: bool = True) -> None:
        """Delete a lead (and its notes); ``leads[delete]`` carries only id, status_id and pipeline_id."""
        with self.lock:
            lead = self._lookup_lead(lead_id)
            del self._leads[lead_id]
            for note_id in [n.id for n in self._notes.values() if n.entity_id == lead_id]:
                del self._notes[note_id]
            if emit:
                self._emit([("leads", "delete", [self._lead_item(lead, "delete")])])

    def patch_leads(self, items: Sequence[Any], *, user_id: int = API_USER_ID,
                    emit: bool = True) -> list[_LeadChange]:
        """Validate every item (all or nothing, 400 ``validation-errors``), apply them, fire the webhooks."""
        with self.lock:
            entries: list[tuple[str, list[JSONDict]]] = []
            for index, item in enumerate(items):
                request_id = str(item.get("request_id", index)) if isinstance(item, Mapping) else str(index)
                entries.append((request_id, self._validate_patch(item)))
            if any(errors for _, errors in entries):
                raise KommoError.validation(entries)
            changes = [self._apply_patch(item, user_id) for item in items]
            if emit:
                self._emit(self._lead_events(changes))
            return changes

    def _validate_patch(self, item: Any) -> list[JSONDict]:
        if not isinstance(item, Mapping):
            return [validation_error("InvalidType", "", "This value should be of type object.")]
        errors: list[JSONDict] = []
        lead = self._leads.get(item["id"]) if _is_int(item.get("id")) else None
        if not _is_int(item.get("id")):
            errors.append(validation_error("NotBlank", "id", "This value should not be blank."))
        elif lead is None:
            errors.append(validation_error("NotFound", "id", "Entity not found."))
        typed = {"name": str, "price": int, "responsible_user_id": int, "updated_by": int, "created_by": int,
                 "created_at": int, "updated_at": int, "closed_at": int, "loss_reason_id": int}
        for key, kind in typed.items():
            value = item.get(key)
            nullable = key in {"closed_at", "loss_reason_id"}
            if key in item and not (value is None and nullable) and (
                    not isinstance(value, kind) or isinstance(value, bool)):
                errors.append(validation_error("InvalidType", key, f"This value should be of type {kind.__name__}."))
        errors.extend(self._validate_stage(item, lead))
        if "custom_fields_values" in item and item["custom_fields_values"] is not None:
            errors.extend(normalize_custom_fields(item["custom_fields_values"], LEAD_FIELDS)[1])
        errors.extend(self._validate_tags(item))
        return errors

    def _validate_stage(self, item: Mapping[str, Any], lead: Lead | None) -> list[JSONDict]:
        errors: list[JSONDict] = []
        pipeline_id: Any = item.get("pipeline_id")
        if "pipeline_id" in item and (not _is_int(pipeline_id) or _pipeline(pipeline_id) is None):
            errors.append(validation_error("NotSupportedChoice", "pipeline_id", NOT_VALID_CHOICE))
            return errors
        if "status_id" in item:
            target = pipeline_id if pipeline_id is not None else (lead.pipeline_id if lead else None)
            status_id = item["status_id"]
            if not _is_int(status_id):
                errors.append(validation_error("InvalidType", "status_id", "This value should be of type int."))
            elif target is not None and status_id not in _pipeline_status_ids(target):
                errors.append(validation_error("NotSupportedChoice", "status_id", NOT_VALID_CHOICE))
        return errors

    def _validate_tags(self, item: Mapping[str, Any]) -> list[JSONDict]:
        errors: list[JSONDict] = []
        embedded = item.get("_embedded")
        groups = [("tags_to_add", item.get("tags_to_add", [])), ("tags_to_delete", item.get("tags_to_delete", []))]
        if isinstance(embedded, Mapping) and embedded.get("tags") is not None:
            groups.append(("_embedded.tags", embedded["tags"]))
        for key, tags in groups:
            if not isinstance(tags, list):
                errors.append(validation_error("InvalidType", key, "This value should be of type array."))
                continue
            for index, tag in enumerate(tags):
                ok = isinstance(tag, Mapping) and (isinstance(tag.get("name"), str) or _is_int(tag.get("id")))
                if ok and key != "tags_to_delete" and "name" not in tag and self._tag_by_id(tag["id"]) is None:
                    ok = False
                if not ok:
                    errors.append(validation_error("NotSupportedChoice", f"{key}.{index}", NOT_VALID_CHOICE))
        return errors

    def _apply_patch(self, item: Mapping[str, Any], user_id: int) -> _LeadChange:
        lead = self._leads[item["id"]]
        before = (lead.name, lead.price, copy.deepcopy(lead.custom_fields_values), list(lead.tags), lead.loss_reason_id)
        change = _LeadChange(lead, lead.status_id, lead.pipeline_id, lead.responsible_user_id, fields_changed=False)
        for key in ("name", "price", "responsible_user_id", "loss_reason_id", "created_by", "created_at"):
            if key in item:
                setattr(lead, key, item[key])
        if "pipeline_id" in item:
            lead.pipeline_id = item["pipeline_id"]
            if "status_id" not in item:
                lead.status_id = _first_status_id(lead.pipeline_id)
        if "status_id" in item:
            lead.status_id = item["status_id"]
        if "custom_fields_values" in item:
            raw = item["custom_fields_values"]  # null clears every field; a list updates the fields it names
            fields = normalize_custom_fields(raw, LEAD_FIELDS)[0] if raw is not None else []
            lead.custom_fields_values = None if raw is None else _merge_custom_fields(lead.custom_fields_values, fields)
        self._apply_tags(lead, item)
        now = _now()
        lead.updated_at = item["updated_at"] if _is_int(item.get("updated_at")) else now
        lead.updated_by = item["updated_by"] if _is_int(item.get("updated_by")) else user_id
        if change.status_changed:
            lead.closed_at = now if lead.status_id in CLOSED_STATUS_IDS else None
        if "closed_at" in item:
            lead.closed_at = item["closed_at"]
        after = (lead.name, lead.price, lead.custom_fields_values, lead.tags, lead.loss_reason_id)
        change.fields_changed = before != after
        return change

    def _apply_tags(self, lead: Lead, item: Mapping[str, Any]) -> None:
        embedded = item.get("_embedded")
        if isinstance(embedded, Mapping) and "tags" in embedded:  # replaces everything, has priority
            lead.tags = [self._resolve_tag(t) for t in embedded["tags"] or []]
            return
        for tag in item.get("tags_to_add") or []:
            resolved = self._resolve_tag(tag)
            if resolved["id"] not in {t["id"] for t in lead.tags}:
                lead.tags = [*lead.tags, resolved]
        for tag in item.get("tags_to_delete") or []:
            lead.tags = [t for t in lead.tags if t["id"] != tag.get("id") and t["name"] != tag.get("name")]

    def _resolve_tag(self, tag: Mapping[str, Any]) -> JSONDict:
        if isinstance(tag.get("name"), str):
            return self._tag(tag["name"])
        found = self._tag_by_id(tag["id"])
        assert found is not None
        return found

    def _lead_events(self, changes: Sequence[_LeadChange]) -> list[tuple[str, str, list[JSONDict]]]:
        status = [self._lead_item(c.lead, "status", old_status_id=c.old_status_id, old_pipeline_id=c.old_pipeline_id)
                  for c in changes if c.status_changed]
        responsible = [self._lead_item(c.lead, "responsible", old_responsible_user_id=c.old_responsible_user_id)
                       for c in changes if c.responsible_changed]
        update = [self._lead_item(c.lead, "update", old_status_id=c.old_status_id) for c in changes
                  if c.fields_changed or c.responsible_changed or (c.status_changed and self.config.status_also_update)]
        events = [("leads", "status", status), ("leads", "responsible", responsible), ("leads", "update", update)]
        return [event for event in events if event[2]]

    # -- notes --------------------------------------------------------------------------------------------------

    def add_notes(self, items: Sequence[Any], *, entity_id: int | None = None,
                  user_id: int = API_USER_ID) -> list[tuple[Note, str]]:
        """``POST /api/v4/leads/notes`` (items carry ``entity_id``) or ``/leads/{entity_id}/notes``."""
        with self.lock:
            entries: list[tuple[str, list[JSONDict]]] = []
            for index, item in enumerate(items):
                request_id = str(item.get("request_id", index)) if isinstance(item, Mapping) else str(index)
                entries.append((request_id, self._validate_note(item, entity_id)))
            if any(errors for _, errors in entries):
                raise KommoError.validation(entries)
            created: list[tuple[Note, str]] = []
            now = _now()
            for (request_id, _), item in zip(entries, items, strict=True):
                target = entity_id if entity_id is not None else int(item["entity_id"])
                creator = item["created_by"] if _is_int(item.get("created_by")) else user_id
                responsible = _to_int(item.get("responsible_user_id")) or self._leads[target].responsible_user_id
                note = Note(id=self._next_id("note"), entity_id=target, note_type=item["note_type"],
                            params=dict(item.get("params") or {}), created_by=creator, updated_by=creator,
                            created_at=now, updated_at=now, responsible_user_id=responsible)
                self._notes[note.id] = note
                created.append((note, request_id))
            return created

    def add_note(self, lead_id: int, text: str, *, note_type: str = "common", service: str | None = None,
                 user_id: int = UI_USER_ID) -> JSONDict:
        """Add a note to a lead from Python; returns the note's REST JSON."""
        params: JSONDict = {"text": text} if service is None else {"service": service, "text": text}
        ((note, _),) = self.add_notes([{"note_type": note_type, "params": params}], entity_id=lead_id, user_id=user_id)
        return self.render_note(note, self.link_base())

    def _validate_note(self, item: Any, entity_id: int | None) -> list[JSONDict]:
        if not isinstance(item, Mapping):
            return [validation_error("InvalidType", "", "This value should be of type object.")]
        errors: list[JSONDict] = []
        target = entity_id if entity_id is not None else item.get("entity_id")
        if not _is_int(target) or target not in self._leads:
            errors.append(validation_error("NotSupportedChoice", "entity_id", NOT_VALID_CHOICE))
        if item.get("note_type") not in NOTE_TYPES:
            errors.append(validation_error("NotSupportedChoice", "note_type", NOT_VALID_CHOICE))
        params = item.get("params")
        if not isinstance(params, Mapping):
            errors.append(validation_error("InvalidType", "params", "This value should be of type object."))
        elif item.get("note_type") in {"common", "service_message", "extended_service_message"} and not isinstance(
                params.get("text"), str):
            errors.append(validation_error("NotBlank", "params.text", "This value should not be blank."))
        return errors

    def render_note(self, note: Note, base: str) -> JSONDict:
        return {"id": note.id, "entity_id": note.entity_id, "created_by": note.created_by,
                "updated_by": note.updated_by, "created_at": note.created_at, "updated_at": note.updated_at,
                "responsible_user_id": note.responsible_user_id, "group_id": 0, "note_type": note.note_type,
                "params": copy.deepcopy(note.params), "account_id": self.account_id, "_links": {"self": {
                    "href": f"{base}/api/v4/{note.entity_type}/{note.entity_id}/notes/{note.id}"}}}

    # -- webhooks subscriptions ---------------------------------------------------------------------------------

    def subscribe_webhook(self, destination: str, settings: Sequence[str], sort: int = 1) -> tuple[JSONDict, bool]:
        """``POST /api/v4/webhooks``: create, or update (and re-enable) the one with the same destination.

        Returns the webhook JSON and whether it was created.
        """
        errors: list[JSONDict] = []
        parsed = urllib.parse.urlsplit(destination) if isinstance(destination, str) else None
        if parsed is None or parsed.scheme not in {"http", "https"} or not parsed.netloc:
            errors.append(validation_error("InvalidUrl", "destination", "This value is not a valid URL."))
        if not isinstance(settings, list | tuple) or not settings:
            errors.append(validation_error("NotBlank", "settings", "This value should not be blank."))
        else:
            errors.extend(validation_error("NotSupportedChoice", f"settings.{i}", NOT_VALID_CHOICE)
                          for i, s in enumerate(settings) if s not in WEBHOOK_SETTINGS)
        if errors:
            raise KommoError.validation([("0", errors)])
        with self.lock:
            now = _now()
            webhook = next((w for w in self._webhooks.values() if w.destination == destination), None)
            created = webhook is None
            if webhook is None:
                if len(self._webhooks) >= MAX_WEBHOOKS:
                    raise KommoError.problem(400, f"Webhooks limit exceeded ({MAX_WEBHOOKS} per account)")
                webhook = Webhook(id=self._next_id("webhook"), destination=destination, settings=list(settings),
                                  sort=sort, created_at=now, updated_at=now, created_by=API_USER_ID)
                self._webhooks[webhook.id] = webhook
            else:
                webhook.settings, webhook.sort, webhook.updated_at = list(settings), sort, now
                webhook.disabled, webhook.invalid_times = False, []
            return self.render_webhook(webhook), created

    def unsubscribe_webhook(self, destination: str) -> bool:
        """``DELETE /api/v4/webhooks``: by destination, not id. Returns whether one was deleted."""
        with self.lock:
            webhook = next((w for w in self._webhooks.values() if w.destination == destination), None)
            if webhook is None:
                return False
            del self._webhooks[webhook.id]
            return True

    def render_webhook(self, webhook: Webhook) -> JSONDict:
        return {"id": webhook.id, "destination": webhook.destination, "created_at": webhook.created_at,
                "updated_at": webhook.updated_at, "account_id": self.account_id, "created_by": webhook.created_by,
                "sort": webhook.sort, "disabled": webhook.disabled, "settings": list(webhook.settings)}

    def webhooks(self) -> list[JSONDict]:
        with self.lock:
            return [self.render_webhook(w) for w in self._webhooks.values()]

    # -- webhook emitter ----------------------------------------------------------------------------------------

    def _lead_item(self, lead: Lead, action: str, *, old_status_id: int | None = None,
                   old_pipeline_id: int | None = None, old_responsible_user_id: int | None = None) -> JSONDict:
        """A lead as the account webhook shows it (section 1.2), keys in the docs' sample order."""
        if action == "delete":
            return {"id": lead.id, "status_id": lead.status_id, "pipeline_id": lead.pipeline_id}
        item: JSONDict = {"id": lead.id, "name": lead.name, "status_id": lead.status_id}
        if action in {"status", "update"}:
            item["old_status_id"] = old_status_id if old_status_id is not None else lead.status_id
        item["price"] = lead.price
        item["responsible_user_id"] = lead.responsible_user_id
        if action == "responsible":
            item["old_responsible_user_id"] = old_responsible_user_id
        item.update(last_modified=lead.updated_at, modified_user_id=lead.updated_by, created_user_id=lead.created_by,
                    date_create=lead.created_at, pipeline_id=lead.pipeline_id)
        if action == "status" and self.config.old_pipeline_id:
            item["old_pipeline_id"] = old_pipeline_id if old_pipeline_id is not None else lead.pipeline_id
        if lead.tags:
            item["tags"] = [{"id": t["id"], "name": t["name"]} for t in lead.tags]
        item["account_id"] = self.account_id
        if lead.custom_fields_values:
            item["custom_fields"] = webhook_custom_fields(lead.custom_fields_values)
        item.update(created_at=lead.created_at, updated_at=lead.updated_at)
        return item

    def lead_webhook_item(self, lead_id: int, action: str, **old: int) -> JSONDict:
        """The webhook item of a stored lead, e.g. ``lead_webhook_item(1, "status", old_status_id=67548607)``."""
        with self.lock:
            return self._lead_item(self._lookup_lead(lead_id), action, **old)

    def _contact_item(self, contact: Contact) -> JSONDict:
        item: JSONDict = {"id": contact.id, "name": contact.name, "responsible_user_id": contact.responsible_user_id,
                          "date_create": contact.created_at, "last_modified": contact.updated_at,
                          "created_user_id": contact.created_by, "modified_user_id": contact.updated_by,
                          "account_id": self.account_id, "created_at": contact.created_at,
                          "updated_at": contact.updated_at, "type": "contact"}
        if contact.custom_fields_values:
            item["custom_fields"] = webhook_custom_fields(contact.custom_fields_values)
        return item

    def emit_webhook(self, entity: str, action: str, items: list[dict[str, Any]]) -> int:
        """POST ``entity[action][0..n]`` (webhook-shaped ``items``) to every enabled subscriber of that event.

        Returns how many POSTs were queued (one per subscriber). Delivery runs in a background thread.
        """
        with self.lock:
            return self._emit([(entity, action, list(items))])

    def _emit(self, events: Sequence[tuple[str, str, list[JSONDict]]]) -> int:
        queued = 0
        account = self.account_block()
        for webhook in sorted(self._webhooks.values(), key=lambda w: (w.sort, w.id)):
            if webhook.disabled:
                continue
            wanted = [e for e in events if e[2] and webhook_setting(e[0], e[1]) in webhook.settings]
            groups = [wanted] if self.config.mix_actions and wanted else [[e] for e in wanted]
            for group in groups:
                body = encode_webhook_groups(group, account)
                self._enqueue(_Delivery(due=time.monotonic(), seq=0, delivery_id=self._next_id("delivery"),
                                        webhook_id=webhook.id, destination=webhook.destination, body=body,
                                        events=[f"{e}[{a}]" for e, a, _ in group]))
                queued += 1
        return queued

    def _enqueue(self, job: _Delivery) -> None:
        self._seq += 1
        job.seq = self._seq
        heapq.heappush(self._queue, job)
        if self._worker is None or not self._worker.is_alive():
            self._closing = False
            self._worker = threading.Thread(target=self._delivery_loop, name="fake-kommo-webhooks", daemon=True)
            self._worker.start()
        self._cond.notify_all()

    def _next_job(self) -> _Delivery | None:
        with self._cond:
            while not self._closing:
                now = time.monotonic()
                if self._queue and self._queue[0].due <= now:
                    job = heapq.heappop(self._queue)
                    webhook = self._webhooks.get(job.webhook_id)
                    if webhook is None or webhook.disabled or webhook.destination != job.destination:
                        continue  # unsubscribed or disabled meanwhile: drop
                    self._inflight += 1
                    return job
                self._cond.wait(self._queue[0].due - now if self._queue else None)
            return None

    def _delivery_loop(self) -> None:
        while (job := self._next_job()) is not None:
            with self.lock:
                timeout, user_agent = self.config.webhook_timeout, self.config.webhook_user_agent
            started = time.time()
            status, error = post_form(job.destination, job.body, timeout=timeout, user_agent=user_agent)
            elapsed = time.time() - started
            if status is not None and elapsed > timeout:
                error = f"answered after {elapsed:.2f}s (> {timeout}s)"
            ok = error is None and status is not None and 100 <= status <= 299
            with self._cond:
                self._inflight -= 1
                self._record_delivery(job, status=status, error=None if ok else (error or f"HTTP {status}"), ok=ok,
                                      started=started, elapsed=elapsed)
                self._cond.notify_all()

    def _record_delivery(self, job: _Delivery, *, status: int | None, error: str | None, ok: bool, started: float,
                         elapsed: float) -> None:
        next_retry: float | None = None
        webhook = self._webhooks.get(job.webhook_id)
        if not ok and webhook is not None:
            now = time.time()
            webhook.invalid_times = [t for t in webhook.invalid_times if t > now - self.config.disable_window]
            webhook.invalid_times.append(now)
            if len(webhook.invalid_times) > self.config.disable_after:
                webhook.disabled = True
            schedule = self.config.retry_schedule
            if not webhook.disabled and job.attempt <= len(schedule):
                next_retry = schedule[job.attempt - 1]
                self._enqueue(dataclasses.replace(job, due=time.monotonic() + next_retry, attempt=job.attempt + 1))
        self._deliveries.append({
            "id": job.delivery_id, "attempt": job.attempt, "webhook_id": job.webhook_id,
            "destination": job.destination, "events": list(job.events), "content_type": FORM_URLENCODED,
            "body": job.body, "status": status, "error": error, "ok": ok, "timestamp": started,
            "elapsed": round(elapsed, 4), "next_retry_in": next_retry,
            "webhook_disabled": bool(webhook and webhook.disabled)})
        del self._deliveries[:-LOG_LIMIT]

    @property
    def deliveries(self) -> list[JSONDict]:
        """Every delivery attempt so far (a copy): id, attempt, destination, events, body, status, error, ok, ..."""
        with self.lock:
            return copy.deepcopy(self._deliveries)

    def wait_for_deliveries(self, count: int, timeout: float = 5.0) -> list[JSONDict]:
        """Block until at least ``count`` delivery attempts were recorded (or ``timeout``); returns them."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._deliveries) >= count, timeout)
            return copy.deepcopy(self._deliveries)

    def pending_deliveries(self) -> int:
        with self.lock:
            return len(self._queue) + self._inflight

    def flush_retries(self) -> int:
        """Make every scheduled retry due now (the demo's "retry now" button); returns how many."""
        with self._cond:
            now = time.monotonic()
            for job in self._queue:
                job.due = now
            heapq.heapify(self._queue)
            self._cond.notify_all()
            return len(self._queue)

    # -- snapshots, persistence, demo data ----------------------------------------------------------------------

    def snapshot(self) -> JSONDict:
        """``GET /_fake/state``: everything, in the REST shapes (leads with contacts)."""
        with self.lock:
            base = self.link_base()
            return {
                "account": {"id": self.account_id, "name": self.account_name, "subdomain": self.subdomain},
                "leads": [self.render_lead(lead, base, frozenset({"contacts"})) for lead in self._leads.values()],
                "contacts": [self.render_contact(c, base) for c in self._contacts.values()],
                "notes": [self.render_note(n, base) for n in self._notes.values()],
                "webhooks": [self.render_webhook(w) for w in self._webhooks.values()],
                "tags": [{"id": i, "name": n} for n, i in self._tags.items()],
                "deliveries": copy.deepcopy(self._deliveries),
                "pending_deliveries": len(self._queue) + self._inflight, "holds": self.holds.snapshot(),
                **{k: v for k, v in self.faults().items() if k != "scripted"},
            }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write leads, contacts, notes, webhooks, tags and OAuth tokens to ``path`` (atomically)."""
        with self.lock:
            data = {
                "version": 1, "next_ids": self._next_ids, "tags": self._tags,
                "leads": [dataclasses.asdict(x) for x in self._leads.values()],
                "contacts": [dataclasses.asdict(x) for x in self._contacts.values()],
                "notes": [dataclasses.asdict(x) for x in self._notes.values()],
                "webhooks": [dataclasses.asdict(x) for x in self._webhooks.values()],
                "access_tokens": self._access_tokens, "refresh_tokens": self._refresh_tokens,
                "auth_codes": self._auth_codes,
            }
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
            tmp.replace(target)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Load what :meth:`save` wrote."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        with self.lock:
            self._next_ids.update(data.get("next_ids", {}))
            self._tags = dict(data.get("tags", {}))
            self._leads = {x["id"]: Lead(**x) for x in data.get("leads", [])}
            self._contacts = {x["id"]: Contact(**x) for x in data.get("contacts", [])}
            self._notes = {x["id"]: Note(**x) for x in data.get("notes", [])}
            self._webhooks = {x["id"]: Webhook(**x) for x in data.get("webhooks", [])}
            self._access_tokens = dict(data.get("access_tokens", {}))
            self._refresh_tokens = dict(data.get("refresh_tokens", {}))
            self._auth_codes = dict(data.get("auth_codes", {}))

    def persist(self) -> None:
        if self.state_file:
            self.save(self.state_file)

    def seed_demo(self) -> None:
        """A few Spanish demo leads with contacts, created without webhooks."""
        samples = [
            ("Pedido 1042", STATUS_TO_CALL, 1000, ["vip"], "Ana Pérez", "+34600111222", "ana@example.com"),
            ("Consulta tarifa empresas", STATUS_INITIAL_CONTACT, 0, [], "Jordi Puig", "+34611222333", None),
            ("Renovación contrato", STATUS_SALE_CONFIRMED, 2500, ["renovación"], "Lucía Gómez", "+34622333444",
             "lucia@example.com"),
        ]
        for name, status_id, price, tags, contact, phone, mail in samples:
            self.create_lead(name, status_id=status_id, price=price, tags=tags, emit=False,
                             custom_fields=[{"field_id": 1246489, "values": [{"value": "WhatsApp"}]}],
                             contact={"name": contact, "phones": [phone], "emails": [mail] if mail else []})


def post_form(url: str, body: str, *, timeout: float = 2.0,
              user_agent: str = "amoCRM-WebHook-client/1.0") -> tuple[int | None, str | None]:
    """POST a form body without following redirects; returns (status, None) or (None, error)."""
    parts = urllib.parse.urlsplit(url)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.netloc, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parts.netloc, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", path, body=body.encode(), headers={
            "Content-Type": FORM_URLENCODED, "User-Agent": user_agent, "Accept": "*/*"})
        response = conn.getresponse()
        response.read()
        return response.status, None
    except TimeoutError:
        return None, f"timeout after {timeout}s"
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------------------------
# HTTP layer
# --------------------------------------------------------------------------------------------------------------


@dataclass
class _Request:
    method: str
    path: str
    query_string: str
    query: list[tuple[str, str]]
    body: bytes
    headers: email.message.Message
    base: str

    def param(self, key: str) -> str | None:
        return next((v for k, v in self.query if k == key), None)

    def with_(self) -> frozenset[str]:
        return frozenset(x.strip() for x in (self.param("with") or "").split(",") if x.strip())

    def json(self) -> Any:
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise KommoError.problem(400, f"Invalid JSON body: {exc}") from exc

    def json_or_form(self) -> Any:
        content_type = self.headers.get("Content-Type") or ""
        if content_type.startswith(FORM_URLENCODED):
            return dict(urllib.parse.parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))
        return self.json()


Route = tuple[str, re.Pattern[str], Callable[[_Request, re.Match[str]], Response]]


def _match(routes: Sequence[Route], req: _Request, not_found: Callable[[], Response]) -> Response:
    path = req.path.rstrip("/") or "/"
    allowed = False
    for method, pattern, handler in routes:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        if method == req.method:
            return handler(req, match)
        allowed = True
    if allowed:
        return json_response(405, problem_body(405, f"Method {req.method} not allowed"), PROBLEM_JSON)
    return not_found()


def _ids_filter(query: Sequence[tuple[str, str]], name: str) -> set[int]:
    pattern = re.compile(rf"filter\[{re.escape(name)}\](\[\d*\])?")
    ids: set[int] = set()
    for key, value in query:
        if pattern.fullmatch(key):
            ids.update(int(v) for v in value.split(",") if v.strip().isdigit())
    return ids


def _paging(req: _Request) -> tuple[int, int]:
    limit = _to_int(req.param("limit")) or DEFAULT_PER_PAGE
    if limit > MAX_PER_PAGE:
        raise KommoError.problem(422, f"Limit {MAX_PER_PAGE} per page")
    page = max(_to_int(req.param("page")) or 1, 1)
    return max(limit, 1), page


def _paginate(req: _Request, key: str, items: Sequence[Any], render: Callable[[Any], JSONDict]) -> Response:
    """``_page`` + ``_links`` (self/next/first/prev) + ``_embedded``; 204 with no body for an empty page."""
    limit, page = _paging(req)
    chunk = items[(page - 1) * limit: page * limit]
    if not chunk:
        return Response(204)
    kept = [(k, v) for k, v in req.query if k not in {"page", "limit"}]

    def href(number: int) -> JSONDict:
        query = urllib.parse.urlencode([*kept, ("limit", str(limit)), ("page", str(number))])
        return {"href": f"{req.base}{req.path}?{query}"}

    links: JSONDict = {"self": href(page)}
    if page * limit < len(items):
        links["next"] = href(page + 1)
    links["first"] = href(1)
    if page > 1:
        links["prev"] = href(page - 1)
    return json_response(200, {"_page": page, "_links": links, "_embedded": {key: [render(x) for x in chunk]}})


def _ordered(req: _Request, items: list[Any]) -> list[Any]:
    for key in ("id", "created_at", "updated_at"):
        direction = req.param(f"order[{key}]")
        if direction:
            return sorted(items, key=lambda x: getattr(x, key), reverse=direction.lower() == "desc")
    return sorted(items, key=lambda x: x.id)


class _RestApi:
    """``/api/v4/*``, ``/oauth2/access_token`` and the ``/oauth`` consent shortcut."""

    def __init__(self, fake: FakeKommo) -> None:
        self.fake = fake
        lead = r"/api/v4/leads/(\d+)"
        pipeline = r"/api/v4/leads/pipelines/(\d+)"
        self.routes: list[Route] = [
            ("GET", re.compile(r"/api/v4/account"), self.get_account),
            ("GET", re.compile(r"/api/v4/leads/pipelines"), self.list_pipelines),
            ("GET", re.compile(pipeline), self.get_pipeline),
            ("GET", re.compile(pipeline + r"/statuses"), self.list_statuses),
            ("GET", re.compile(pipeline + r"/statuses/(\d+)"), self.get_status),
            ("GET", re.compile(r"/api/v4/(leads|contacts)/custom_fields"), self.list_custom_fields),
            ("GET", re.compile(r"/api/v4/leads"), self.list_leads),
            ("PATCH", re.compile(r"/api/v4/leads"), self.patch_leads),
            ("GET", re.compile(r"/api/v4/leads/notes"), self.list_all_notes),
            ("POST", re.compile(r"/api/v4/leads/notes"), self.add_notes),
            ("GET", re.compile(lead), self.get_lead),
            ("PATCH", re.compile(lead), self.patch_lead),
            ("GET", re.compile(lead + r"/notes"), self.list_lead_notes),
            ("POST", re.compile(lead + r"/notes"), self.add_lead_notes),
            ("GET", re.compile(lead + r"/notes/(\d+)"), self.get_note),
            ("GET", re.compile(r"/api/v4/contacts"), self.list_contacts),
            ("GET", re.compile(r"/api/v4/contacts/(\d+)"), self.get_contact),
            ("GET", re.compile(r"/api/v4/webhooks"), self.list_webhooks),
            ("POST", re.compile(r"/api/v4/webhooks"), self.add_webhook),
            ("DELETE", re.compile(r"/api/v4/webhooks"), self.delete_webhook),
            ("POST", re.compile(r"/oauth2/access_token"), self.access_token),
            ("GET", re.compile(r"/oauth"), self.authorize),
        ]

    def handle(self, req: _Request) -> Response:
        try:
            if req.path.startswith("/api/") and not self.fake.is_authorized(req.headers.get("Authorization")):
                raise KommoError.problem(401, "Invalid user name or password")
            return _match(self.routes, req, lambda: self.not_found(req))
        except KommoError as exc:
            return exc.response

    def not_found(self, req: _Request) -> Response:
        return json_response(404, problem_body(404, f"Cannot {req.method} {self.fake.account_url}{req.path}"),
                             PROBLEM_JSON)

    # account, pipelines, fields

    def get_account(self, req: _Request, _: re.Match[str]) -> Response:
        fake = self.fake
        return json_response(200, {
            "id": fake.account_id, "name": fake.account_name, "subdomain": fake.subdomain, "created_at": 1582117331,
            "created_by": UI_USER_ID, "updated_at": 1582117331, "updated_by": UI_USER_ID,
            "current_user_id": API_USER_ID, "country": "ES", "currency": "EUR", "currency_symbol": "€",
            "customers_mode": "disabled", "is_unsorted_on": True, "is_loss_reason_enabled": True,
            "is_helpbot_enabled": False, "is_technical_account": False, "contact_name_display_order": 1,
            "_links": {"self": {"href": f"{req.base}/api/v4/account"}}})

    def _render_status(self, req: _Request, pipeline_id: int, status: JSONDict) -> JSONDict:
        href = f"{req.base}/api/v4/leads/pipelines/{pipeline_id}/statuses/{status['id']}"
        return {**status, "pipeline_id": pipeline_id, "account_id": self.fake.account_id,
                "_links": {"self": {"href": href}}}

    def _render_pipeline(self, req: _Request, pipeline: JSONDict) -> JSONDict:
        statuses = [self._render_status(req, pipeline["id"], s) for s in pipeline["statuses"]]
        return {**{k: v for k, v in pipeline.items() if k != "statuses"}, "account_id": self.fake.account_id,
                "_links": {"self": {"href": f"{req.base}/api/v4/leads/pipelines/{pipeline['id']}"}},
                "_embedded": {"statuses": statuses}}

    def _pipeline(self, match: re.Match[str]) -> JSONDict:
        pipeline = _pipeline(int(match.group(1)))
        if pipeline is None:
            raise KommoError.problem(404, f"Pipeline {match.group(1)} not found")
        return pipeline

    def list_pipelines(self, req: _Request, _: re.Match[str]) -> Response:
        return json_response(200, {"_total_items": len(PIPELINES),
                                   "_links": {"self": {"href": f"{req.base}/api/v4/leads/pipelines"}},
                                   "_embedded": {"pipelines": [self._render_pipeline(req, p) for p in PIPELINES]}})

    def get_pipeline(self, req: _Request, match: re.Match[str]) -> Response:
        return json_response(200, self._render_pipeline(req, self._pipeline(match)))

    def list_statuses(self, req: _Request, match: re.Match[str]) -> Response:
        pipeline = self._pipeline(match)
        statuses = [self._render_status(req, pipeline["id"], s) for s in pipeline["statuses"]]
        return json_response(200, {"_total_items": len(statuses), "_links": {"self": {
            "href": f"{req.base}/api/v4/leads/pipelines/{pipeline['id']}/statuses"}},
            "_embedded": {"statuses": statuses}})

    def get_status(self, req: _Request, match: re.Match[str]) -> Response:
        pipeline = self._pipeline(match)
        status = next((s for s in pipeline["statuses"] if s["id"] == int(match.group(2))), None)
        if status is None:
            raise KommoError.problem(404, f"Status {match.group(2)} not found")
        return json_response(200, self._render_status(req, pipeline["id"], status))

    def list_custom_fields(self, req: _Request, match: re.Match[str]) -> Response:
        entity = match.group(1)
        catalog = LEAD_FIELDS if entity == "leads" else CONTACT_FIELDS
        fields = [{**spec, "entity_type": entity, "is_api_only": False,
                   "_links": {"self": {"href": f"{req.base}/api/v4/{entity}/custom_fields/{spec['id']}"}}}
                  for spec in catalog]
        return _paginate(req, "custom_fields", fields, lambda x: x)

    # leads

    def list_leads(self, req: _Request, _: re.Match[str]) -> Response:
        ids = _ids_filter(req.query, "id")
        pipelines = _ids_filter(req.query, "pipeline_id")
        responsible = _ids_filter(req.query, "responsible_user_id")
        stages: dict[str, dict[str, int]] = {}
        for key, value in req.query:
            found = re.fullmatch(r"filter\[statuses\]\[(\d+)\]\[(status_id|pipeline_id)\]", key)
            if found and value.isdigit():
                stages.setdefault(found.group(1), {})[found.group(2)] = int(value)
        text = (req.param("query") or "").lower()

        def keep(lead: Lead) -> bool:
            in_stage = not stages or any(
                s.get("status_id", lead.status_id) == lead.status_id
                and s.get("pipeline_id", lead.pipeline_id) == lead.pipeline_id for s in stages.values())
            return (in_stage and (not ids or lead.id in ids) and (not pipelines or lead.pipeline_id in pipelines)
                    and (not responsible or lead.responsible_user_id in responsible)
                    and (not text or text in lead.name.lower() or text == str(lead.id)))

        with_ = req.with_()
        with self.fake.lock:
            leads = _ordered(req, [lead for lead in self.fake._leads.values() if keep(lead)])
            return _paginate(req, "leads", leads, lambda lead: self.fake.render_lead(lead, req.base, with_))

    def get_lead(self, req: _Request, match: re.Match[str]) -> Response:
        with self.fake.lock:
            lead = self.fake._lookup_lead(int(match.group(1)))
            return json_response(200, self.fake.render_lead(lead, req.base, req.with_()))

    def patch_leads(self, req: _Request, _: re.Match[str]) -> Response:
        items = req.json()
        if not isinstance(items, list):
            raise KommoError.validation([("0", [validation_error("InvalidType", "", "This value should be of type "
                                                                                   "array.")])])
        if len(items) > MAX_PER_PAGE:
            raise KommoError.problem(422, f"Limit {MAX_PER_PAGE} entities per request")
        over = self.fake.config.batch_504_over
        if over is not None and len(items) > over:
            return html_response(504, "504 Gateway Time-out")
        changes = self.fake.patch_leads(items, user_id=API_USER_ID)
        leads = [{"id": c.lead.id, "updated_at": c.lead.updated_at,
                  "request_id": str(item.get("request_id", index)),
                  "_links": {"self": {"href": f"{req.base}/api/v4/leads/{c.lead.id}"}}}
                 for index, (c, item) in enumerate(zip(changes, items, strict=True))]
        return json_response(200, {"_links": {"self": {"href": f"{req.base}/api/v4/leads"}},
                                   "_embedded": {"leads": leads}})

    def patch_lead(self, req: _Request, match: re.Match[str]) -> Response:
        lead_id = int(match.group(1))
        item = req.json()
        if not isinstance(item, dict):
            raise KommoError.validation([("0", [validation_error("InvalidType", "", "This value should be of type "
                                                                                   "object.")])])
        with self.fake.lock:
            self.fake._lookup_lead(lead_id)
            (change,) = self.fake.patch_leads([{**item, "id": lead_id}], user_id=API_USER_ID)
        return json_response(200, {"id": lead_id, "updated_at": change.lead.updated_at,
                                   "_links": {"self": {"href": f"{req.base}/api/v4/leads/{lead_id}"}}})

    # notes

    def _notes_response(self, req: _Request, created: list[tuple[Note, str]]) -> Response:
        notes = [{"id": note.id, "entity_id": note.entity_id, "request_id": request_id,
                  "_links": {"self": {"href": f"{req.base}/api/v4/leads/{note.entity_id}/notes/{note.id}"}}}
                 for note, request_id in created]
        return json_response(200, {"_links": {"self": {"href": f"{req.base}{req.path}"}},
                                   "_embedded": {"notes": notes}})

    def _note_items(self, req: _Request) -> list[Any]:
        items = req.json()
        if not isinstance(items, list):
            raise KommoError.validation([("0", [validation_error("InvalidType", "", "This value should be of type "
                                                                                   "array.")])])
        if len(items) > MAX_PER_PAGE:
            raise KommoError.problem(422, f"Limit {MAX_PER_PAGE} entities per request")
        return items

    def add_notes(self, req: _Request, _: re.Match[str]) -> Response:
        return self._notes_response(req, self.fake.add_notes(self._note_items(req)))

    def add_lead_notes(self, req: _Request, match: re.Match[str]) -> Response:
        lead_id = int(match.group(1))
        with self.fake.lock:
            self.fake._lookup_lead(lead_id)
        return self._notes_response(req, self.fake.add_notes(self._note_items(req), entity_id=lead_id))

    def list_lead_notes(self, req: _Request, match: re.Match[str]) -> Response:
        lead_id = int(match.group(1))
        with self.fake.lock:
            self.fake._lookup_lead(lead_id)
            notes = _ordered(req, [n for n in self.fake._notes.values() if n.entity_id == lead_id])
            return _paginate(req, "notes", notes, lambda n: self.fake.render_note(n, req.base))

    def list_all_notes(self, req: _Request, _: re.Match[str]) -> Response:
        entity_ids = _ids_filter(req.query, "entity_id")
        with self.fake.lock:
            notes = _ordered(req, [n for n in self.fake._notes.values() if not entity_ids or n.entity_id in entity_ids])
            return _paginate(req, "notes", notes, lambda n: self.fake.render_note(n, req.base))

    def get_note(self, req: _Request, match: re.Match[str]) -> Response:
        with self.fake.lock:
            note = self.fake._notes.get(int(match.group(2)))
            if note is None or note.entity_id != int(match.group(1)):
                raise KommoError.problem(404, f"Note {match.group(2)} not found")
            return json_response(200, self.fake.render_note(note, req.base))

    # contacts

    def list_contacts(self, req: _Request, _: re.Match[str]) -> Response:
        ids = _ids_filter(req.query, "id")
        text = (req.param("query") or "").strip().lower()
        digits = re.sub(r"\D", "", text)

        def keep(contact: Contact) -> bool:
            if ids and contact.id not in ids:
                return False
            if not text:
                return True
            values = [str(v.get("value", "")) for cf in contact.custom_fields_values or [] for v in cf["values"]]
            return text in contact.name.lower() or any(text in v.lower() for v in values) or bool(
                digits and len(digits) >= 5 and any(digits in re.sub(r"\D", "", v) for v in values))

        with_ = req.with_()
        with self.fake.lock:
            contacts = _ordered(req, [c for c in self.fake._contacts.values() if keep(c)])
            return _paginate(req, "contacts", contacts, lambda c: self.fake.render_contact(c, req.base, with_))

    def get_contact(self, req: _Request, match: re.Match[str]) -> Response:
        with self.fake.lock:
            contact = self.fake._contacts.get(int(match.group(1)))
            if contact is None:
                raise KommoError.problem(404, f"Contact {match.group(1)} not found")
            return json_response(200, self.fake.render_contact(contact, req.base, req.with_()))

    # webhooks

    def list_webhooks(self, req: _Request, _: re.Match[str]) -> Response:
        destination = req.param("filter[destination]")
        webhooks = [w for w in self.fake.webhooks() if destination is None or w["destination"] == destination]
        if not webhooks:
            return Response(204)
        return json_response(200, {"_total_items": len(webhooks), "_embedded": {"webhooks": webhooks}})

    def add_webhook(self, req: _Request, _: re.Match[str]) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise KommoError.problem(400, "Request validation failed")
        sort = _to_int(body.get("sort")) or 1
        webhook, created = self.fake.subscribe_webhook(body.get("destination") or "", body.get("settings") or [], sort)
        return json_response(self.fake.config.webhook_post_status if created else 200, webhook)

    def delete_webhook(self, req: _Request, _: re.Match[str]) -> Response:
        body = req.json()
        destination = body.get("destination") if isinstance(body, dict) else None
        if not isinstance(destination, str) or not destination:
            raise KommoError.validation([("0", [validation_error("NotBlank", "destination",
                                                                 "This value should not be blank.")])])
        if not self.fake.unsubscribe_webhook(destination):
            raise KommoError.problem(404, "Webhook not found")
        return Response(204)

    # oauth

    def access_token(self, req: _Request, _: re.Match[str]) -> Response:
        params = req.json_or_form()
        if not isinstance(params, dict):
            raise KommoError.oauth("Check the `grant_type` parameter")
        return json_response(200, self.fake.oauth_token(params), PLAIN_JSON)

    def authorize(self, req: _Request, _: re.Match[str]) -> Response:
        """Consent shortcut for the demo: redirects straight to ``redirect_uri`` with a fresh code."""
        redirect_uri = req.param("redirect_uri") or self.fake.redirect_uri
        if not redirect_uri:
            return Response(400, b"redirect_uri is not configured", "text/plain; charset=utf-8")
        client_id = req.param("client_id") or self.fake.client_id or ""
        params = {"state": req.param("state") or "", "client_id": client_id}
        if req.param("decline"):
            params = {"error": "access_denied", **params}
        else:
            params = {"code": self.fake.issue_auth_code(client_id or None), **params,
                      "referer": f"{self.fake.subdomain}.kommo.com"}
        separator = "&" if "?" in redirect_uri else "?"
        return Response(302, b"", None, {"Location": f"{redirect_uri}{separator}{urllib.parse.urlencode(params)}"})


class _ControlApi:
    """``/_fake/*``: no auth, plain JSON. See the module docstring and the report for the list."""

    def __init__(self, fake: FakeKommo) -> None:
        self.fake = fake
        lead = r"/_fake/leads/(\d+)"
        self.routes: list[Route] = [
            ("GET", re.compile(r"/_fake/health"), lambda req, m: self.ok({"ok": True})),
            ("GET", re.compile(r"/_fake/state"), lambda req, m: self.ok(self.fake.snapshot())),
            ("GET", re.compile(r"/_fake/requests"), lambda req, m: self.ok({"requests": self.fake.requests})),
            ("DELETE", re.compile(r"/_fake/requests"), self.clear_requests),
            ("GET", re.compile(r"/_fake/deliveries"), lambda req, m: self.ok({"deliveries": self.fake.deliveries})),
            ("POST", re.compile(r"/_fake/reset"), self.reset),
            ("GET", re.compile(r"/_fake/faults"), lambda req, m: self.ok(self.fake.faults())),
            ("POST", re.compile(r"/_fake/faults"), self.set_faults),
            ("DELETE", re.compile(r"/_fake/faults"), self.clear_faults),
            ("POST", re.compile(r"/_fake/hold"), self.hold),
            ("POST", re.compile(r"/_fake/release"), self.release),
            ("POST", re.compile(r"/_fake/config"), self.set_config),
            ("POST", re.compile(r"/_fake/unblock"), self.unblock),
            ("POST", re.compile(r"/_fake/leads"), self.create_lead),
            ("GET", re.compile(lead), self.get_lead),
            ("DELETE", re.compile(lead), self.delete_lead),
            ("POST", re.compile(lead + r"/move"), self.move_lead),
            ("POST", re.compile(lead + r"/update"), self.update_lead),
            ("POST", re.compile(lead + r"/notes"), self.add_note),
            ("POST", re.compile(r"/_fake/contacts"), self.create_contact),
            ("GET", re.compile(r"/_fake/webhooks"), lambda req, m: self.ok({"webhooks": self.fake.webhooks()})),
            ("POST", re.compile(r"/_fake/webhooks"), self.add_webhook),
            ("DELETE", re.compile(r"/_fake/webhooks"), self.delete_webhook),
            ("POST", re.compile(r"/_fake/webhooks/flush"), self.flush),
            ("POST", re.compile(r"/_fake/emit"), self.emit),
            ("POST", re.compile(r"/_fake/oauth/code"), self.oauth_code),
            ("POST", re.compile(r"/_fake/oauth/tokens"), self.oauth_tokens),
            ("POST", re.compile(r"/_fake/oauth/revoke"), self.oauth_revoke),
            ("POST", re.compile(r"/_fake/oauth/expire"), self.oauth_expire),
        ]

    @staticmethod
    def ok(payload: Any, status: int = 200) -> Response:
        return json_response(status, payload, PLAIN_JSON)

    def handle(self, req: _Request) -> Response:
        try:
            response = _match(self.routes, req, lambda: self.ok({"error": f"no such control endpoint {req.path}"},
                                                                404))
        except KommoError as exc:
            failed = exc.response
            return Response(failed.status, failed.body, PLAIN_JSON, failed.headers)
        except (ValueError, TypeError, KeyError) as exc:
            return self.ok({"error": str(exc)}, 400)
        if req.method != "GET":
            self.fake.persist()
        return response

    @staticmethod
    def _body(req: _Request) -> JSONDict:
        body = req.json()
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object")
        return body

    def clear_requests(self, req: _Request, _: re.Match[str]) -> Response:
        self.fake.clear_requests()
        return self.ok({"ok": True})

    def reset(self, req: _Request, _: re.Match[str]) -> Response:
        body = self._body(req)
        self.fake.reset(keep_webhooks=bool(body.get("keep_webhooks", False)),
                        keep_tokens=bool(body.get("keep_tokens", True)))
        if body.get("seed_demo"):
            self.fake.seed_demo()
        return self.ok({"ok": True})

    def set_faults(self, req: _Request, _: re.Match[str]) -> Response:
        body = req.json()
        for spec in body if isinstance(body, list) else [body or {}]:
            if not isinstance(spec, dict):
                raise ValueError("expected a JSON object or a list of objects")
            self.fake.apply_fault_spec(spec)
        return self.ok(self.fake.faults())

    def clear_faults(self, req: _Request, _: re.Match[str]) -> Response:
        self.fake.clear_faults()
        return self.ok(self.fake.faults())

    def hold(self, req: _Request, _: re.Match[str]) -> Response:
        body = self._body(req)
        self.fake.hold_next(int(body.get("count") or 1), path=str(body.get("path") or ""), method=body.get("method"),
                            on_disconnect=str(body.get("on_disconnect") or "drop"))
        return self.ok(self.fake.holds.snapshot())

    def release(self, req: _Request, _: re.Match[str]) -> Response:
        self.fake.release()
        return self.ok(self.fake.holds.snapshot())

    def set_config(self, req: _Request, _: re.Match[str]) -> Response:
        return self.ok(dataclasses.asdict(self.fake.configure(**self._body(req))))

    def unblock(self, req: _Request, _: re.Match[str]) -> Response:
        self.fake.unblock()
        return self.ok(self.fake.faults())

    def create_lead(self, req: _Request, _: re.Match[str]) -> Response:
        body = self._body(req)
        lead = self.fake.create_lead(
            str(body.get("name") or "Lead"), status_id=_to_int(body.get("status_id")),
            pipeline_id=_to_int(body.get("pipeline_id")), price=_to_int(body.get("price")) or 0,
            tags=[str(t) for t in body.get("tags") or []], custom_fields=body.get("custom_fields") or [],
            contact=body.get("contact"), responsible_user_id=_to_int(body.get("responsible_user_id")) or UI_USER_ID,
            emit=bool(body.get("emit", True)))
        return self.ok(lead, 201)

    def get_lead(self, req: _Request, match: re.Match[str]) -> Response:
        lead = self.fake.get_lead(int(match.group(1)))
        return self.ok(lead) if lead else self.ok({"error": "lead not found"}, 404)

    def move_lead(self, req: _Request, match: re.Match[str]) -> Response:
        body = self._body(req)
        status_id = _to_int(body.get("status_id"))
        if status_id is None:
            raise ValueError("status_id is required")
        return self.ok(self.fake.move_lead(int(match.group(1)), status_id, _to_int(body.get("pipeline_id")),
                                           user_id=_to_int(body.get("user_id")) or UI_USER_ID))

    def update_lead(self, req: _Request, match: re.Match[str]) -> Response:
        body = self._body(req)
        user_id = _to_int(body.pop("user_id", None)) or UI_USER_ID
        return self.ok(self.fake.update_lead(int(match.group(1)), body, user_id=user_id))

    def delete_lead(self, req: _Request, match: re.Match[str]) -> Response:
        self.fake.delete_lead(int(match.group(1)))
        return self.ok({"ok": True})

    def add_note(self, req: _Request, match: re.Match[str]) -> Response:
        body = self._body(req)
        return self.ok(self.fake.add_note(int(match.group(1)), str(body.get("text") or ""),
                                          note_type=str(body.get("note_type") or "common"),
                                          service=body.get("service")), 201)

    def create_contact(self, req: _Request, _: re.Match[str]) -> Response:
        body = self._body(req)
        return self.ok(self.fake.create_contact(str(body.get("name") or ""), body.get("phones") or [],
                                                body.get("emails") or []), 201)

    def add_webhook(self, req: _Request, _: re.Match[str]) -> Response:
        body = self._body(req)
        webhook, created = self.fake.subscribe_webhook(body.get("destination", ""), body.get("settings") or [],
                                                       _to_int(body.get("sort")) or 1)
        return self.ok(webhook, 201 if created else 200)

    def delete_webhook(self, req: _Request, _: re.Match[str]) -> Response:
        deleted = self.fake.unsubscribe_webhook(str(self._body(req).get("destination", "")))
        return Response(204) if deleted else self.ok({"error": "webhook not found"}, 404)

    def flush(self, req: _Request, _: re.Match[str]) -> Response:
        return self.ok({"flushed": self.fake.flush_retries()})

    def emit(self, req: _Request, _: re.Match[str]) -> Response:
        body = self._body(req)
        items = body.get("items")
        if not isinstance(items, list):
            raise ValueError("items must be a list")
        return self.ok({"queued": self.fake.emit_webhook(str(body["entity"]), str(body["action"]), items)})

    def oauth_code(self, req: _Request, _: re.Match[str]) -> Response:
        client_id = self._body(req).get("client_id")
        return self.ok({"code": self.fake.issue_auth_code(str(client_id) if client_id else None)})

    def oauth_tokens(self, req: _Request, _: re.Match[str]) -> Response:
        client_id = self._body(req).get("client_id")
        return self.ok(self.fake.issue_tokens(str(client_id) if client_id else None))

    def oauth_revoke(self, req: _Request, _: re.Match[str]) -> Response:
        self.fake.revoke_tokens(long_lived=bool(self._body(req).get("long_lived", False)))
        return self.ok({"ok": True})

    def oauth_expire(self, req: _Request, _: re.Match[str]) -> Response:
        self.fake.expire_access_tokens()
        return self.ok({"ok": True})


class _HTTPServer(FakeHTTPServer[FakeKommo, _Request]):
    request_queue_size = 5  # the stdlib's default listen backlog, which this fake has always had


class _Handler(FakeHandler[FakeKommo, _Request]):
    server_version = "nginx"

    def do_PATCH(self) -> None:  # noqa: N802 - the stdlib handler's naming (do_<METHOD>)
        self._handle()

    def do_PUT(self) -> None:  # noqa: N802 - the stdlib handler's naming (do_<METHOD>)
        self._handle()

    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return super().read_body()

    def build_request(self, path: str, query: str, body: bytes) -> _Request:
        return _Request(method=self.command, path=path, query_string=query,
                        query=urllib.parse.parse_qsl(query, keep_blank_values=True), body=body,
                        headers=self.headers, base=self.fake.link_base(self.headers.get("Host")))

    def is_control(self, path: str) -> bool:
        return path == "/_fake" or path.startswith("/_fake/")

    def serve_api(self, req: _Request) -> BaseResponse | None:
        fake = self.fake
        started = time.time()
        if fake.is_down():
            fake.log_request(self._log_entry(req, None, started))
            return None  # refuse: read the request, close without answering
        if not fake.holds.wait(req.method, req.path, lambda: peer_open(self.connection)):
            return None  # the client died while its request was parked: it never reached us
        response = fake.gate(req.method, req.path) or self.route_api(req)
        fake.log_request(self._log_entry(req, response.status, started))
        if req.method != "GET" and 200 <= response.status < 300:
            fake.persist()
        return response

    def crashed(self) -> Response:
        return json_response(500, problem_body(500, ""), PROBLEM_JSON)  # Kommo's 500

    @staticmethod
    def _log_entry(req: _Request, status: int | None, started: float) -> JSONDict:
        try:
            parsed: Any = json.loads(req.body) if req.body.strip() else None
        except ValueError:
            parsed = None
        query: dict[str, list[str]] = {}
        for key, value in req.query:
            query.setdefault(key, []).append(value)
        headers = {k: req.headers[k] for k in ("Authorization", "Content-Type", "User-Agent") if req.headers.get(k)}
        return {"method": req.method, "path": req.path, "query": query, "query_string": req.query_string,
                "json": parsed, "body": req.body[:10000].decode("utf-8", "replace"), "headers": headers,
                "status": status, "timestamp": started}


class FakeKommoServer(LoopbackServer):
    """The fake on a loopback port in a daemon thread; a context manager.

    ``with FakeKommoServer(subdomain="demo", token="tok") as fk:`` → ``fk.base_url``, ``fk.state``.
    Extra keyword arguments go to :class:`FakeKommo` (``client_id``, ``retry_schedule``, ``rate_limit``, ...).
    """

    name = "fake-kommo"

    def __init__(self, subdomain: str = DEFAULT_SUBDOMAIN, token: str | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, state: FakeKommo | None = None, verbose: bool = False, **options: Any) -> None:
        self.state = state if state is not None else FakeKommo(subdomain, token, **options)
        super().__init__(host=host, port=port, verbose=verbose)

    def make_httpd(self) -> FakeHTTPServer[FakeKommo, _Request]:
        return _HTTPServer((self.host, self.port), _Handler, self.state, api=_RestApi(self.state),
                           control=_ControlApi(self.state), verbose=self.verbose)


# --------------------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fakes.kommo", description="Fake Kommo (amoCRM) API v4 server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--subdomain", default=DEFAULT_SUBDOMAIN)
    parser.add_argument("--account-id", type=int, default=DEFAULT_ACCOUNT_ID)
    parser.add_argument("--account-name", default=None)
    parser.add_argument("--token", default=None, help="long-lived token, always accepted as Bearer")
    parser.add_argument("--client-id", default=None)
    parser.add_argument("--client-secret", default=None)
    parser.add_argument("--redirect-uri", default=None, help="where GET /oauth sends the browser with a code")
    parser.add_argument("--public-url", default=None, help="base of REST _links (default: http://<Host header>)")
    parser.add_argument("--state-file", default=None, help="JSON file: loaded at start, saved after each change")
    parser.add_argument("--retry-schedule", default=None, help="webhook retry delays in seconds, e.g. 300,900,900,3600")
    parser.add_argument("--rate-limit", type=int, default=7, help="requests per second on /api/v4 (0 = off)")
    parser.add_argument("--block-after", type=int, default=50, help="429s before the IP block (0 = never)")
    parser.add_argument("--seed-demo", action="store_true", help="start with a few demo leads (if the state is empty)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    config: JSONDict = {"rate_limit": args.rate_limit or None, "block_after": args.block_after or None}
    if args.retry_schedule:
        config["retry_schedule"] = [float(x) for x in args.retry_schedule.split(",") if x.strip()]
    state = FakeKommo(args.subdomain, args.token, account_id=args.account_id, account_name=args.account_name,
                      client_id=args.client_id, client_secret=args.client_secret, redirect_uri=args.redirect_uri,
                      public_url=args.public_url, state_file=args.state_file, **config)
    if args.seed_demo and not state.snapshot()["leads"]:
        state.seed_demo()
    fake_server = FakeKommoServer(args.subdomain, args.token, host=args.host, port=args.port, state=state,
                                  verbose=args.verbose)
    return fake_server.run_until_signalled("fake kommo")


__all__ = ["FakeKommo", "FakeKommoConfig", "FakeKommoServer", "KommoError", "Response", "encode_webhook",
           "encode_webhook_groups", "main", "normalize_custom_fields", "post_form", "webhook_custom_fields",
           "webhook_pairs", "webhook_setting"]


if __name__ == "__main__":
    sys.exit(main())
