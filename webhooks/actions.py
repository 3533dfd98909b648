"""Outgoing signed webhooks for every domain event: fanned out from the event log, delivered by the worker with
retries.

Every event an action emits is in the event log (core.EventLog) when the action commits. Right after the commit,
the `webhooks` subscriber turns it into one message per active endpoint subscribed to its type; should that step be
lost (the process died between the commit and it), the periodic job finds the logged events of the last
FAN_OUT_WINDOW that have no message yet. A message is unique per (endpoint, event), so both paths together still
send each event once per endpoint.

Delivery is at-least-once. Each attempt is claimed with a compare-and-set lease kept in `next_attempt_at` (LEASE
ahead, the attempt counted), so a worker killed mid-POST leaves a row the next run claims again once the lease
expired (the periodic job runs every 30 s). A receiver that answered 2xx to the lost attempt gets the same event
again, with the same `X-Centralita-Event-Id`: that id is the receiver's idempotency key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from core import audit
from core.errors import ActionError, NotFoundError
from core.events import EVENT_TYPES, DomainEvent
from core.models import EventLog
from core.outbox import Outbox, Phase
from core.tasks import enqueue_on_commit
from webhooks import tasks
from webhooks.client import Attempt, post_event
from webhooks.models import WebhookEndpoint, WebhookMessage

logger = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
S = WebhookMessage.State
OUTBOX = Outbox("webhooks", WebhookMessage, {Phase.PENDING: S.PENDING, Phase.RETRYING: S.RETRYING,
                                            Phase.DONE: S.DELIVERED, Phase.FAILED: S.FAILED},
                lease=LEASE, backoff_base=5.0, backoff_cap=3600.0, lease_field="next_attempt_at")
FAN_OUT_WINDOW = timedelta(hours=24)


def event_codes() -> list[str]:
    return sorted(EVENT_TYPES)


def _subscribed(endpoints: Iterable[WebhookEndpoint], rows: Iterable[EventLog]) -> list[WebhookMessage]:
    return [WebhookMessage(endpoint=e, event=row.type, payload=row.payload, source_event=row.pk,
                           created_at=row.occurred_at)
            for row in rows for e in endpoints
            if row.type in e.events and e.created_at <= row.occurred_at]


def do_fan_out(event_log_ids: Iterable[int]) -> int:
    """One message per active endpoint subscribed to each logged event (idempotent: an event already fanned out
    to an endpoint is skipped); delivery starts after commit. Returns the messages created."""
    endpoints = list(WebhookEndpoint.objects.filter(is_active=True))
    if not endpoints:
        return 0
    wanted = {code for e in endpoints for code in e.events}
    rows = list(EventLog.objects.filter(pk__in=list(event_log_ids), type__in=wanted))
    done = set(WebhookMessage.objects.filter(source_event__in=[r.pk for r in rows])
               .values_list("endpoint_id", "source_event"))
    messages = [m for m in _subscribed(endpoints, rows) if (m.endpoint_id, m.source_event) not in done]
    if not messages:
        return 0
    with transaction.atomic():
        # ignore_conflicts: the other path (after-commit fan-out or safety net) may insert the same pair meanwhile
        WebhookMessage.objects.bulk_create(messages, ignore_conflicts=True)
        enqueue_on_commit(tasks.deliver_webhooks)
    return len(messages)


def do_queue_message(endpoint_id: int, *, event: str, payload: dict[str, Any]) -> WebhookMessage | None:
    """One message for one active endpoint outside its subscriptions (an automation rule's "send a webhook"):
    signed and retried like every other, delivered after commit. None when the endpoint is gone or inactive."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).first()
    if endpoint is None:
        return None
    message = WebhookMessage.objects.create(endpoint=endpoint, event=event, payload=payload)
    enqueue_on_commit(tasks.deliver_webhooks)
    return message


ACTIVE_TTL = 5.0  # seconds a process trusts its "is any endpoint active?" answer
_active: dict[str, float | bool] = {"until": 0.0, "any": False}


def _any_active_endpoint() -> bool:
    """Whether any endpoint is active, asked of the database at most every ACTIVE_TTL seconds per process (most
    installations have none, and every event asks). Saving an endpoint forgets the answer in its own process; in
    the others, an event of those first seconds is fanned out by the safety net instead."""
    now = time.monotonic()
    if now >= float(_active["until"]):
        _active["any"] = WebhookEndpoint.objects.filter(is_active=True).exists()
        _active["until"] = now + ACTIVE_TTL
    return bool(_active["any"])


def forget_active_endpoints() -> None:
    _active["until"] = 0.0


def on_event(event: DomainEvent) -> None:
    """Subscriber of every event (core.events, after commit)."""
    if event.log_id is not None and _any_active_endpoint():
        do_fan_out([event.log_id])


def do_fan_out_missed(*, now: datetime | None = None) -> int:
    """The safety net: logged events of the last FAN_OUT_WINDOW (older than a minute, so not ones whose
    after-commit fan-out is running right now) that a subscribed endpoint has no message for — the fan-out was
    lost with its process. One anti-join per endpoint."""
    now = now or timezone.now()
    created = 0
    for endpoint in WebhookEndpoint.objects.filter(is_active=True):
        missing = (EventLog.objects
                   .filter(occurred_at__gte=max(now - FAN_OUT_WINDOW, endpoint.created_at),
                           occurred_at__lt=now - timedelta(minutes=1), type__in=endpoint.events)
                   .exclude(pk__in=endpoint.messages.filter(source_event__isnull=False).values("source_event"))
                   .order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids := list(missing)), 500):
            created += do_fan_out(ids[start:start + 500])
    return created


