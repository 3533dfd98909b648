"""WhatsApp connection, templates and webhook processing (the worker side of the intake).

HTTP to Meta happens only through connectors.whatsapp.client and never inside a database transaction (a slow
Graph API must not hold row locks). Inbound messages and statuses go into the inbox through its actions
(`do_receive_inbound`, `do_update_delivery_status`); this module never writes inbox rows itself.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from connectors.inboxes import resolve_inbox
from connectors.whatsapp import conf, intake, outbound, tasks
from connectors.whatsapp.client import GraphClient, GraphError, GraphUnavailable, post_signed_webhook
from connectors.whatsapp.inbound import Change, change_of, e164, render, sender_of, wa_timestamp
from connectors.whatsapp.message_templates import build_send, unsupported_reason, variables
from connectors.whatsapp.models import (
    MessageTemplate,
    StatusReceipt,
    WebhookDelivery,
    WhatsappContact,
    WhatsappNumber,
)
from connectors.whatsapp.window import number_for
from core import audit, deliveries
from core.backoff import backoff
from core.errors import ActionError, NotFoundError
from core.tasks import enqueue_on_commit
from inbox.actions import access_conversation, check_send_reply, do_receive_inbound, do_update_delivery_status
from inbox.attachments import store_attachment
from inbox.choices import DeliveryStatus, MessageKind
from inbox.models import Conversation, Message
from inbox.revision_actions import do_record_message_change

logger = logging.getLogger(__name__)
STATUS_MAP = {"sent": DeliveryStatus.SENT, "delivered": DeliveryStatus.DELIVERED, "read": DeliveryStatus.READ,
              "played": DeliveryStatus.READ, "failed": DeliveryStatus.FAILED}
STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "played": 3, "failed": 4}
CALLBACK_PREFIX = "centralita:"  # biz_opaque_callback_data of our sends: statuses map back even before the wamid
D = WebhookDelivery.State
SAFETY_NET_CHUNK = 25
PROCESSING_LEASE = timedelta(minutes=5)  # an attempt may download media (4 tries x 20 s): far less than this
MAX_JSON_DEPTH = 64  # Meta's payloads nest about 10 levels; deeper is not Meta (and recursion must stay bounded)


def client_for(number: WhatsappNumber, **kwargs: Any) -> GraphClient:
    return GraphClient(base_url=number.base_url or conf.default_base_url(), token=number.access_token, **kwargs)


def webhook_url(number: WhatsappNumber) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{intake.PREFIX}{number.phone_number_id}/"


# --- connecting ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectResult:
    number: WhatsappNumber
    webhook_url: str
    verify_token: str
    created: bool
    templates: int | None  # approved templates synced, None when the sync failed
    templates_error: str


def check_connect_number(
    acting_user: User | None,
    *,
    phone_number_id: str,
    waba_id: str,
    token: str = "",
    app_secret: str = "",
    verify_token: str = "",
    inbox: str = "",
    base_url: str = "",
    sync_templates: bool = True,
) -> ConnectResult:
    """Checks the credentials (GET the phone number through the Graph API) and saves the number.

    Connecting an already connected phone-number id updates it; a blank token, app secret or verify token then
    keeps the stored one (pages never show secrets back) — the token only while the base URL stays the same.
    A new number without a verify token gets a random one.
    `acting_user` None = the management command."""
    if acting_user is not None:
        require_perm(acting_user, Perm.CHANNELS_MANAGE)
    phone_number_id, waba_id = phone_number_id.strip(), waba_id.strip()
    if not phone_number_id.isdigit():
        raise ActionError("invalid_phone_number_id", _("El identificador del número debe tener solo dígitos."),
                          field="phone_number_id")
    if not waba_id.isdigit():
        raise ActionError("invalid_waba_id", _("El identificador de la cuenta (WABA) debe tener solo dígitos."),
                          field="waba_id")
    existing = WhatsappNumber.objects.filter(phone_number_id=phone_number_id).first()
    base_url = base_url.strip().rstrip("/")
    if existing is not None and not token.strip() and base_url != existing.base_url.rstrip("/"):
        # The stored token goes only to the server it was typed for: otherwise a manager could point the number
        # at their own server and read the token off the Authorization header.
        raise ActionError("token_required_for_new_server",
                          _("Al cambiar la dirección del servidor, escriba de nuevo el token: el guardado no se "
                            "envía a otro servidor."), field="token")
    token = token.strip() or (existing.access_token if existing else "")
    app_secret = app_secret.strip() or (existing.app_secret if existing else "")
    verify_token = verify_token.strip() or (existing.verify_token if existing else secrets.token_urlsafe(24))
    if not token:
        raise ActionError("missing_token", _("Falta el token de acceso."), field="token")
    if not app_secret:
        raise ActionError("missing_app_secret", _("Falta la clave secreta de la app."), field="app_secret")
    target_inbox = resolve_inbox(inbox)
    try:
        with GraphClient(base_url=base_url or conf.default_base_url(), token=token) as graph:
            info = graph.get_phone_number(phone_number_id)
    except GraphError as exc:
        raise ActionError("whatsapp_error", _("WhatsApp respondió: %s") % exc.text) from exc
    with transaction.atomic():
        number = (WhatsappNumber.objects.select_for_update().filter(phone_number_id=phone_number_id).first()
                  or WhatsappNumber(phone_number_id=phone_number_id))
        created = number.pk is None
        number.waba_id, number.access_token, number.app_secret = waba_id, token, app_secret
        number.verify_token, number.inbox, number.base_url = verify_token, target_inbox, base_url
        number.display_phone_number = info.display_phone_number or number.display_phone_number
        number.verified_name = info.verified_name or number.verified_name
        number.is_active, number.connected_at = True, timezone.now()
        number.save()
        # Never the secrets: the audit log is readable by auditors who must not be able to sign webhooks.
        audit.record(actor=acting_user, action="whatsapp.connected", target=number, actor_username="manage.py",
                     changes={"phone_number_id": phone_number_id, "waba_id": waba_id,
                              "inbox": target_inbox.code if target_inbox else None, "base_url": base_url,
                              "display_phone_number": number.display_phone_number})
    intake.forget(phone_number_id)
    synced, sync_error = None, ""
    if sync_templates:
        try:
            synced = do_sync_templates(number)
        except GraphError as exc:
            sync_error = exc.text
        number.refresh_from_db()
    return ConnectResult(number=number, webhook_url=webhook_url(number), verify_token=verify_token,
                         created=created, templates=synced, templates_error=sync_error)


def access_number(acting_user: User, number_id: int) -> WhatsappNumber:
    require_perm(acting_user, Perm.CHANNELS_MANAGE)
    number = WhatsappNumber.objects.filter(pk=number_id).first()
    if number is None:
        raise NotFoundError("number_not_found", _("El número de WhatsApp no existe."))
    return number


def check_set_number_active(acting_user: User, number_id: int, *, active: bool) -> WhatsappNumber:
    """Deactivating stops intake (webhooks then answer 404) and sending; history and contacts stay."""
    number = access_number(acting_user, number_id)
    with transaction.atomic():
        changed = WhatsappNumber.objects.filter(pk=number.pk).exclude(is_active=active).update(is_active=active)
        if changed:
            audit.record(actor=acting_user, action="whatsapp.activated" if active else "whatsapp.deactivated",
                         target=number)
    intake.forget(number.phone_number_id)
    number.is_active = active
    return number


# --- templates ---------------------------------------------------------------------------------------------


def do_sync_templates(number: WhatsappNumber) -> int:
    """Replaces the WABA's templates with what the Graph API lists; returns how many are approved.
    Raises GraphError (recorded on the number) when Meta cannot be read."""
    try:
        with client_for(number) as graph:
            items = graph.templates(number.waba_id)
    except GraphError as exc:
        WhatsappNumber.objects.filter(waba_id=number.waba_id).update(templates_sync_error=exc.text[:300])
        raise
    now = timezone.now()
    seen: set[tuple[str, str]] = set()
    with transaction.atomic():
        for item in items:
            name, language = str(item.get("name") or ""), str(item.get("language") or "")
            if not name or not language or (name, language) in seen:
                continue
            seen.add((name, language))
            MessageTemplate.objects.update_or_create(
                waba_id=number.waba_id, name=name, language=language,
                defaults={"template_id": str(item.get("id") or ""), "status": str(item.get("status") or ""),
                          "category": str(item.get("category") or ""),
                          "parameter_format": str(item.get("parameter_format") or "POSITIONAL").upper(),
                          "components": item.get("components") or [], "synced_at": now})
        stale = MessageTemplate.objects.filter(waba_id=number.waba_id).exclude(synced_at=now)
        stale.delete()
        WhatsappNumber.objects.filter(waba_id=number.waba_id).update(templates_synced_at=now, templates_sync_error="")
    return MessageTemplate.objects.filter(waba_id=number.waba_id, status__iexact="APPROVED").count()


def check_sync_templates(acting_user: User, number_id: int) -> int:
    number = access_number(acting_user, number_id)
    try:
        count = do_sync_templates(number)
    except GraphError as exc:
        raise ActionError("whatsapp_error", _("WhatsApp respondió: %s") % exc.text) from exc
    audit.record(actor=acting_user, action="whatsapp.templates_synced", target=number, changes={"approved": count})
    return count


def do_sync_all_templates() -> dict[str, int | str]:
    """The periodic job: one sync per WhatsApp Business Account (numbers of one WABA share its templates)."""
    results: dict[str, int | str] = {}
    for number in WhatsappNumber.objects.filter(is_active=True).order_by("id"):
        if number.waba_id in results:
            continue
        try:
            results[number.waba_id] = do_sync_templates(number)
        except GraphError as exc:
            results[number.waba_id] = exc.text
    return results


def check_send_template(acting_user: User, conversation_id: int, *, template_id: int,
                        values: dict[str, str]) -> Message:
    """Sends an approved template (allowed outside the 24-hour window) through the inbox's check_send_reply, with
    the template in the message's meta; the body stored is the text the customer will read."""

    c = access_conversation(acting_user, conversation_id)
    body, meta = prepare_template(c, template_id=template_id, values=values)
    return check_send_reply(acting_user, conversation_id, body=body, meta=meta)


