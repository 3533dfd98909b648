"""Kommo connection and webhook intake/processing. HTTP to Kommo happens only through crm.client, and
never inside a database transaction (a slow Kommo must not hold row locks)."""

from __future__ import annotations

import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from core import audit, heartbeats
from core.backoff import backoff
from core.crypto import mask
from core.errors import ActionError
from core.outages import REDIS_DOWN
from core.tasks import enqueue_on_commit
from crm import tasks
from crm.client import Credentials, KommoClient, KommoError, Stage, Tokens, contact_values
from crm.models import KommoAccount, WebhookDelivery
from crm.webhooks import LeadItem, WebhookParseError, parse_kommo_webhook
from leads import actions as leads
from leads.models import Lead

logger = logging.getLogger(__name__)
MAX_PROCESSING_ATTEMPTS = 8
REDIS_RETRY = timedelta(seconds=30)
PROCESSING_LEASE = timedelta(minutes=5)  # an attempt reads a few leads from Kommo (7 rps): far less than this
WEBHOOK_EVENTS = ["add_lead", "update_lead", "status_lead", "delete_lead", "restore_lead"]


# --- client construction -------------------------------------------------------------------------


def _save_tokens(tokens: Tokens) -> None:
    KommoAccount.objects.filter(pk=1).update(access_token=tokens.access_token, refresh_token=tokens.refresh_token,
                                             access_expires_at=tokens.expires_at)


def client_for(account: KommoAccount, **kwargs: Any) -> KommoClient:
    token = account.long_lived_token if account.auth_mode == KommoAccount.AuthMode.LONG_LIVED else account.access_token
    creds = Credentials(base_url=account.api_base, subdomain=account.subdomain, access_token=token,
                        client_id=account.client_id, client_secret=account.client_secret,
                        refresh_token=account.refresh_token, redirect_uri=account.redirect_uri)
    return KommoClient(creds, on_tokens=_save_tokens, **kwargs)


# --- connecting ------------------------------------------------------------------------------------


def resolve_stage(stages: list[Stage], wanted: str) -> Stage:
    """A stage by id, by "Pipeline / Stage" or by stage name (must be unambiguous)."""
    wanted = wanted.strip()
    if wanted.isdigit():
        matches = [s for s in stages if s.status_id == int(wanted)]
    elif "/" in wanted:
        pipeline, _sep, stage = (p.strip().lower() for p in wanted.partition("/"))
        matches = [s for s in stages if s.pipeline_name.lower() == pipeline and s.name.lower() == stage]
    else:
        matches = [s for s in stages if s.name.strip().lower() == wanted.lower()]
    if not matches:
        raise ActionError("unknown_stage", _("No existe la etapa «%s» en Kommo.") % wanted)
    if len(matches) > 1:
        raise ActionError(
            "ambiguous_stage", _("La etapa «%(s)s» existe en varios embudos: %(p)s. Use «Embudo / Etapa».")
            % {"s": wanted, "p": ", ".join(m.pipeline_name for m in matches)})
    return matches[0]


@dataclass(frozen=True)
class ConnectResult:
    account: KommoAccount
    to_call: Stage
    confirmed: Stage
    webhook_url: str


def webhook_url(account: KommoAccount, *, masked: bool = False) -> str:
    """The URL Kommo posts to; `masked` shows only the secret's last characters (pages, after the first view)."""
    secret = mask(account.webhook_secret) if masked else account.webhook_secret
    return f"{settings.SITE_URL.rstrip('/')}/integrations/kommo/webhook/{secret}/"


