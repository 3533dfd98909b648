"""The outbound sender registered with inbox.outbound: delivers an agent's reply through POST /{phone-number-id}/
messages (contract §6) and reports the result with inbox.actions.do_update_delivery_status.

Runs in the worker (inbox.tasks.deliver_outbound, queue "messaging"), never inside a transaction while calling
Meta. Guarantees:
* **Idempotent.** A message already sent or failed is skipped; a lease on its OutboundSend row keeps two workers
  from sending it at once; parts already accepted by Meta (their wamids are recorded one by one) are never sent
  again on a retry.
* **Bounded retries.** 429/5xx/throttling are retried in the call (client.py), then by a deferred task with
  exponential backoff and jitter; after WHATSAPP_SEND_MAX_ATTEMPTS the message is marked failed with Meta's text.
  Any other Graph error (131047 window closed, 131030, 132000…) fails the message at once. An unexpected error
  (a bug, bad data) is retried the same way, so it ends as a visible failure, never as a message stuck queued.
* **Nothing stranded.** A worker killed mid-send leaves the row leased; once the lease expires the periodic safety
  net (do_safety_net → sends_to_reclaim) hands it back to the sender, which claims it again (counting the attempt)
  and resumes after the parts Meta already accepted.
* **At-least-once, per part.** The Cloud API has no idempotency key: if Meta accepted a part and the worker died
  before recording its wamid, the retry sends that part again. The window is one HTTP answer wide; every other
  crash point (before the call, after the wamid is recorded) sends nothing twice.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from connectors.whatsapp import conf, tasks
from connectors.whatsapp.actions import CALLBACK_PREFIX, client_for, do_apply_pending_statuses
from connectors.whatsapp.client import GraphClient, GraphError, GraphUnavailable
from connectors.whatsapp.models import OutboundSend, WhatsappNumber
from connectors.whatsapp.window import contact_for, number_for
from core.errors import ActionError
from core.outbox import Outbox, Phase
from core.tasks import enqueue_later
from inbox.actions import do_update_delivery_status
from inbox.attachments import media_type, read_attachment
from inbox.choices import Channel, DeliveryStatus, MessageKind
from inbox.message_choices import Choice, choices_button, offered_choices
from inbox.models import Conversation, Message

logger = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)  # longer than one attempt can take (4 tries × 20 s read timeout per part)
TEXT_LIMIT = 4096  # Cloud API maximum for text.body
CAPTIONED = frozenset({"image", "video", "document"})
S = OutboundSend.State
OUTBOX = Outbox("whatsapp", OutboundSend, {Phase.PENDING: S.PENDING, Phase.RETRYING: S.RETRYING, Phase.DONE: S.SENT,
                                          Phase.FAILED: S.FAILED},
                lease=LEASE, backoff_base=5.0, backoff_cap=600.0, error_max=300)


@dataclass(frozen=True)
class Part:
    """One WhatsApp message of an inbox message: `payload` is the type-specific part; `upload` an attachment to
    upload first (its media id goes into payload[kind]["id"])."""

    kind: str
    payload: dict[str, Any]
    upload: dict[str, Any] | None = None


# What the Cloud API takes ("Supported media types"): each kind's media types and largest size. A document of
# any other type, an SVG or a WEBP photo is refused by Meta's upload, so it is refused here first, with the reason.
MEDIA_TYPES: Final[dict[str, frozenset[str]]] = {
    "image": frozenset({"image/jpeg", "image/png"}),
    "video": frozenset({"video/mp4", "video/3gpp"}),
    "audio": frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}),
    "sticker": frozenset({"image/webp"}),
    "document": frozenset({
        "application/pdf", "text/plain", "application/msword", "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation"}),
}
MEDIA_MAX_BYTES: Final = {"image": 5 * 1024 * 1024, "video": 16 * 1024 * 1024, "audio": 16 * 1024 * 1024,
                          "sticker": 500 * 1024, "document": 100 * 1024 * 1024}


def media_kind(content_type: str) -> str:
    bare = media_type(content_type)
    return next((kind for kind, types in MEDIA_TYPES.items() if bare in types), "document")


def check_attachments(c: Conversation, attachments: list[dict[str, Any]]) -> None:
    """inbox.outbound's attachment check for WhatsApp: only the media types and sizes the Cloud API delivers."""
    for a in attachments:
        name, bare = str(a.get("name") or ""), media_type(a.get("content_type"))
        kind = next((k for k, types in MEDIA_TYPES.items() if bare in types and k != "sticker"), None)
        if kind is None:
            raise ActionError("attachment_type_refused", _(
                "WhatsApp no acepta «%(name)s»: envíe imágenes JPG o PNG, videos MP4, audios (MP3, AAC, AMR, OGG, "
                "M4A) o documentos PDF, Word, Excel, PowerPoint o de texto.") % {"name": name}, field="attachments")
        if int(a.get("size") or 0) > MEDIA_MAX_BYTES[kind]:
            raise ActionError("attachment_too_large", _(
                "«%(name)s» pesa más de lo que WhatsApp admite (%(mb)d MB para este tipo de archivo).")
                % {"name": name, "mb": MEDIA_MAX_BYTES[kind] // (1024 * 1024)}, field="attachments")


def _text_parts(body: str) -> list[Part]:
    parts: list[Part] = []
    while body:
        chunk, body = body[:TEXT_LIMIT], body[TEXT_LIMIT:]
        parts.append(Part("text", {"type": "text", "text": {"preview_url": False, "body": chunk}}))
    return parts


def _parts(m: Message) -> list[Part]:
    template = m.meta.get("template") if isinstance(m.meta, dict) else None
    if isinstance(template, dict):
        return [Part("template", {"type": "template", "template": template})]
    body = m.body.strip()
    choices = offered_choices(m.meta)
    parts: list[Part] = []
    for attachment in m.attachments or []:
        kind = media_kind(str(attachment.get("content_type") or ""))
        content: dict[str, Any] = {}
        if attachment.get("url") and not attachment.get("path"):
            content["link"] = attachment["url"]
        if kind == "document":
            content["filename"] = str(attachment.get("name") or "archivo")
        if body and kind in CAPTIONED and not choices:  # a question's text goes with its buttons, not on a file
            content["caption"], body = body[:1024], body[1024:].strip()
        parts.append(Part(kind, {"type": kind, kind: content}, None if content.get("link") else attachment))
    if choices:
        return parts + _choice_parts(body, choices, choices_button(m.meta))
    return parts + _text_parts(body)


# --- a question with options (inbox.message_choices): one interactive message -----------------------------------
# Limits from Meta's "Interactive reply buttons messages" and "Interactive list messages" pages (Nov 2025): body
# text 1024 for buttons (the list page says 4096, its older version 1024: 1024 suits both), 1-3 buttons with a
# unique title of 20 and an id of 256; a list's button label 20, up to 10 rows in all, row title 24, description
# 72, id 200, section title 24. Meta does not say whether it counts characters or UTF-16 units; counting UTF-16
# units (an emoji outside the BMP is two) keeps us under either.
INTERACTIVE_BODY_MAX: Final = 1024
BUTTONS_MAX: Final = 3
BUTTON_TITLE_MAX: Final = 20
BUTTON_ID_MAX: Final = 256
LIST_BUTTON_MAX: Final = 20
SECTION_TITLE_MAX: Final = 24
ROW_TITLE_MAX: Final = 24
ROW_DESCRIPTION_MAX: Final = 72
ROW_ID_MAX: Final = 200
ELLIPSIS: Final = "…"


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _extends(previous: str, ch: str) -> bool:
    """Whether `ch` belongs to the character before it on screen: a combining mark, a zero-width joiner (and what
    it joins), a variation selector, a skin tone, a tag of a flag sequence, the second half of a regional flag."""
    if unicodedata.category(ch) in ("Mn", "Me", "Mc") or ch == "\u200d" or previous.endswith("\u200d"):
        return True
    if "\ufe00" <= ch <= "\ufe0f" or "\U0001f3fb" <= ch <= "\U0001f3ff" or "\U000e0020" <= ch <= "\U000e007f":
        return True
    regional = "\U0001f1e6" <= ch <= "\U0001f1ff"
    return regional and len(previous) == 1 and "\U0001f1e6" <= previous <= "\U0001f1ff"


def clip(text: str, limit: int) -> str:
    """`text` on one line within `limit` (UTF-16 units), cut with "…" between whole characters as the customer
    sees them: never half an accent, an emoji sequence or a flag."""
    text = unicodedata.normalize("NFC", " ".join(text.split()))
    if _units(text) <= limit:
        return text
    room, kept, used = limit - _units(ELLIPSIS), "", 0
    clusters: list[str] = []
    for ch in text:
        if clusters and _extends(clusters[-1], ch):
            clusters[-1] += ch
        else:
            clusters.append(ch)
    for cluster in clusters:
        if used + _units(cluster) > room:
            break
        kept, used = kept + cluster, used + _units(cluster)
    return kept.rstrip() + ELLIPSIS


def _question(body: str) -> tuple[str, str]:
    """(text to send first, the interactive message's body). The interactive body holds 1024 units. A longer
    question is not cut (the customer would miss part of it): its last paragraph, where the question is, goes
    with the options and the rest is sent first as text; if even that paragraph is too long, the whole text goes
    first and the options carry a short "choose one"."""
    if body and _units(body) <= INTERACTIVE_BODY_MAX:
        return "", body
    for separator in ("\n\n", "\n"):
        head, found, tail = body.rpartition(separator)
        if found and head.strip() and tail.strip() and _units(tail.strip()) <= INTERACTIVE_BODY_MAX:
            return head.strip(), tail.strip()
    return body, _("Elige una opción:")


def _choice_parts(body: str, choices: list[Choice], button: str) -> list[Part]:
    """A question with options as ONE interactive message (after any text `_question` sends first): up to 3
    options are reply buttons; 4 to 10 (or 3 whose clipped titles would repeat: Meta refuses equal titles) a list,
    where a clipped title is shown whole in its row's description."""
    lead, question = _question(body)
    titles = [clip(c["title"], BUTTON_TITLE_MAX) for c in choices]
    interactive: dict[str, Any]
    if len(choices) <= BUTTONS_MAX and len(set(titles)) == len(titles):
        interactive = {"type": "button", "body": {"text": question}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": c["id"][:BUTTON_ID_MAX], "title": title}}
            for c, title in zip(choices, titles, strict=True)]}}
    else:
        rows: list[dict[str, str]] = []
        for c in choices:
            row = {"id": c["id"][:ROW_ID_MAX], "title": clip(c["title"], ROW_TITLE_MAX)}
            whole = c["title"] if row["title"].endswith(ELLIPSIS) and not c["title"].endswith(ELLIPSIS) else ""
            if c["description"] or whole:
                row["description"] = clip(c["description"] or whole, ROW_DESCRIPTION_MAX)
            rows.append(row)
        label = clip(button or _("Ver opciones"), LIST_BUTTON_MAX)
        interactive = {"type": "list", "body": {"text": question}, "action": {
            "button": label, "sections": [{"title": clip(label, SECTION_TITLE_MAX), "rows": rows}]}}
    return [*_text_parts(lead), Part("interactive", {"type": "interactive", "interactive": interactive})]


