"""Outgoing signed webhooks: queued in the caller's transaction, delivered by the worker with retries.

Delivery is at-least-once. Each attempt is claimed with a compare-and-set lease kept in `next_attempt_at` (LEASE
ahead, the attempt counted), so a worker killed mid-POST leaves a row the next run claims again once the lease
expired (the periodic job runs every 30 s). A receiver that answered 2xx to the lost attempt gets the same event
again, with the same `X-Centralita-Event-Id`: that id is the receiver's idempotency key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from core import audit
from core.backoff import backoff
from core.errors import ActionError, NotFoundError
from core.tasks import enqueue_on_commit
from webhooks.client import Attempt, post_event
from webhooks.models import EVENTS, WebhookEndpoint, WebhookMessage

logger = logging.getLogger(__name__)
EVENT_CODES = [code for code, _label in EVENTS]
LEASE = timedelta(seconds=60)


def do_queue_event(event: str, payload: dict[str, Any] | Callable[[], dict[str, Any]]) -> list[WebhookMessage]:
    """One message per active endpoint subscribed to `event`; delivery starts after commit. `payload` may be a
    callable: it is only built when someone subscribes (most installations have no endpoints)."""
    endpoints = [e for e in WebhookEndpoint.objects.filter(is_active=True) if event in e.events]
    if not endpoints:
        return []
    body = payload() if callable(payload) else payload
    messages = WebhookMessage.objects.bulk_create(
        [WebhookMessage(endpoint=e, event=event, payload=body) for e in endpoints])
    if messages:
        from webhooks.tasks import deliver_webhooks

        enqueue_on_commit(deliver_webhooks)
    return messages


@transaction.atomic
def check_save_endpoint(acting_user: User, *, url: str, events: Iterable[str], description: str = "",
                        is_active: bool = True, endpoint_id: int | None = None) -> WebhookEndpoint:
    require_perm(acting_user, Perm.INTEGRATIONS_MANAGE)
    try:
        URLValidator(schemes=["https", "http"])(url)
    except ValidationError as exc:
        raise ActionError("invalid_url", _("URL inválida."), field="url") from exc
    chosen = sorted(set(events))
    unknown = [e for e in chosen if e not in EVENT_CODES]
    if unknown or not chosen:
        raise ActionError("invalid_events", _("Elija eventos entre: %s.") % ", ".join(EVENT_CODES), field="events")
    endpoint = (WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first() if endpoint_id
                else WebhookEndpoint())
    if endpoint is None:
        raise NotFoundError("endpoint_not_found", _("El webhook no existe."))
    endpoint.url, endpoint.events, endpoint.description, endpoint.is_active = url, chosen, description, is_active
    endpoint.save()
    audit.record(actor=acting_user, action="webhook_endpoint.saved", target=endpoint,
                 changes={"url": url, "events": chosen, "active": is_active})
    return endpoint


def _backoff(attempts: int) -> timedelta:
    return backoff(attempts, base=5.0, cap=3600.0)


def do_deliver_due(*, limit: int = 100) -> int:
    """Delivers due messages, each claimed with a compare-and-set lease (safe with several workers)."""
    sent = 0
    for _slot in range(limit):
        now = timezone.now()
        message = (WebhookMessage.objects.filter(state__in=[WebhookMessage.State.PENDING,
                                                            WebhookMessage.State.RETRYING],
                                                 next_attempt_at__lte=now)
                   .select_related("endpoint").order_by("id").first())
        if message is None:
            break
        if not WebhookMessage.objects.filter(pk=message.pk, next_attempt_at=message.next_attempt_at).update(
                next_attempt_at=now + LEASE, attempts=F("attempts") + 1):
            continue
        try:
            attempt = post_event(message.endpoint.url, secret=message.endpoint.secret, event=message.event,
                                 event_id=str(message.event_id), payload=message.payload)
        except Exception as exc:  # a bug or bad data in this message: counted as a failed attempt, never a dead loop
            logger.exception("outgoing webhook %s failed", message.pk)
            attempt = Attempt(False, None, f"{type(exc).__name__}: {exc}")
        attempts = message.attempts + 1
        if attempt.ok:
            WebhookMessage.objects.filter(pk=message.pk).update(
                state=WebhookMessage.State.DELIVERED, delivered_at=timezone.now(), last_status=attempt.status,
                last_error="")
            sent += 1
            continue
        final = attempts >= settings.WEBHOOK_MAX_ATTEMPTS
        WebhookMessage.objects.filter(pk=message.pk).update(
            state=WebhookMessage.State.FAILED if final else WebhookMessage.State.RETRYING,
            last_status=attempt.status, last_error=attempt.error[:2000], next_attempt_at=now + _backoff(attempts))
    return sent


def next_due_at() -> Any:
    return (WebhookMessage.objects.filter(state__in=[WebhookMessage.State.PENDING, WebhookMessage.State.RETRYING])
            .order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first())


def check_retry_messages(acting_user: User, *, message_ids: list[int] | None = None) -> int:
    require_perm(acting_user, Perm.INTEGRATIONS_MANAGE)
    qs = WebhookMessage.objects.filter(state=WebhookMessage.State.FAILED)
    if message_ids is not None:
        qs = qs.filter(pk__in=message_ids)
    with transaction.atomic():
        ids = list(qs.values_list("pk", flat=True))
        WebhookMessage.objects.filter(pk__in=ids).update(state=WebhookMessage.State.PENDING, attempts=0,
                                                         next_attempt_at=timezone.now())
        audit.record(actor=acting_user, action="webhook.retried", changes={"ids": ids})
        from webhooks.tasks import deliver_webhooks

        enqueue_on_commit(deliver_webhooks)
    return len(ids)


def access_endpoint(acting_user: User, endpoint_id: int) -> WebhookEndpoint:
    require_perm(acting_user, Perm.INTEGRATIONS_MANAGE)
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFoundError("endpoint_not_found", _("El webhook no existe."))
    return endpoint


def check_retry_endpoint_messages(acting_user: User, *, endpoint_id: int) -> int:
    """Puts every failed message of one endpoint back in line (e.g. after the receiver's outage)."""
    endpoint = access_endpoint(acting_user, endpoint_id)
    ids = list(endpoint.messages.filter(state=WebhookMessage.State.FAILED).values_list("pk", flat=True))
    if not ids:
        return 0
    return check_retry_messages(acting_user, message_ids=ids)