def prepare_template(c: Conversation, *, template_id: int, values: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The text and meta of an approved template filled with `values`, ready for the inbox's send (now, or at the
    time a scheduled message goes out: automation). Refuses what could not be sent (400 with the reason)."""
    if c.channel != "whatsapp":
        raise ActionError("not_whatsapp", _("Esta conversación no es de WhatsApp."))
    number = number_for(c)
    if number is None or not number.is_active:
        raise ActionError("whatsapp_not_connected", _("No hay un número de WhatsApp conectado para esta conversación."))
    template = MessageTemplate.objects.filter(pk=template_id, waba_id=number.waba_id).first()
    if template is None or not template.is_approved:
        raise ActionError("template_not_approved", _("La plantilla no existe o no está aprobada."), field="template")
    reason = unsupported_reason(template)
    if reason:
        raise ActionError("template_unsupported", _("Esta plantilla no se puede enviar desde aquí: %s.") % reason)
    clean = {key: str(values.get(key) or "").strip()[:1024] for key in variables(template)}
    missing = [key for key, value in clean.items() if not value]
    if missing:
        raise ActionError("template_variables", _("Complete las variables de la plantilla: %s.")
                          % ", ".join(f"{{{{{k}}}}}" for k in missing), field="template")
    send = build_send(template, clean)
    return send.body, send.meta


# --- demo ----------------------------------------------------------------------------------------------------


def check_simulate_inbound(acting_user: User, number_id: int, *, name: str, phone: str, text: str) -> int:
    """Demo mode: a signed webhook, shaped like Meta's, POSTed to our own endpoint (so it goes through the real
    signature check, intake, worker and inbox). Returns the HTTP status our endpoint answered."""
    number = access_number(acting_user, number_id)
    if not conf.demo_mode():
        raise ActionError("demo_only", _("La simulación solo está disponible en modo demo."))
    wa_id = e164(phone).lstrip("+")
    if len(wa_id) < 8 or not text.strip():
        raise ActionError("invalid_simulation", _("Indique un teléfono válido y un mensaje."))
    payload = {"object": "whatsapp_business_account", "entry": [{"id": number.waba_id, "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": number.display_phone_number,
                         "phone_number_id": number.phone_number_id},
            "contacts": [{"profile": {"name": name.strip()}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": f"wamid.sim{secrets.token_hex(16)}",
                          "timestamp": str(int(time.time())), "type": "text", "text": {"body": text.strip()}}]}}]}]}
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    try:
        return post_signed_webhook(webhook_url(number), body, number.app_secret)
    except OSError as exc:
        raise ActionError("simulation_failed", _("No se pudo enviar el webhook simulado: %s") % exc) from exc


# --- webhook processing (runs in the worker) -------------------------------------------------------------------


class Retry(Exception):
    """The delivery could not be completed now (Meta unavailable for a media download): try again at `retry_at`."""

    def __init__(self, detail: str, *, retry_at: datetime | None = None) -> None:
        super().__init__(detail)
        self.retry_at = retry_at or timezone.now() + timedelta(seconds=5)


def _retry_delay(attempts: int) -> timedelta:
    return backoff(attempts, base=5.0, cap=600.0, jitter=0.1)


def _too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Iterative, so a hostile payload cannot exhaust the recursion limit here either."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_payload(body: str) -> dict[str, Any] | list[Any] | str | int | float | bool | None:
    """The webhook's JSON; ValueError with a readable reason when it is not JSON or nests deeper than Meta ever
    does (50,000 nested arrays raise RecursionError inside json.loads: that is a rejection too, not a crash)."""
    try:
        payload = json.loads(body)
    except RecursionError as exc:
        raise ValueError(f"invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels") from exc
    except ValueError as exc:
        raise ValueError(f"invalid JSON: {exc}") from exc
    if isinstance(payload, dict | list) and _too_deep(payload):
        raise ValueError(f"invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels")
    return _scrub(payload)


def _scrub(value: Any) -> Any:
    """NUL characters (valid JSON, written as a \\u0000 escape) are replaced: no PostgreSQL text column takes one,
    and it never means anything in a WhatsApp message. Recursive, but only over a payload already known to be at
    most MAX_JSON_DEPTH deep."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def do_process_delivery(delivery_id: int) -> str:
    """Processes one stored webhook and records the outcome on it: `processed` (some items may be listed as
    ignored in `error`), or `failed` with the reason: not JSON or absurdly nested, a message we could not
    store, or any unexpected error (logged, never raised, so a batch always moves on to the next delivery).

    Safe to repeat: a finished delivery is skipped, an attempt in progress is not doubled, inbound messages are
    idempotent on their wamid and statuses on (wamid, status). Raises Retry when Meta is unavailable (the
    delivery stays `received`; after the attempt limit it is marked failed)."""
    claimed = deliveries.claim_delivery(WebhookDelivery, delivery_id, lease=PROCESSING_LEASE,
                                        max_attempts=conf.processing_max_attempts())
    if isinstance(claimed, str):
        return claimed
    delivery = claimed
    try:
        payload = parse_payload(delivery.body)
    except ValueError as exc:
        deliveries.finish_delivery(delivery, D.FAILED, str(exc))
        return "failed"
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        kind = payload.get("object") if isinstance(payload, dict) else "?"
        deliveries.finish_delivery(delivery, D.PROCESSED, f"ignored: object {kind}")
        return "ignored"
    processor = _Processor(delivery)
    try:
        processor.run(payload)
    except GraphUnavailable as exc:
        final = delivery.attempts >= conf.processing_max_attempts()
        if final:
            deliveries.finish_delivery(delivery, D.FAILED, f"WhatsApp unavailable: {exc.text}")
            return "failed"
        retry_at = timezone.now() + _retry_delay(delivery.attempts)
        deliveries.finish_delivery(delivery, D.RECEIVED, f"WhatsApp unavailable: {exc.text}", lease=retry_at)
        raise Retry(exc.text, retry_at=retry_at) from exc
    except (OperationalError, InterfaceError):
        # The database hiccuped (SQLite "database is locked", a lost PostgreSQL connection): not bad data. The
        # delivery stays `received` under its lease and the safety net retries it within the attempt limit; Meta
        # already got its 200 and will not resend, so failing it here would lose the message.
        logger.warning("whatsapp webhook %s: database unavailable; left for a retry", delivery.pk, exc_info=True)
        raise
    except Exception as exc:  # a bug or bad data (RecursionError, DataError…): this delivery fails, not the batch
        logger.exception("whatsapp webhook %s failed", delivery.pk)
        deliveries.finish_delivery(delivery, D.FAILED, "; ".join([f"unexpected error: {type(exc).__name__}: {exc}",
                                                                  *processor.problems]))
        return "failed"
    problems = processor.problems
    deliveries.finish_delivery(delivery, D.FAILED if processor.failed else D.PROCESSED,
                               "; ".join(problems)[:2000])
    return "failed" if processor.failed else "processed"