def recipient_field(to: str) -> dict[str, str]:
    """The raw wa_id as Meta sent it goes in `to` (a Mexican `521…` stays as is); a business-scoped user id
    (`US.1349…`, a user known only by username) goes in `recipient`, which the send API takes instead of `to`."""
    return {"to": to} if to.isdigit() else {"recipient": to}


def _recipient(m: Message, number: WhatsappNumber) -> str:
    contact = contact_for(m.conversation, number)
    if contact is not None:
        return contact.wa_id
    phone = m.conversation.customer.phones.values_list("e164", flat=True).first()
    return phone.lstrip("+") if phone else ""


def _claim(m: Message) -> OutboundSend | None:
    """The message's send row (made on its first attempt), leased to this worker: None when it is finished or
    another worker holds a live lease on it."""
    now = timezone.now()
    try:
        row, _created = OutboundSend.objects.get_or_create(message=m)
    except IntegrityError:  # another worker created the row at the same instant: it sends
        return None
    if not OUTBOX.claim(row.pk, now=now, when=OUTBOX.lease_free(now)):
        return None
    row.refresh_from_db()
    return row


def _fail(row: OutboundSend, m: Message, error: str) -> str:
    with transaction.atomic():
        OUTBOX.park(row.pk, error=error, next_attempt_at=None, updated_at=timezone.now())
        do_update_delivery_status(m.pk, status=DeliveryStatus.FAILED, error=error,
                                  external_id=row.wamids[0] if row.wamids else "")
    return "failed"


