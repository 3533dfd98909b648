"""Parsing of Kommo account webhooks: `application/x-www-form-urlencoded` with PHP bracket keys.

`leads[status][0][custom_fields][1][values][0]=1725915600` becomes nested dicts and lists; every value stays
a string as Kommo sends it. The parser is strict about shape (a clear error, never a half-read payload) and
lenient about content (unknown entities/actions are returned and ignored by the caller).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
LEAD_ACTIONS = ("add", "update", "status", "responsible", "restore", "delete")
MAX_KEYS = 20_000


class WebhookParseError(ValueError):
    """The body is not a Kommo webhook; the message says why (returned to the sender as a 400)."""


def _split(key: str) -> list[str]:
    match = _KEY.match(key)
    if match is None:
        raise WebhookParseError(f"malformed key {key[:80]!r}")
    return [match.group(1), *_PART.findall(match.group(2))]


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {k: _listify(v) for k, v in node.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return node


def parse_form(body: str) -> dict[str, Any]:
    """Bracket-keyed form body → nested dicts/lists of strings."""
    try:
        pairs = parse_qsl(body, keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_KEYS)
    except ValueError as exc:
        raise WebhookParseError(f"not a form-encoded body: {exc}") from exc
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _split(key)
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise WebhookParseError(f"key {key[:80]!r} conflicts with a scalar value")
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise WebhookParseError(f"key {key[:80]!r} conflicts with a nested value")
        node[parts[-1]] = value
    return _listify(root)


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value).strip() or "0")
    except InvalidOperation:
        return Decimal(0)


def _as_list(node: Any) -> list[Any]:
    if isinstance(node, list):
        return node
    if isinstance(node, dict):  # sparse indexes ("0", "2") do not listify; keep their order
        return [node[k] for k in sorted(node, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))]
    return []


@dataclass(frozen=True)
class CustomField:
    id: int | None
    name: str
    code: str
    values: list[dict[str, str]]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "code": self.code, "values": self.values}


@dataclass(frozen=True)
class LeadItem:
    action: str
    id: int
    name: str = ""
    status_id: int | None = None
    old_status_id: int | None = None
    pipeline_id: int | None = None
    old_pipeline_id: int | None = None
    price: Decimal = Decimal(0)
    responsible_user_id: int | None = None
    updated_at: int = 0
    tags: list[str] = field(default_factory=list)
    custom_fields: list[CustomField] = field(default_factory=list)


@dataclass(frozen=True)
class KommoWebhook:
    subdomain: str
    account_id: int | None
    leads: list[LeadItem]
    ignored: list[str]  # "contacts[update]"… entities/actions we do not act on


def _custom_fields(node: Any) -> list[CustomField]:
    fields = []
    for raw in _as_list(node):
        if not isinstance(raw, dict):
            continue
        values = []
        for v in _as_list(raw.get("values")):
            if isinstance(v, dict):
                values.append({k: str(x) for k, x in v.items() if not isinstance(x, dict | list)})
            else:  # date fields carry the value directly: values[0]=1725915600
                values.append({"value": str(v)})
        fields.append(CustomField(id=_int(raw.get("id")), name=str(raw.get("name", "")),
                                  code=str(raw.get("code", "")), values=values))
    return fields


def _lead_item(action: str, raw: dict[str, Any]) -> LeadItem:
    lead_id = _int(raw.get("id"))
    if lead_id is None:
        raise WebhookParseError(f"leads[{action}] item without a numeric id")
    tags = [str(t.get("name", "")).strip() for t in _as_list(raw.get("tags")) if isinstance(t, dict)]
    return LeadItem(
        action=action,
        id=lead_id,
        name=str(raw.get("name", "")).strip(),
        status_id=_int(raw.get("status_id")),
        old_status_id=_int(raw.get("old_status_id")),
        pipeline_id=_int(raw.get("pipeline_id")),
        old_pipeline_id=_int(raw.get("old_pipeline_id")),
        price=_decimal(raw.get("price")),
        responsible_user_id=_int(raw.get("responsible_user_id")),
        updated_at=_int(raw.get("updated_at")) or _int(raw.get("last_modified")) or 0,
        tags=[t for t in tags if t],
        custom_fields=_custom_fields(raw.get("custom_fields")),
    )


def parse_kommo_webhook(body: str) -> KommoWebhook:
    tree = parse_form(body)
    account = tree.get("account")
    if not isinstance(account, dict) or not (account.get("subdomain") or account.get("id")):
        raise WebhookParseError("missing account[subdomain] / account[id]")
    leads: list[LeadItem] = []
    ignored: list[str] = []
    for entity, actions in tree.items():
        if entity == "account":
            continue
        if not isinstance(actions, dict):
            raise WebhookParseError(f"unexpected top-level value for {entity!r}")
        for action, items in actions.items():
            if entity == "leads" and action in LEAD_ACTIONS:
                leads.extend(_lead_item(action, raw) for raw in _as_list(items) if isinstance(raw, dict))
            else:
                ignored.append(f"{entity}[{action}]")
    return KommoWebhook(subdomain=str(account.get("subdomain", "")), account_id=_int(account.get("id")),
                        leads=leads, ignored=ignored)


def peek_account(body: str) -> tuple[str, int | None]:
    """Only the account block, for the intake's fast check (full parsing happens in the worker)."""
    subdomain, account_id = "", None
    try:
        pairs = parse_qsl(body, keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_KEYS)
    except ValueError as exc:
        raise WebhookParseError(f"not a form-encoded body: {exc}") from exc
    for key, value in pairs:
        if key == "account[subdomain]":
            subdomain = value
        elif key == "account[id]":
            account_id = _int(value)
    if not subdomain and account_id is None:
        raise WebhookParseError("missing account[subdomain] / account[id]")
    return subdomain, account_id