def _items(value: Any) -> list[Any]:
    """A list of the payload; a malformed one (a number, a string) reads as empty instead of crashing."""
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class _Processor:
    """Walks entry[] → changes[] → value of one delivery; collects problems instead of stopping at the first."""

    def __init__(self, delivery: WebhookDelivery) -> None:
        self.delivery = delivery
        self.problems: list[str] = []
        self.failed = False
        self.clients: dict[int, GraphClient] = {}

    def run(self, payload: dict[str, Any]) -> None:
        try:
            for entry in _items(payload.get("entry")):
                for change in _items(entry.get("changes")) if isinstance(entry, dict) else []:
                    if isinstance(change, dict):
                        self.change(change)
        finally:
            for client in self.clients.values():
                client.close()

    def client(self, number: WhatsappNumber) -> GraphClient:
        if number.pk not in self.clients:
            self.clients[number.pk] = client_for(number)
        return self.clients[number.pk]

    def change(self, change: dict[str, Any]) -> None:
        raw = change.get("value")
        value: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if change.get("field") != "messages":
            self.problems.append(f"ignored field {change.get('field')!r}")
            return
        pnid = str(_dict(value.get("metadata")).get("phone_number_id") or "")
        number = WhatsappNumber.objects.select_related("inbox").filter(phone_number_id=pnid, is_active=True).first()
        signed_by = self.delivery.number
        # The signature proves who sent the body (the holder of the URL number's app secret); it may only speak
        # for numbers of that same Meta app, never inject messages into another app's number.
        if number is None or signed_by is None or number.app_secret != signed_by.app_secret:
            self.problems.append(f"ignored change for number {pnid or '?'} (not connected with this app)")
            return
        profiles: dict[str, str] = {}
        for c in _items(value.get("contacts")):
            if isinstance(c, dict):
                name = str(_dict(c.get("profile")).get("name") or "")
                for key in (c.get("wa_id"), c.get("user_id")):  # a username-only user has no wa_id
                    if key:
                        profiles[str(key)] = name
        for item in _items(value.get("messages")):
            if isinstance(item, dict):
                self.inbound(number, item, profiles)
        for item in _items(value.get("statuses")):
            if isinstance(item, dict):
                do_record_status(item)
        for error in _items(value.get("errors")):
            self.problems.append(f"Meta reported: {error}")

    def inbound(self, number: WhatsappNumber, item: dict[str, Any], profiles: dict[str, str]) -> None:
        try:
            wa_id, user_id = sender_of(item)
            do_receive_whatsapp_message(number, item, profile_name=profiles.get(wa_id or user_id, ""),
                                        graph=lambda: self.client(number))
        except ActionError as exc:
            self.failed = True
            self.problems.append(f"message {item.get('id')}: {exc.message}")


