"""SMS accounts (connect, edit, activate), webhook processing (the worker side of the intake), the demo's simulated
inbound SMS and the safety net.

HTTP to Twilio happens only through connectors.sms.client and never inside a database transaction (a slow API must
not hold row locks). Inbound messages go into the inbox through `do_receive_inbound` and statuses through
statuses.py; this module never writes inbox rows itself.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from connectors.inboxes import resolve_inbox
from connectors.sms import conf, intake, outbound, signing, statuses, tasks
from connectors.sms.client import SmsClient, SmsError, post_signed_form
from connectors.sms.models import SmsAccount, StatusReceipt, WebhookDelivery
from core import audit, deliveries
from core.errors import ActionError, NotFoundError
from core.tasks import enqueue_on_commit
from customers.phones import normalize_phone
from inbox.actions import do_receive_inbound
from inbox.choices import Channel

logger = logging.getLogger(__name__)
D = WebhookDelivery.State
K = WebhookDelivery.Kind
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MAX_RATE = 1000  # Twilio's highest throughput tier (short codes) is far below this: more is a typo
MAX_COST = Decimal("1000")
SAFETY_NET_CHUNK = 25
PROCESSING_LEASE = timedelta(minutes=2)  # an attempt only writes rows (no vendor call): far less than this
DEMO_SENDER = "+15005550006"  # what a simulated SMS is addressed to when the account sends through a service


def inbound_url(account: SmsAccount) -> str:
    """Where Twilio posts the account's inbound SMS (intake.inbound_url)."""
    return intake.inbound_url(account)


def status_url(account: SmsAccount) -> str:
    """Where Twilio reports the statuses of the account's sends: the StatusCallback of every send, ours and
    campaigns' (intake.status_url)."""
    return intake.status_url(account)


# --- connecting ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectResult:
    account: SmsAccount
    created: bool
    inbound_url: str
    status_url: str


def clean_e164(raw: str) -> str:
    """"+57 300 123-4567" → "+573001234567"; "" when it is not an E.164 number."""
    text = re.sub(r"[\s\-().]", "", raw.strip())
    return text if E164.match(text) else ""


def _validated(*, name: str, account_sid: str, from_number: str, messaging_service_sid: str, rate_per_second: int,
               cost_per_segment: Decimal, currency: str) -> dict[str, Any]:
    """Every field at once: ActionError naming the first bad field (the form shows it beside that field)."""
    values: dict[str, Any] = {"name": " ".join(name.split())[:100], "account_sid": account_sid.strip(),
              "from_number": clean_e164(from_number) if from_number.strip() else "",
              "messaging_service_sid": messaging_service_sid.strip(), "rate_per_second": rate_per_second,
              "cost_per_segment": cost_per_segment, "currency": currency.strip().upper()}
    if not values["name"]:
        raise ActionError("missing_name", _("Escriba un nombre para la cuenta."), field="name")
    if not ACCOUNT_SID.match(values["account_sid"]):
        raise ActionError("invalid_account_sid", _("El Account SID empieza por «AC» y sigue con 32 caracteres "
                                                   "hexadecimales."), field="account_sid")
    if from_number.strip() and not values["from_number"]:
        raise ActionError("invalid_from_number", _("Escriba el número en formato internacional E.164, por ejemplo "
                                                   "+573001234567."), field="from_number")
    if values["messaging_service_sid"] and not SERVICE_SID.match(values["messaging_service_sid"]):
        raise ActionError("invalid_messaging_service_sid", _("El Messaging Service SID empieza por «MG» y sigue "
                                                             "con 32 caracteres hexadecimales."),
                          field="messaging_service_sid")
    if bool(values["from_number"]) == bool(values["messaging_service_sid"]):
        raise ActionError("one_sender", _("Indique el número remitente o el Messaging Service SID (uno de los "
                                          "dos)."), field="from_number")
    if not 1 <= rate_per_second <= MAX_RATE:
        raise ActionError("invalid_rate", _("Los envíos por segundo van de 1 a %d.") % MAX_RATE,
                          field="rate_per_second")
    if cost_per_segment < 0:
        raise ActionError("invalid_cost", _("El costo por segmento no puede ser negativo."), field="cost_per_segment")
    if cost_per_segment >= MAX_COST:
        raise ActionError("invalid_cost", _("El costo por segmento debe ser menor que %s.") % MAX_COST,
                          field="cost_per_segment")
    if not re.fullmatch(r"[A-Z]{3}", values["currency"]):
        raise ActionError("invalid_currency", _("La moneda es un código ISO 4217 de tres letras (USD, COP, MXN…)."),
                          field="currency")
    return values