def _retry_or_fail(row: OutboundSend, m: Message, error: str) -> str:
    if row.attempts >= conf.send_max_attempts():
        return _fail(row, m, error)
    when = OUTBOX.retry_later(row.pk, attempts=row.attempts, error=error, updated_at=timezone.now())
    if when is not None:
        # the periodic safety net covers a backend that cannot defer
        enqueue_later(tasks.retry_whatsapp_send, when, m.pk)
    return "retrying"


def _send_parts(graph: GraphClient, *, row: OutboundSend, m: Message, number: WhatsappNumber, to: str,
                parts: list[Part]) -> None:

    for index, part in enumerate(parts):
        if index < len(row.wamids):
            continue  # Meta already took this part on an earlier attempt
        payload = {**part.payload, part.kind: dict(part.payload[part.kind])}
        if part.upload is not None:
            data = read_attachment(part.upload)
            payload[part.kind]["id"] = graph.upload_media(
                number.phone_number_id, data=data, filename=str(part.upload.get("name") or "archivo"),
                content_type=str(part.upload.get("content_type") or "application/octet-stream"))
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", **recipient_field(to),
                   **payload, "biz_opaque_callback_data": f"{CALLBACK_PREFIX}{m.pk}"}
        reply_to = m.meta.get("reply_to") if isinstance(m.meta, dict) else None
        if reply_to and index == 0:
            payload["context"] = {"message_id": str(reply_to)}
        wamid = graph.send_message(number.phone_number_id, payload)
        row.wamids.append(wamid)
        OutboundSend.objects.filter(pk=row.pk).update(wamids=row.wamids, updated_at=timezone.now())