def _conversation_hint(number: WhatsappNumber, contact: WhatsappContact | None) -> int:
    """The conversation a new message will most likely join: only names the attachments' storage folder."""
    if contact is None or contact.customer_id is None:
        return 0
    found = (Conversation.objects.filter(customer_id=contact.customer_id, channel="whatsapp",
                                         channel_ref=number.channel_ref).order_by("-last_activity_at")
             .values_list("pk", flat=True).first())
    return found or 0


def do_receive_whatsapp_message(number: WhatsappNumber, item: dict[str, Any], *, profile_name: str,
                                graph: Any) -> str:
    """One inbound message → the inbox (customer by E.164 phone, conversation pinned to this number). Media is
    downloaded (GET /{media-id}, then its URL with the token) before the message is stored. Idempotent on the
    wamid: a redelivery changes nothing and downloads nothing. Raises GraphUnavailable when Meta is down.

    A user who hides their phone behind a username sends only `from_user_id` (business-scoped user id): the
    contact is then keyed by that id (WhatsappContact.wa_id holds it, replies go to it as `recipient`) and the
    customer has no phone; their next messages find them through that contact."""

    wamid = str(item.get("id") or "")
    phone_id, user_id = sender_of(item)
    wa_id = phone_id or user_id  # the phone stays the key when Meta sends both, as before the rollout
    if not wamid or not wa_id:
        raise ActionError("invalid_message", "message without id or sender")
    change = change_of(item)
    if change is not None:  # an edit or deletion of an earlier message, not a new one
        return _receive_change(number, item, change)
    if Message.objects.filter(external_id=wamid).exists():
        return "duplicate"
    rendered = render(item)
    if rendered.ignore:
        return "ignored"
    received_at = wa_timestamp(item.get("timestamp"))
    contact = WhatsappContact.objects.filter(number=number, wa_id=wa_id).first()
    attachments: list[dict[str, Any]] = []
    if rendered.media is not None:
        try:
            data, info = graph().download_media(rendered.media.media_id, max_bytes=settings.ATTACHMENT_MAX_BYTES)
            attachments.append(store_attachment(
                conversation_id=_conversation_hint(number, contact), name=rendered.media.filename,
                content_type=str(info.get("mime_type") or rendered.media.mime_type), data=data))
        except GraphUnavailable:
            raise
        except (GraphError, ActionError) as exc:  # expired media, too large: the agent sees why
            text = exc.text if isinstance(exc, GraphError) else exc.message
            rendered.meta["media_error"] = text
            rendered.body = f"{rendered.body}\n" + _("(no se pudo descargar el archivo: %s)") % text
    with transaction.atomic():
        conversation, _message, _created = do_receive_inbound(
            channel="whatsapp", body=rendered.body, customer_name=profile_name or (contact.profile_name if contact
                                                                                   else ""),
            phones=[e164(phone_id)] if phone_id else [],
            customer_id=contact.customer_id if contact and contact.customer_id else None,
            external_id=wamid, channel_ref=number.channel_ref, meta=rendered.meta, attachments=attachments,
            inbox_code=number.inbox.code if number.inbox else None, received_at=received_at)
        _touch_contact(number, wa_id, customer_id=conversation.customer_id, profile_name=profile_name,
                       at=received_at)
    return "stored"


