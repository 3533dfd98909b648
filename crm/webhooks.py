"""Parsing of Kommo account webhooks: `application/x-www-form-urlencoded` with PHP bracket keys.

`leads[status][0][custom_fields][1][values][0]=1725915600` becomes nested dicts and lists; every value stays
a string as Kommo sends it. The parser is strict about shape (a clear error, never a half-read payload) and
lenient about content (unknown entities/actions are returned and ignored by the caller).

Every failure is a `WebhookParseError` with a readable reason, never another exception: the worker records it on
the delivery and moves on to the next one (a crash here once stopped a whole batch). List indexes are ASCII
digits only: `str.isdigit` also accepts "²" or "٣", which `int()` refuses or reads as another number.
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
MAX_PRICE = Decimal(10) ** 11  # above any real price, and inside Lead.price (14 digits, 2 of them decimals)
MAX_INDEX = 10_000  # Kommo sends at most 250 entities per webhook; a bigger index is not a Kommo list


class WebhookParseError(ValueError):
    """The body is not a Kommo webhook; the message says why (returned to the sender as a 400)."""


def _is_index(part: str) -> bool:
    """A list index as Kommo writes it: ASCII digits (never "²" or "٣", which `str.isdigit` accepts)."""
    return part.isascii() and part.isdigit()


def _split(key: str) -> list[str]:
    match = _KEY.match(key)
    if match is None:
        raise WebhookParseError(f"malformed key {key[:80]!r}")
    parts = [match.group(1), *_PART.findall(match.group(2))]
    for part in parts[1:]:
        if part.isdigit() and not _is_index(part):
            raise WebhookParseError(f"key {key[:80]!r}: index {part!r} is not an ASCII number")
        if _is_index(part) and (len(part) > 6 or int(part) > MAX_INDEX):
            raise WebhookParseError(f"key {key[:80]!r}: index {part} is larger than {MAX_INDEX}")
    return parts


def _listify(node: Any) -> Any:
    """Dicts whose keys are all list indexes become lists. Iterative: a key nested thousands of brackets deep
    must not exhaust the interpreter's recursion limit."""
    if not isinstance(node, dict):
        return node
    # Post-order walk with an explicit stack: children are converted before their parent.
    stack: list[tuple[dict[str, Any], bool]] = [(node, False)]
    converted: dict[int, Any] = {}
    while stack:
        current, expanded = stack.pop()
        if not expanded:
            stack.append((current, True))
            stack.extend((v, False) for v in current.values() if isinstance(v, dict))
            continue
        items = {k: converted.pop(id(v)) if isinstance(v, dict) else v for k, v in current.items()}
        if items and all(_is_index(k) for k in items):
            converted[id(current)] = [items[k] for k in sorted(items, key=int)]
        else:
            converted[id(current)] = items
    return converted[id(node)]


def parse_form(body: str) -> dict[str, Any]:
    """Bracket-keyed form body → nested dicts/lists of strings."""
    try:
        pairs = parse_qsl(body, keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_KEYS)
    except ValueError as exc:
        raise WebhookParseError(f"not a form-encoded body: {exc}") from exc
    root: dict[str, Any] = {}
    for raw_key, raw_value in pairs:
        # NUL cannot be stored in a PostgreSQL text column; it is never meaningful in a Kommo value.
        key, value = raw_key.replace("\x00", ""), raw_value.replace("\x00", "")
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
    """A Kommo number (ids and unix times are 64-bit integers); anything else, or out of range, is None."""
    text = str(value).strip()
    if not text.isascii() or len(text) > 20:
        return None
    try:
        number = int(text)
    except (TypeError, ValueError):
        return None
    return number if -(2**63) <= number < 2**63 else None


def _decimal(value: Any) -> Decimal:
    """A price; anything that is not a finite amount a lead can hold (NaN, "1e999") is 0."""
    try:
        amount = Decimal(str(value).strip() or "0")
    except InvalidOperation:
        return Decimal(0)
    return amount if amount.is_finite() and abs(amount) < MAX_PRICE else Decimal(0)


def _as_list(node: Any) -> list[Any]:
    if isinstance(node, list):
        return node
    if isinstance(node, dict):  # sparse indexes ("0", "2") do not listify; keep their order
        return [node[k] for k in sorted(node, key=lambda k: (not _is_index(k), int(k) if _is_index(k) else 0, k))]
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