def send_outbound(message_id: int) -> str:  # noqa: PLR0911 - one exit per outcome reads best here
    """The sender (inbox.outbound.register_sender("whatsapp", …)). Returns what happened, for the task result."""

    m = Message.objects.select_related("conversation", "conversation__customer").filter(pk=message_id).first()
    if m is None or m.kind != MessageKind.OUTBOUND:
        return "skipped"
    if m.delivery_status not in ("", DeliveryStatus.QUEUED):
        return "already"
    row = _claim(m)
    if row is None:
        return "skipped"
    number = number_for(m.conversation)
    if number is None or not number.is_active:
        return _fail(row, m, _("El número de WhatsApp de esta conversación no está conectado."))
    to = _recipient(m, number)
    parts = _parts(m)
    if not to or not parts:
        return _fail(row, m, _("No hay destinatario o contenido para enviar por WhatsApp."))
    try:
        with client_for(number) as graph:
            _send_parts(graph, row=row, m=m, number=number, to=to, parts=parts)
    except GraphUnavailable as exc:
        logger.warning("whatsapp send %s: %s (attempt %d)", m.pk, exc.text, row.attempts)
        return _retry_or_fail(row, m, exc.text)
    except GraphError as exc:
        return _fail(row, m, exc.text)
    except (OSError, ActionError) as exc:  # the stored attachment is gone or unreadable
        return _fail(row, m, _("No se pudo leer el adjunto: %s") % exc)
    except Exception as exc:  # a bug or bad data: retried with backoff, then a visible failure
        logger.exception("whatsapp send %s failed (attempt %d)", m.pk, row.attempts)
        return _retry_or_fail(row, m, f"{type(exc).__name__}: {exc}")
    with transaction.atomic():
        OUTBOX.succeed(row.pk, lease_until=None, next_attempt_at=None, updated_at=timezone.now())
        do_update_delivery_status(m.pk, status=DeliveryStatus.SENT, external_id=row.wamids[0])
        do_apply_pending_statuses(m.pk, row.wamids)
    return "sent"


def sends_to_reclaim(*, now: Any = None, limit: int = 200) -> list[int]:
    """Message ids the safety net hands back to the sender: a retry due more than 30 s ago (its deferred task was
    lost, or the backend cannot defer), or an attempt whose lease expired (its worker died mid-call). A message
    queued twice is harmless: the sender's claim lets one attempt in and skips finished messages."""
    now = now or timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    overdue = Q(next_attempt_at__lt=now - timedelta(seconds=30))  # a retry, or a row put back in line by a person
    lost = overdue | Q(lease_until__lt=now)
    ids = list(OutboundSend.objects.filter(state__in=OUTBOX.active)
               .filter(free).filter(lost).order_by("pk").values_list("message_id", flat=True)[:limit])
    return ids + never_claimed(now=now, limit=limit - len(ids)) if len(ids) < limit else ids


def never_claimed(*, now: Any = None, limit: int = 200) -> list[int]:
    """WhatsApp replies still `queued` two minutes after they were written that no sender ever claimed (no
    OutboundSend row: the row is made by the sender's claim, so a deliver task lost before it, or a worker
    killed before the claim committed, leaves nothing else to find them by). Uses message_queued_outbound_idx."""
    now = now or timezone.now()
    return list(Message.objects.filter(kind=MessageKind.OUTBOUND, delivery_status=DeliveryStatus.QUEUED,
                                       created_at__lt=now - timedelta(minutes=2),
                                       conversation__channel=Channel.WHATSAPP)
                .filter(~Exists(OutboundSend.objects.filter(message_id=OuterRef("pk"))))
                .order_by("created_at", "pk").values_list("pk", flat=True)[:limit])


def requeue_send(message_id: int) -> bool:
    """A failed send back in line (the message's author retries it from the conversation): the next attempt
    resumes after the parts Meta already accepted. False when there is no failed send row (the message failed
    before its first attempt: the sender makes a new row)."""
    return bool(OUTBOX.requeue(OutboundSend.objects.filter(message_id=message_id).values_list("pk", flat=True),
                               updated_at=timezone.now()))