def _receive_change(number: WhatsappNumber, item: dict[str, Any], change: Change) -> str:
    """The customer edited or deleted an earlier message: the inbox changes it (idempotent on this event's wamid;
    kept until the message arrives when the change overtook it). docs/whatsapp.md "Edits and deletions"."""

    if not change.original_id:
        raise ActionError("invalid_message", f"{item.get('type')} without original_message_id")
    return do_record_message_change(kind=change.kind, target_external_id=change.original_id,
                                    event_id=str(item.get("id") or ""), at=wa_timestamp(item.get("timestamp")),
                                    body=change.body, meta=change.meta, channel_ref=number.channel_ref)


def _touch_contact(number: WhatsappNumber, wa_id: str, *, customer_id: int, profile_name: str, at: Any) -> None:
    """Opens or refreshes the 24-hour window; a late redelivery of an older message never moves it back."""
    contact, created = WhatsappContact.objects.select_for_update().get_or_create(
        number=number, wa_id=wa_id,
        defaults={"customer_id": customer_id, "profile_name": profile_name[:200], "last_inbound_at": at})
    if created:
        return
    fields = []
    if contact.last_inbound_at is None or at > contact.last_inbound_at:
        contact.last_inbound_at = at
        fields.append("last_inbound_at")
    if contact.customer_id != customer_id:
        contact.customer_id = customer_id
        fields.append("customer")
    if profile_name and contact.profile_name != profile_name[:200]:
        contact.profile_name = profile_name[:200]
        fields.append("profile_name")
    if fields:
        contact.save(update_fields=fields)