def check_connect_account(
    acting_user: User | None,
    *,
    account_id: int | None = None,
    name: str,
    account_sid: str,
    auth_token: str = "",
    from_number: str = "",
    messaging_service_sid: str = "",
    base_url: str = "",
    rate_per_second: int = 1,
    cost_per_segment: Decimal = Decimal(0),
    currency: str = "",
    inbox: str = "",
) -> ConnectResult:
    """Checks the credentials (a GET of the account's Messages list) and saves the account: a new one, or
    `account_id`'s. Editing keeps the stored auth token when the field is blank — only while the API URL stays
    the same: a stored secret is never sent to a server it was not typed for. `acting_user` None = a management
    command (demo_setup)."""
    if acting_user is not None:
        require_perm(acting_user, Perm.CHANNELS_MANAGE)
    existing = None
    if account_id is not None:
        existing = SmsAccount.objects.filter(pk=account_id).first()
        if existing is None:
            raise NotFoundError("sms_account_not_found", _("La cuenta de SMS no existe."))
    values = _validated(name=name, account_sid=account_sid, from_number=from_number,
                        messaging_service_sid=messaging_service_sid, rate_per_second=rate_per_second,
                        cost_per_segment=cost_per_segment, currency=currency or settings.CURRENCY)
    base_url = (base_url.strip() or (existing.base_url if existing else "") or conf.DEFAULT_BASE_URL).rstrip("/")
    token = auth_token.strip()
    if existing is not None and not token:
        if base_url != existing.base_url.rstrip("/") or values["account_sid"] != existing.account_sid:
            raise ActionError("token_required_for_new_server",
                              _("Al cambiar la dirección de la API o el Account SID, escriba de nuevo el Auth Token: "
                                "el guardado no se envía a otro servidor ni a otra cuenta."), field="auth_token")
        token = existing.auth_token
    if not token:
        raise ActionError("missing_auth_token", _("Falta el Auth Token."), field="auth_token")
    clash = SmsAccount.objects.filter(account_sid=values["account_sid"], from_number=values["from_number"],
                                      messaging_service_sid=values["messaging_service_sid"])
    if existing is not None:
        clash = clash.exclude(pk=existing.pk)
    if clash.exists():
        raise ActionError("sms_account_exists", _("Ya hay una cuenta conectada con ese Account SID y ese "
                                                  "remitente: edítela."), field="from_number")
    target_inbox = resolve_inbox(inbox)
    try:
        with SmsClient(base_url, values["account_sid"], token) as client:
            client.check_credentials()
    except SmsError as exc:
        raise ActionError("sms_error", _("Twilio respondió: %s") % exc.text) from exc
    with transaction.atomic():
        account = (SmsAccount.objects.select_for_update().filter(pk=existing.pk).first() if existing
                   else None) or SmsAccount()
        created = account.pk is None
        for field, value in values.items():
            setattr(account, field, value)
        account.auth_token, account.base_url, account.inbox = token, base_url, target_inbox
        account.is_active, account.connected_at = True, timezone.now()
        try:
            with transaction.atomic():
                account.save()
        except IntegrityError as exc:  # the same sender connected at the same instant by someone else
            raise ActionError("sms_account_exists", _("Ya hay una cuenta conectada con ese Account SID y ese "
                                                      "remitente: edítela."), field="from_number") from exc
        # Never the auth token: the audit log is readable by auditors who must not be able to sign webhooks.
        audit.record(actor=acting_user, action="sms.connected" if created else "sms.updated", target=account,
                     actor_username="manage.py",
                     changes={"name": account.name, "account_sid": account.account_sid,
                              "sender": account.sender, "base_url": base_url,
                              "rate_per_second": account.rate_per_second,
                              "cost_per_segment": str(account.cost_per_segment), "currency": account.currency,
                              "inbox": target_inbox.code if target_inbox else None,
                              "auth_token_changed": bool(auth_token.strip())})
    return ConnectResult(account=account, created=created, inbound_url=inbound_url(account),
                         status_url=status_url(account))