@transaction.atomic
def check_save_endpoint(acting_user: User, *, url: str, events: Iterable[str], description: str = "",
                        is_active: bool = True, endpoint_id: int | None = None) -> WebhookEndpoint:
    require_perm(acting_user, Perm.INTEGRATIONS_MANAGE)
    try:
        URLValidator(schemes=["https", "http"])(url)
    except ValidationError as exc:
        raise ActionError("invalid_url", _("URL inválida."), field="url") from exc
    chosen = sorted(set(events))
    codes = event_codes()
    unknown = [e for e in chosen if e not in codes]
    if unknown or not chosen:
        raise ActionError("invalid_events", _("Elija eventos entre: %s.") % ", ".join(codes), field="events")
    endpoint = (WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first() if endpoint_id
                else WebhookEndpoint())
    if endpoint is None:
        raise NotFoundError("endpoint_not_found", _("El webhook no existe."))
    endpoint.url, endpoint.events, endpoint.description, endpoint.is_active = url, chosen, description, is_active
    endpoint.save()
    transaction.on_commit(forget_active_endpoints)
    audit.record(actor=acting_user, action="webhook_endpoint.saved", target=endpoint,
                 changes={"url": url, "events": chosen, "active": is_active})
    return endpoint


def do_deliver_due(*, limit: int = 100) -> int:
    """Delivers due messages, each claimed with a compare-and-set lease (safe with several workers)."""
    sent = 0
    for _slot in range(limit):
        now = timezone.now()
        message = (WebhookMessage.objects.filter(state__in=OUTBOX.active, next_attempt_at__lte=now)
                   .select_related("endpoint").order_by("id").first())
        if message is None:
            break
        if not OUTBOX.claim(message.pk, now=now, when=Q(next_attempt_at=message.next_attempt_at)):
            continue
        try:
            attempt = post_event(message.endpoint.url, secret=message.endpoint.secret, event=message.event,
                                 event_id=str(message.event_id), payload=message.payload)
        except Exception as exc:  # a bug or bad data in this message: counted as a failed attempt, never a dead loop
            logger.exception("outgoing webhook %s failed", message.pk)
            attempt = Attempt(False, None, f"{type(exc).__name__}: {exc}")
        attempts = message.attempts + 1
        if attempt.ok:
            OUTBOX.succeed(message.pk, delivered_at=timezone.now(), last_status=attempt.status)
            sent += 1
        elif attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            OUTBOX.park(message.pk, error=attempt.error, last_status=attempt.status)
        else:
            OUTBOX.retry_later(message.pk, attempts=attempts, error=attempt.error, now=now,
                               last_status=attempt.status)
    return sent


def next_due_at() -> Any:
    return (WebhookMessage.objects.filter(state__in=OUTBOX.active)
            .order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first())


def check_retry_messages(acting_user: User, *, message_ids: list[int] | None = None) -> int:
    require_perm(acting_user, Perm.INTEGRATIONS_MANAGE)
    qs = WebhookMessage.objects.filter(state=WebhookMessage.State.FAILED)
    if message_ids is not None:
        qs = qs.filter(pk__in=message_ids)
    with transaction.atomic():
        ids = OUTBOX.requeue(qs.values_list("pk", flat=True))
        audit.record(actor=acting_user, action="webhook.retried", changes={"ids": ids})
        enqueue_on_commit(tasks.deliver_webhooks)
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