# --- statuses ----------------------------------------------------------------------------------------------


def _status_error(item: dict[str, Any]) -> str:
    errors = [e for e in _items(item.get("errors")) if isinstance(e, dict)]
    if not errors:
        return ""
    e = errors[0]
    details = str((e.get("error_data") or {}).get("details") or "") if isinstance(e.get("error_data"), dict) else ""
    title = str(e.get("title") or e.get("message") or "")
    return (f"({e.get('code')}) {title}" + (f": {details}" if details and details != title else ""))[:300]


def _message_for(wamid: str, callback: str) -> int | None:
    found = Message.objects.filter(external_id=wamid, kind=MessageKind.OUTBOUND).values_list("pk", flat=True).first()
    if found is None and callback.startswith(CALLBACK_PREFIX) and callback[len(CALLBACK_PREFIX):].isdigit():
        found = (Message.objects.filter(pk=int(callback[len(CALLBACK_PREFIX):]), kind=MessageKind.OUTBOUND)
                 .values_list("pk", flat=True).first())
    return found


# Apps above (campaigns) send messages that are not inbox messages: a status for a wamid the inbox does not know is
# offered to them — listener(wamid, status, callback_data, error, at) returns True when the message was theirs.
StatusListener = Callable[[str, str, str, str, datetime], bool]
STATUS_LISTENERS: list[StatusListener] = []