def access_account(acting_user: User, account_id: int) -> SmsAccount:
    require_perm(acting_user, Perm.CHANNELS_MANAGE)
    account = SmsAccount.objects.select_related("inbox").filter(pk=account_id).first()
    if account is None:
        raise NotFoundError("sms_account_not_found", _("La cuenta de SMS no existe."))
    return account


def check_set_account_active(acting_user: User, account_id: int, *, active: bool) -> SmsAccount:
    """Deactivating stops intake (its webhooks then answer 404) and sending; history stays."""
    account = access_account(acting_user, account_id)
    with transaction.atomic():
        changed = SmsAccount.objects.filter(pk=account.pk).exclude(is_active=active).update(is_active=active)
        if changed:
            audit.record(actor=acting_user, action="sms.activated" if active else "sms.deactivated", target=account)
    account.is_active = active
    return account


# --- demo ----------------------------------------------------------------------------------------------------


def check_simulate_inbound(acting_user: User, account_id: int, *, phone: str, text: str) -> int:
    """Demo mode: an inbound SMS shaped and signed as Twilio's, POSTed to our own webhook (so it goes through the
    real signature check, intake, worker and inbox). Returns the HTTP status our endpoint answered."""
    account = access_account(acting_user, account_id)
    if not conf.demo_mode():
        raise ActionError("demo_only", _("La simulación solo está disponible en modo demo."))
    sender = normalize_phone(phone) or ""
    if not sender or not text.strip():
        raise ActionError("invalid_simulation", _("Indique un teléfono válido y un mensaje."))
    sid = "SM" + secrets.token_hex(16)
    params = [("AccountSid", account.account_sid), ("ApiVersion", "2010-04-01"), ("Body", text.strip()),
              ("From", sender), ("MessageSid", sid), ("NumMedia", "0"), ("NumSegments", "1"),
              ("SmsMessageSid", sid), ("SmsSid", sid), ("SmsStatus", "received"),
              ("To", account.from_number or DEMO_SENDER)]
    url = inbound_url(account)
    try:
        return post_signed_form(url, params, signing.compute(account.auth_token, url, params))
    except OSError as exc:
        raise ActionError("simulation_failed", _("No se pudo enviar el SMS simulado: %s") % exc) from exc


# --- webhook processing (runs in the worker) -------------------------------------------------------------------


def do_process_delivery(delivery_id: int) -> str:
    """Processes one stored webhook and records the outcome on it: `processed` (with a note when it was ignored),
    or `failed` with the reason. Safe to repeat: a finished delivery is skipped, inbound messages are idempotent on
    their MessageSid and statuses on (MessageSid, MessageStatus). A database that went away is raised (the
    delivery stays `received` for the safety net); anything else is recorded, never raised."""
    claimed = deliveries.claim_delivery(WebhookDelivery, delivery_id, lease=PROCESSING_LEASE,
                                        max_attempts=conf.processing_max_attempts())
    if isinstance(claimed, str):
        return claimed
    delivery = claimed
    params = {k: v.replace("\x00", "\ufffd") for k, v in intake.parse_form(delivery.body.encode())}
    account = (SmsAccount.objects.select_related("inbox").filter(pk=delivery.account_id, is_active=True).first()
               if delivery.account_id else None)
    try:
        if account is None:
            outcome = "ignored: the account is no longer connected"
        elif params.get("AccountSid") and params["AccountSid"] != account.account_sid:
            outcome = f"ignored: AccountSid {params['AccountSid'][:40]} is not this account's"
        elif delivery.kind == K.INBOUND:
            outcome = do_receive_sms(account, params, received_at=delivery.received_at)
        else:
            outcome = statuses.do_record_status(
                sid=params.get("MessageSid") or params.get("SmsSid") or "",
                status=params.get("MessageStatus") or params.get("SmsStatus") or "",
                error_code=params.get("ErrorCode") or "", error_message=params.get("ErrorMessage") or "",
                at=delivery.received_at)
    except (OperationalError, InterfaceError):
        # The database hiccuped (SQLite "database is locked", a lost PostgreSQL connection): not bad data. The
        # delivery stays `received` under its lease and the safety net retries it within the attempt limit.
        logger.warning("sms webhook %s: database unavailable; left for a retry", delivery.pk, exc_info=True)
        raise
    except ActionError as exc:
        deliveries.finish_delivery(delivery, D.FAILED, exc.message)
        return "failed"
    except Exception as exc:  # a bug or bad data: this delivery fails (visible, retryable by an admin), not the batch
        logger.exception("sms webhook %s failed", delivery.pk)
        deliveries.finish_delivery(delivery, D.FAILED, f"unexpected error: {type(exc).__name__}: {exc}")
        return "failed"
    deliveries.finish_delivery(delivery, D.PROCESSED, outcome if outcome.startswith("ignored") else "")
    return "ignored" if outcome.startswith("ignored") else "processed"


