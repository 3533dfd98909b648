"""How one inbound `messages[]` item (contract §4) becomes an inbox message: its text, its media to download and
the channel details kept in Message.meta (rendered by whatsapp/_message_body.html).

Pure functions over the parsed JSON: strict about what we need (an id, a sender, a type), lenient about the rest
(unknown keys are ignored; unknown types become a visible placeholder, never a dropped message).

Reactions are stored as a short inbound message ("Reaccionó con 👍") so the agent sees them and they keep the
conversation's order; a removed reaction (empty emoji) is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from customers.phones import normalize_phone

MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
DEFAULT_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "video/mp4": "mp4",
                      "video/3gpp": "3gp", "audio/ogg": "ogg", "audio/mpeg": "mp3", "audio/aac": "aac",
                      "audio/mp4": "m4a", "audio/amr": "amr", "application/pdf": "pdf"}


@dataclass(frozen=True)
class MediaRef:
    media_id: str
    mime_type: str
    filename: str
    sha256: str = ""


@dataclass
class Rendered:
    """What the inbox stores for one WhatsApp message; `ignore` = nothing to store (a removed reaction)."""

    body: str
    meta: dict[str, Any]
    media: MediaRef | None = None
    ignore: bool = False
    problems: list[str] = field(default_factory=list)


def _obj(item: dict[str, Any], key: str) -> dict[str, Any]:
    value = item.get(key)
    return value if isinstance(value, dict) else {}


def _list(item: dict[str, Any], key: str) -> list[Any]:
    """A list Meta sends; anything else (a malformed payload: a number, a string) reads as empty."""
    value = item.get(key)
    return value if isinstance(value, list) else []


def wa_timestamp(value: Any) -> datetime:
    """Meta sends unix seconds as strings (contract §3); a missing or broken one means "now"."""
    try:
        return datetime.fromtimestamp(int(str(value)), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return timezone.now()


def e164(wa_id: str) -> str:
    """`5511999990000` → `+5511999990000`, normalized like every stored phone (customers.phones: Mexico's legacy
    `521…` wa_ids become `+52…`); digits kept with a `+` when it is not a valid number."""
    digits = "".join(ch for ch in wa_id if ch.isascii() and ch.isdigit())
    return normalize_phone("+" + digits) or "+" + digits


def sender_of(item: dict[str, Any]) -> tuple[str, str]:
    """(wa_id, business-scoped user id) of an inbound message; either may be empty.

    Since Meta's usernames rollout a user who hides their phone arrives with `from_user_id` (BSUID, e.g.
    `US.13491208655302741918`) and no `from`; `contacts[].user_id` carries the same id."""
    return str(item.get("from") or "").strip(), str(item.get("from_user_id") or "").strip()


def _media(kind: str, item: dict[str, Any], wamid: str) -> Rendered:
    content = _obj(item, kind)
    mime = str(content.get("mime_type") or "application/octet-stream").split(";")[0].strip()
    caption = str(content.get("caption") or "").strip()
    filename = str(content.get("filename") or "").strip()
    if not filename:
        ext = DEFAULT_EXTENSIONS.get(mime, mime.rsplit("/", 1)[-1] if "/" in mime else "bin")
        filename = f"{kind}-{wamid[-10:].strip('=').replace('/', '')}.{ext}"
    labels = {"image": _("Imagen"), "video": _("Video"), "audio": _("Audio"), "sticker": _("Sticker"),
              "document": _("Documento: %s") % filename}
    body = caption or labels[kind]
    meta: dict[str, Any] = {"media": {"kind": kind, "mime_type": mime, "filename": filename, "caption": caption,
                                      "voice": bool(content.get("voice"))}}
    if content.get("animated"):
        meta["media"]["animated"] = True
    media_id = str(content.get("id") or "")
    if not media_id:
        return Rendered(body=body, meta={**meta, "media_error": "no media id"})
    return Rendered(body=body, meta=meta, media=MediaRef(media_id, mime, filename, str(content.get("sha256") or "")))


def _location(item: dict[str, Any]) -> Rendered:
    loc = _obj(item, "location")
    lat, lon = loc.get("latitude"), loc.get("longitude")
    name, address = str(loc.get("name") or "").strip(), str(loc.get("address") or "").strip()
    where = ", ".join(p for p in (name, address) if p)
    body = _("Ubicación: %(where)s (%(lat)s, %(lon)s)") % {"where": where or _("sin nombre"), "lat": lat, "lon": lon}
    return Rendered(body=body, meta={"location": {"latitude": lat, "longitude": lon, "name": name,
                                                  "address": address, "url": str(loc.get("url") or "")}})


def _contacts(item: dict[str, Any]) -> Rendered:
    shared: list[dict[str, Any]] = []
    for raw in _list(item, "contacts"):
        if not isinstance(raw, dict):
            continue
        name = _obj(raw, "name")
        phones = [str(p.get("phone") or p.get("wa_id") or "") for p in _list(raw, "phones") if isinstance(p, dict)]
        emails = [str(e.get("email") or "") for e in _list(raw, "emails") if isinstance(e, dict)]
        shared.append({"name": str(name.get("formatted_name") or name.get("first_name") or ""),
                       "phones": [p for p in phones if p], "emails": [e for e in emails if e]})
    names = "; ".join(f"{c['name']} ({', '.join(c['phones'])})" if c["phones"] else c["name"] for c in shared)
    return Rendered(body=_("👤 Contacto compartido: %s") % (names or "?"), meta={"contacts": shared})


def _interactive(item: dict[str, Any]) -> Rendered:
    inter = _obj(item, "interactive")
    kind = str(inter.get("type") or "")
    reply = _obj(inter, kind)
    if kind in ("button_reply", "list_reply"):
        title, description = str(reply.get("title") or ""), str(reply.get("description") or "")
        body = title + (f" — {description}" if description else "")
        return Rendered(body=body or "?", meta={"reply": {"kind": kind, "id": str(reply.get("id") or ""),
                                                          "title": title, "description": description}})
    if kind == "nfm_reply":  # a WhatsApp Flow's answer
        return Rendered(body=str(reply.get("body") or _("Respuesta de formulario")),
                        meta={"reply": {"kind": kind, "response_json": str(reply.get("response_json") or "")}})
    return _unsupported(item, f"interactive/{kind}")


def _button(item: dict[str, Any]) -> Rendered:
    button = _obj(item, "button")
    text = str(button.get("text") or "")
    return Rendered(body=text or "?", meta={"reply": {"kind": "button", "id": str(button.get("payload") or ""),
                                                      "title": text}})


def _reaction(item: dict[str, Any]) -> Rendered:
    reaction = _obj(item, "reaction")
    emoji = str(reaction.get("emoji") or "")
    meta = {"reaction": {"emoji": emoji, "message_id": str(reaction.get("message_id") or "")}}
    if not emoji:  # the customer removed their reaction: nothing to show
        return Rendered(body="", meta=meta, ignore=True)
    return Rendered(body=_("Reaccionó con %s a un mensaje") % emoji, meta=meta)


def _order(item: dict[str, Any]) -> Rendered:
    order = _obj(item, "order")
    products = [p for p in _list(order, "product_items") if isinstance(p, dict)]
    lines = [f"{p.get('quantity', 1)} × {p.get('product_retailer_id', '?')} ({p.get('item_price', '?')} "
             f"{p.get('currency', '')})".strip() for p in products]
    body = _("🛒 Pedido del catálogo: %d productos") % len(products)
    text = str(order.get("text") or "").strip()
    return Rendered(body="\n".join([body, *lines, *([text] if text else [])]),
                    meta={"order": {"catalog_id": str(order.get("catalog_id") or ""), "items": products}})


def _system(item: dict[str, Any]) -> Rendered:
    system = _obj(item, "system")
    text = str(system.get("body") or system.get("type") or "")
    return Rendered(body=_("Aviso de WhatsApp: %s") % text, meta={"system": system})


def _unsupported(item: dict[str, Any], kind: str) -> Rendered:
    errors = [e for e in _list(item, "errors") if isinstance(e, dict)]
    detail = "; ".join(f"{e.get('code')} {e.get('title') or e.get('message') or ''}".strip() for e in errors)
    body = _("⚠ Mensaje de WhatsApp no compatible (tipo «%s»): ábralo en el teléfono del cliente.") % kind
    return Rendered(body=body, meta={"unsupported": {"type": kind, "errors": detail}})


@dataclass(frozen=True)
class Change:
    """A customer's edit or deletion of an earlier message (webhook types `edit` and `revoke`; Meta sends them to
    WhatsApp Business app numbers on Cloud API, "coexistence"). `original_id` is the edited message's wamid;
    `body` the new text (the caption, for media) of an edit."""

    kind: str  # "edit" | "delete" (inbox.MessageRevision.Kind)
    original_id: str
    body: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def change_of(item: dict[str, Any]) -> Change | None:
    """The edit or deletion an item carries, or None for any other message. An edit's `edit.message` is a regular
    message object (text, or media with its caption): it is rendered like one, without downloading the media
    again (WhatsApp edits change the text only)."""
    kind = str(item.get("type") or "")
    if kind == "revoke":
        return Change("delete", str(_obj(item, "revoke").get("original_message_id") or "").strip())
    if kind != "edit":
        return None
    edit = _obj(item, "edit")
    inner = _obj(edit, "message")
    rendered = render({**inner, "id": item.get("id"), "from": item.get("from")}) if inner else None
    body = rendered.body if rendered is not None else _("(mensaje vacío)")
    meta = {"type": str(inner.get("type") or "")} if inner else {}
    return Change("edit", str(edit.get("original_message_id") or "").strip(), body=body, meta=meta)


def render(item: dict[str, Any]) -> Rendered:
    """One `messages[]` item → text, media to download and meta (`type`, `wa_id`, `context`, `referral`…)."""
    kind = str(item.get("type") or "unknown")
    wamid = str(item.get("id") or "")
    if kind == "text":
        text = _obj(item, "text")
        rendered = Rendered(body=str(text.get("body") or ""), meta={})
    elif kind in MEDIA_KINDS:
        rendered = _media(kind, item, wamid)
    elif kind == "location":
        rendered = _location(item)
    elif kind == "contacts":
        rendered = _contacts(item)
    elif kind == "interactive":
        rendered = _interactive(item)
    elif kind == "button":
        rendered = _button(item)
    elif kind == "reaction":
        rendered = _reaction(item)
    elif kind == "order":
        rendered = _order(item)
    elif kind == "system":
        rendered = _system(item)
    else:
        rendered = _unsupported(item, kind)
    rendered.meta["type"] = kind
    wa_id, user_id = sender_of(item)
    rendered.meta["wa_id"] = wa_id
    if user_id:
        rendered.meta["user_id"] = user_id
    for key in ("context", "referral"):
        if isinstance(item.get(key), dict):
            rendered.meta[key] = item[key]
    if not rendered.body.strip() and not rendered.ignore:
        rendered.body = _("(mensaje vacío)")
    return rendered