def register_status_listener(listener: StatusListener) -> None:
    if listener not in STATUS_LISTENERS:
        STATUS_LISTENERS.append(listener)


def do_record_status(item: dict[str, Any]) -> str:
    """sent / delivered / read / failed for one of our messages. Idempotent on (wamid, status); out-of-order
    arrival is the inbox's rule (statuses only move forward, failed is final). A status for a wamid we cannot
    map yet is kept pending and applied when the sender stores that wamid."""

    wamid, status = str(item.get("id") or ""), str(item.get("status") or "")
    mapped = STATUS_MAP.get(status)
    if not wamid or mapped is None:
        return "ignored"
    error = _status_error(item) if mapped == DeliveryStatus.FAILED else ""
    message_id = _message_for(wamid, str(item.get("biz_opaque_callback_data") or ""))
    try:
        with transaction.atomic():
            receipt, created = StatusReceipt.objects.get_or_create(
                wamid=wamid, status=status,
                defaults={"message_id": message_id, "error": error, "reported_at": wa_timestamp(item.get("timestamp"))})
    except IntegrityError:  # the same status raced in from a parallel redelivery
        return "duplicate"
    if not created and (receipt.applied or message_id is None):
        return "duplicate"
    if message_id is None:
        at = wa_timestamp(item.get("timestamp"))
        callback = str(item.get("biz_opaque_callback_data") or "")
        if any(listener(wamid, status, callback, error, at) for listener in STATUS_LISTENERS):
            StatusReceipt.objects.filter(pk=receipt.pk).update(applied=True)
            return "applied"
        return "pending"
    do_update_delivery_status(message_id, status=mapped.value, error=error)
    StatusReceipt.objects.filter(pk=receipt.pk).update(applied=True, message_id=message_id)
    return "applied"


def do_apply_pending_statuses(message_id: int, wamids: list[str]) -> int:
    """Statuses that overtook our send's response, now that the wamids are known (oldest rank first)."""

    pending = sorted(StatusReceipt.objects.filter(wamid__in=wamids, applied=False),
                     key=lambda r: STATUS_RANK.get(r.status, 0))
    for receipt in pending:
        do_update_delivery_status(message_id, status=STATUS_MAP[receipt.status].value, error=receipt.error)
        StatusReceipt.objects.filter(pk=receipt.pk).update(applied=True, message_id=message_id)
    return len(pending)


# --- admin actions on deliveries, and the safety net ------------------------------------------------------------


@transaction.atomic
def check_retry_delivery(acting_user: User, delivery_id: int) -> WebhookDelivery:
    require_perm(acting_user, Perm.CHANNELS_MANAGE)
    delivery, requeued = deliveries.reset_failed_delivery(WebhookDelivery, delivery_id)
    if requeued:
        enqueue_on_commit(tasks.process_whatsapp_webhooks, [delivery.pk])
        audit.record(actor=acting_user, action="whatsapp.webhook_retried", target=delivery)
    return delivery


def do_safety_net(*, now: Any = None) -> dict[str, int]:
    """Work whose task was lost (a worker died, a deferred task vanished) is picked up again; old unmatched
    status receipts (messages sent from outside Centralita) are pruned.

    * deliveries: see core.deliveries.stuck_delivery_ids (queued twice is harmless: the second run finds it
      finished or busy);
    * sends: a retry whose time passed 30 s ago, or a send whose worker died mid-call (its lease expired: the
      sender claims it again, counting the attempt, and resumes after the parts Meta already accepted)."""

    now = now or timezone.now()
    requeued = deliveries.requeue_stuck_deliveries(WebhookDelivery, tasks.process_whatsapp_webhooks, now=now,
                                                   chunk=SAFETY_NET_CHUNK)
    due = outbound.sends_to_reclaim(now=now)
    for message_id in due:
        tasks.retry_whatsapp_send.enqueue(message_id)
    pruned, _ = StatusReceipt.objects.filter(applied=False, created_at__lt=now - timedelta(days=7)).delete()
    return {"deliveries": requeued, "sends": len(due), "pruned_receipts": pruned}