def do_receive_sms(account: SmsAccount, params: dict[str, str], *, received_at: datetime) -> str:
    """One inbound SMS → the inbox (channel "sms"): the customer found or created by the sender's E.164 phone, the
    conversation pinned to this account. Idempotent on MessageSid (Twilio retries). MMS media (not offered in Latin
    America) are not downloaded: their URLs are kept on the message and named in its text."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    sender = normalize_phone(params.get("From") or "") or clean_e164(params.get("From") or "")
    if not sid:
        return "ignored: no MessageSid"
    if not sender:
        return f"ignored: From {params.get('From', '')[:40]!r} is not a phone number"
    body = (params.get("Body") or "").strip()
    media = [params[f"MediaUrl{i}"] for i in range(10) if params.get(f"MediaUrl{i}")]
    if media:
        body = "\n".join([body, *(_("(archivo adjunto no descargado: %s)") % url for url in media)]).strip()
    if not body:
        return "ignored: empty message"
    meta = {"sms": {"from": params.get("From", ""), "to": params.get("To", ""),
                    "segments": params.get("NumSegments", ""), "country": params.get("FromCountry", ""),
                    **({"media": media} if media else {})}}
    with transaction.atomic():
        _conversation, _message, _created = do_receive_inbound(
            channel=Channel.SMS, body=body, phones=[sender], external_id=sid, channel_ref=account.channel_ref,
            meta=meta, inbox_code=account.inbox.code if account.inbox else None, received_at=received_at)
    return "stored"


# --- admin actions on deliveries, and the safety net ------------------------------------------------------------


@transaction.atomic
def check_retry_delivery(acting_user: User, delivery_id: int) -> WebhookDelivery:
    require_perm(acting_user, Perm.CHANNELS_MANAGE)
    delivery, requeued = deliveries.reset_failed_delivery(WebhookDelivery, delivery_id)
    if requeued:
        enqueue_on_commit(tasks.process_sms_webhooks, [delivery.pk])
        audit.record(actor=acting_user, action="sms.webhook_retried", target=delivery)
    return delivery


def do_safety_net(*, now: datetime | None = None) -> dict[str, int]:
    """Work whose task was lost is picked up again: deliveries (core.deliveries.stuck_delivery_ids), sends
    (outbound.sends_to_reclaim), statuses that overtook their send (statuses.offer_pending); receipts nobody claimed
    for a week (messages sent from outside Centralita) are pruned."""
    now = now or timezone.now()
    requeued = deliveries.requeue_stuck_deliveries(WebhookDelivery, tasks.process_sms_webhooks, now=now,
                                                   chunk=SAFETY_NET_CHUNK)
    due = outbound.sends_to_reclaim(now=now)
    for message_id in due:
        tasks.retry_sms_send.enqueue(message_id)
    offered = statuses.offer_pending(now=now)
    pruned, _ = StatusReceipt.objects.filter(applied=False, created_at__lt=now - timedelta(days=7)).delete()
    return {"deliveries": requeued, "sends": len(due), "statuses": offered, "pruned_receipts": pruned}