def loopback_site_url(url: str) -> bool:
    """Whether SITE_URL names this machine only (its default http://127.0.0.1:8000 when unset): Kommo cannot reach
    it, so a webhook registered there never delivers anything."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified



def check_connect_kommo(
    acting_user: User | None,
    *,
    subdomain: str,
    to_call_stage: str,
    confirmed_stage: str,
    token: str = "",
    client_id: str = "",
    client_secret: str = "",
    redirect_uri: str = "",
    code: str = "",
    base_url: str = "",
    register_webhook: bool = False,
) -> ConnectResult:
    """Checks the credentials against the API, resolves both stages by name or id, and saves the account.

    With `token` the account uses a long-lived token; with client id/secret (and an authorization `code`
    from the OAuth flow) it exchanges the code for rotating tokens. Reconnecting with a blank token or client
    secret keeps the stored one (pages never show secrets back), but only for the same subdomain and base URL.
    """
    if acting_user is not None:
        require_perm(acting_user, Perm.CRM_MANAGE)
    kommo_base = (base_url or settings.KOMMO_BASE_URL or f"https://{subdomain.strip()}.kommo.com")
    if register_webhook and not settings.DEBUG and loopback_site_url(settings.SITE_URL) \
            and not loopback_site_url(kommo_base):
        # Refused before anything is sent to Kommo or saved: Kommo would accept the address and never reach it.
        # (A Kommo on this machine — the demo's fake — can reach a loopback address.)
        raise ActionError("site_url_unreachable", _(
            "SITE_URL es %(url)s, una dirección a la que Kommo no puede llegar. Configure SITE_URL con la dirección "
            "pública (https://…) de Centralita antes de registrar el webhook (docs/deployment.md).")
            % {"url": settings.SITE_URL or "—"}, field="register_webhook")
    subdomain = subdomain.strip()
    if not subdomain:
        raise ActionError("missing_fields", _("El subdominio es obligatorio."), field="subdomain")
    base = (base_url or settings.KOMMO_BASE_URL or f"https://{subdomain}.kommo.com").rstrip("/")
    stored = KommoAccount.objects.filter(pk=1).first()
    keep_token = (stored is not None and not token and not client_id
                  and stored.auth_mode == KommoAccount.AuthMode.LONG_LIVED)
    keep_secret = stored is not None and bool(client_id) and not client_secret and client_id == stored.client_id
    if stored is not None and (keep_token or keep_secret) and not _same_server(stored, subdomain, base):
        # A stored secret goes only to the server it was typed for: otherwise a manager could point the account
        # at their own server and read the token off the Authorization header.
        field = "token" if keep_token else "client_secret"
        raise ActionError(f"{field}_required_for_new_server",
                          _("Al cambiar la dirección del servidor, escriba de nuevo el token: el guardado no se "
                            "envía a otro servidor.") if keep_token else
                          _("Al cambiar la dirección del servidor, escriba de nuevo el client_secret: el guardado "
                            "no se envía a otro servidor."), field=field)
    if stored is not None and keep_token:
        token = stored.long_lived_token
    if stored is not None and keep_secret:
        client_secret = stored.client_secret
    oauth = bool(client_id and client_secret)
    if not token and not oauth:
        raise ActionError("missing_credentials", _("Indique un token de larga duración o client_id y client_secret."))
    creds = Credentials(base_url=base, subdomain=subdomain, access_token=token, client_id=client_id,
                        client_secret=client_secret, redirect_uri=redirect_uri)
    issued: list[Tokens] = []
    try:
        with KommoClient(creds, on_tokens=issued.append) as client:
            if oauth and code:
                client.exchange_code(code)
            elif oauth and not token:
                raise ActionError("missing_code", _("Falta el código de autorización de OAuth."))
            remote = client.get_account()
            stages = client.stages()
    except KommoError as exc:
        raise ActionError("kommo_error", _("Kommo respondió: %s") % exc.detail) from exc
    to_call = resolve_stage(stages, to_call_stage)
    confirmed = resolve_stage(stages, confirmed_stage)
    account = _save_account(acting_user, creds=creds, base_url=base_url, oauth=oauth, token=token,
                            remote=remote, stages=stages, to_call=to_call, confirmed=confirmed, issued=issued)
    url = webhook_url(account)
    if register_webhook:
        try:
            with client_for(account) as client:
                client.register_webhook(url, WEBHOOK_EVENTS)
        except KommoError as exc:
            raise ActionError("kommo_error", _("Conectado, pero Kommo no aceptó el webhook: %s") % exc.detail) from exc
    return ConnectResult(account=account, to_call=to_call, confirmed=confirmed, webhook_url=url)


def _same_server(stored: KommoAccount, subdomain: str, base: str) -> bool:
    stored_base = stored.base_url or settings.KOMMO_BASE_URL or f"https://{stored.subdomain}.kommo.com"
    return stored.subdomain == subdomain and stored_base.rstrip("/") == base


def _save_account(acting_user: User | None, *, creds: Credentials, base_url: str, oauth: bool, token: str,
                  remote: dict[str, Any], stages: list[Stage], to_call: Stage, confirmed: Stage,
                  issued: list[Tokens]) -> KommoAccount:
    with transaction.atomic():
        account = KommoAccount.objects.select_for_update().filter(pk=1).first() or KommoAccount(pk=1)
        account.subdomain, account.base_url = creds.subdomain, base_url or settings.KOMMO_BASE_URL
        account.account_id = remote.get("id") or account.account_id
        account.auth_mode = KommoAccount.AuthMode.OAUTH if oauth else KommoAccount.AuthMode.LONG_LIVED
        account.long_lived_token = "" if oauth else token
        account.client_id, account.client_secret = creds.client_id, creds.client_secret
        account.redirect_uri = creds.redirect_uri
        if issued:
            account.access_token, account.refresh_token = issued[-1].access_token, issued[-1].refresh_token
            account.access_expires_at = issued[-1].expires_at
        elif oauth:
            account.access_token = token
        account.to_call_pipeline_id, account.to_call_status_id = to_call.pipeline_id, to_call.status_id
        account.to_call_stage_name = to_call.name
        account.confirmed_pipeline_id, account.confirmed_status_id = confirmed.pipeline_id, confirmed.status_id
        account.confirmed_stage_name = confirmed.name
        account.stage_names = {str(s.status_id): f"{s.pipeline_name} / {s.name}" for s in stages}
        account.connected_at, account.is_active = timezone.now(), True
        account.save()
        audit.record(actor=acting_user, action="kommo.connected", target=account, actor_username="manage.py",
                     changes={"subdomain": creds.subdomain, "to_call": to_call.name, "confirmed": confirmed.name,
                              "auth": account.auth_mode})
    return account


def check_rotate_webhook_secret(acting_user: User) -> KommoAccount:
    require_perm(acting_user, Perm.CRM_MANAGE)
    with transaction.atomic():
        account = KommoAccount.objects.select_for_update().get(pk=1)
        account.webhook_secret = secrets.token_urlsafe(24)
        account.save(update_fields=["webhook_secret"])
        audit.record(actor=acting_user, action="kommo.webhook_secret_rotated", target=account)
    return account


# --- processing (runs in the worker) -----------------------------------------------------------------


def _stage_name(account: KommoAccount, status_id: int | None) -> str:
    return str(account.stage_names.get(str(status_id), "")) if status_id is not None else ""


def _in_to_call_stage(account: KommoAccount, status_id: int | None, pipeline_id: int | None) -> bool:
    if status_id is None or status_id != account.to_call_status_id:
        return False
    return pipeline_id is None or account.to_call_pipeline_id is None or pipeline_id == account.to_call_pipeline_id


def _apply_lead_item(account: KommoAccount, client: KommoClient, item: LeadItem) -> None:
    if item.action == "delete":
        leads.do_lead_deleted(kommo_id=item.id)
        return
    known = Lead.objects.filter(kommo_id=item.id).only("in_queue", "kommo_updated_at").first()
    entering = _in_to_call_stage(account, item.status_id, item.pipeline_id)
    if not entering:
        if known is not None:
            leads.do_lead_left_stage(kommo_id=item.id, status_id=item.status_id, pipeline_id=item.pipeline_id,
                                     stage_name=_stage_name(account, item.status_id), updated_at=item.updated_at)
        return
    if known is not None and known.in_queue and item.updated_at and item.updated_at <= known.kommo_updated_at:
        return  # a redelivery (or update+status for the same change) of a state we already applied
    # The webhook carries no contact data: read the lead and its contacts from the API (Kommo's truth).
    remote = client.get_lead(item.id)
    if remote is None:
        leads.do_lead_deleted(kommo_id=item.id)
        return
    status_id, pipeline_id = remote.get("status_id"), remote.get("pipeline_id")
    contacts = remote.get("_embedded", {}).get("contacts") or []
    main = next((c for c in contacts if c.get("is_main")), contacts[0] if contacts else None)
    contact = None
    if main is not None:
        found = client.get_contacts([int(main["id"])])
        if found:
            c = found[0]
            contact = {"id": int(c["id"]), "name": c.get("name") or "", "phones": contact_values(c, "PHONE"),
                       "emails": contact_values(c, "EMAIL")}
    tags = [t.get("name", "") for t in remote.get("_embedded", {}).get("tags") or []]
    leads.do_upsert_lead_from_kommo(
        kommo_id=item.id, name=remote.get("name") or item.name, price=item.price if remote.get("price") is None
        else remote["price"], pipeline_id=pipeline_id, status_id=status_id,
        stage_name=_stage_name(account, status_id), updated_at=int(remote.get("updated_at") or item.updated_at),
        responsible_id=remote.get("responsible_user_id"), tags=tags or item.tags,
        custom_fields=[cf.as_json() for cf in item.custom_fields], contact=contact,
        in_stage=_in_to_call_stage(account, status_id, pipeline_id),
    )


class RetryWebhook(Exception):
    """Kommo is unavailable: the delivery stays `received` and should be tried again at `retry_at`."""

    def __init__(self, detail: str, *, retry_at: datetime) -> None:
        super().__init__(detail)
        self.retry_at = retry_at


def _retry_delay(attempts: int) -> timedelta:
    return backoff(attempts, base=2.0, cap=600.0, jitter=0.1)


def _claim_delivery(delivery_id: int) -> WebhookDelivery | str:
    """Starts an attempt: the delivery, or why not ("skipped": finished or gone; "busy": an attempt is running).

    While a delivery is `received`, `processed_at` is its lease (no migration needed for it): an attempt in
    progress holds it PROCESSING_LEASE ahead with an empty `error`; a delivery waiting for its retry holds its
    retry time with the reason in `error`. The retry task may start early (tests run deferred tasks at once);
    a second concurrent attempt may not, unless the process holding the lease (`lease_holder`) is dead by its
    heartbeat (core.heartbeats): then the lease is void. The safety net reads the same columns."""
    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.state != WebhookDelivery.State.RECEIVED:
            return "skipped"
        if delivery.processed_at is not None and delivery.processed_at > now and not delivery.error:
            if not heartbeats.holder_is_dead(delivery.lease_holder, now):
                return "busy"
            # The attempt's worker died (SIGKILL, its machine): its lease is void, this attempt takes over now.
            logger.warning("webhook delivery %s: lease of dead worker %s taken over", delivery.pk,
                           delivery.lease_holder)
        if delivery.attempts >= MAX_PROCESSING_ATTEMPTS:  # earlier attempts died with their worker
            delivery.state, delivery.processed_at = WebhookDelivery.State.FAILED, now
            delivery.error = _("Se abandonó tras %d intentos interrumpidos.") % delivery.attempts
            delivery.save(update_fields=["state", "processed_at", "error"])
            return "failed"
        delivery.attempts += 1
        delivery.processed_at, delivery.error = now + PROCESSING_LEASE, ""
        delivery.lease_holder = heartbeats.lease_holder()
        delivery.save(update_fields=["attempts", "processed_at", "error", "lease_holder"])
    return delivery


def do_process_webhook(delivery_id: int) -> str:
    """Processes one stored delivery and records the outcome on it: `processed`, or `failed` with the reason
    (unparseable body, Kommo refused, or any unexpected error: logged, never raised, so a batch always moves on
    to the next delivery). Safe to repeat: a finished delivery is skipped, an attempt in progress is not
    doubled, and every lead change it applies is idempotent. Raises RetryWebhook when Kommo is unavailable (the
    delivery stays `received` until the retry; after MAX_PROCESSING_ATTEMPTS it fails)."""
    claimed = _claim_delivery(delivery_id)
    if isinstance(claimed, str):
        return claimed
    delivery = claimed
    try:
        account = KommoAccount.current()
        if account is None:
            raise ActionError("not_connected", "Kommo is not connected")
        parsed = parse_kommo_webhook(delivery.body)
        with client_for(account) as client:
            for item in parsed.leads:
                _apply_lead_item(account, client, item)
    except WebhookParseError as exc:
        _finish(delivery, WebhookDelivery.State.FAILED, f"parse error: {exc}")
        return "failed"
    except KommoError as exc:
        final = not exc.retryable or delivery.attempts >= MAX_PROCESSING_ATTEMPTS
        error = f"{type(exc).__name__}: {exc.detail}"
        if final:
            _finish(delivery, WebhookDelivery.State.FAILED, error)
            return "failed"
        retry_at = timezone.now() + _retry_delay(delivery.attempts)
        _finish(delivery, WebhookDelivery.State.RECEIVED, error, lease=retry_at)
        raise RetryWebhook(error, retry_at=retry_at) from exc
    except ActionError as exc:
        _finish(delivery, WebhookDelivery.State.FAILED, exc.message)
        return "failed"
    except REDIS_DOWN as exc:
        # Redis dropped mid-attempt (the shared Kommo rate limiter, the channel layer): not bad data. The delivery
        # stays `received` with a short retry time; the retry task or, Redis being down, the safety net takes it.
        retry_at = timezone.now() + REDIS_RETRY
        _finish(delivery, WebhookDelivery.State.RECEIVED, f"redis unavailable: {exc}", lease=retry_at)
        raise RetryWebhook(str(exc), retry_at=retry_at) from exc
    except (OperationalError, InterfaceError):
        # The database hiccuped (SQLite "database is locked", a lost PostgreSQL connection): not bad data. The
        # delivery stays `received` under its lease and the safety net retries it within the attempt limit; Kommo
        # already got its 200 and will not resend, so failing it here would lose the change.
        logger.warning("kommo webhook %s: database unavailable; left for a retry", delivery.pk, exc_info=True)
        raise
    except Exception as exc:  # a bug or bad data (RecursionError, DataError…): this delivery fails, not the batch
        logger.exception("kommo webhook %s failed", delivery.pk)
        _finish(delivery, WebhookDelivery.State.FAILED, f"unexpected error: {type(exc).__name__}: {exc}")
        return "failed"
    _finish(delivery, WebhookDelivery.State.PROCESSED, "")
    return "processed"


def _finish(delivery: WebhookDelivery, state: str, error: str, *, lease: datetime | None = None) -> None:
    """Records the outcome; `lease` (a `received` delivery only) is when its retry is due. Fenced on this attempt
    (its number and holder): an attempt whose lease was taken over (its worker judged dead) records nothing."""
    updated = WebhookDelivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts,
                                             lease_holder=delivery.lease_holder).update(
        state=state, error=error.replace("\x00", "\ufffd")[:2000],
        processed_at=lease if state == WebhookDelivery.State.RECEIVED else timezone.now())
    if not updated:
        logger.warning("webhook delivery %s: attempt %s was taken over; its outcome (%s) is not recorded",
                       delivery.pk, delivery.attempts, state)


def stuck_delivery_ids(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """The safety net's query: `received` deliveries whose task was lost. Never tried and received more than a
    minute ago, or whose attempt's lease (or retry time) passed more than a minute ago (the deferred retry had
    its chance), or whose attempt's worker is dead by its heartbeat. Queuing one twice is harmless: the second run
    finds it finished or busy."""
    now = now or timezone.now()
    grace = now - timedelta(minutes=1)
    return list(WebhookDelivery.objects.filter(state=WebhookDelivery.State.RECEIVED)
                .filter(Q(processed_at__isnull=True, received_at__lt=grace) | Q(processed_at__lt=grace)
                        | Q(error="", lease_holder__in=heartbeats.dead_lease_holders(now)))
                .order_by("id").values_list("pk", flat=True)[:limit])


@transaction.atomic
def check_retry_delivery(acting_user: User, delivery_id: int) -> WebhookDelivery:
    require_perm(acting_user, Perm.CRM_MANAGE)
    delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
    if delivery is None:
        raise ActionError("delivery_not_found", _("El webhook no existe."))
    if delivery.state in (WebhookDelivery.State.FAILED, WebhookDelivery.State.REJECTED):
        # attempts restart too: otherwise one that ran out of attempts is failed again at once by _claim_delivery
        delivery.state, delivery.error, delivery.processed_at = WebhookDelivery.State.RECEIVED, "", None
        delivery.attempts = 0
        delivery.save(update_fields=["state", "error", "processed_at", "attempts"])

        enqueue_on_commit(tasks.process_kommo_webhook, delivery.pk)
        audit.record(actor=acting_user, action="kommo.webhook_retried", target=delivery)
    return delivery
