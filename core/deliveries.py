"""Stored webhook deliveries processed by a task under a lease: the columns every connector's delivery model shares
(`WebhookDeliveryBase`) and the steps of their processing that do not depend on the vendor.

While a delivery is `received`, `processed_at` is its lease. An attempt in progress holds it ahead (the caller's
PROCESSING_LEASE) with an empty `error` and names its process in `lease_holder`; a delivery waiting for a retry holds
its retry time with the reason in `error`. A lease is void once its holder is dead by its heartbeat
(core.heartbeats). Every outcome is recorded fenced on the attempt that produced it (its number and holder), so an
attempt whose lease was taken over records nothing. The safety net reads the same columns (`stuck_delivery_ids`).

The vendor's part (parsing the body, what it means, the task that processes it, who may retry) stays in the
connector's actions.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.db.models import Q
from django.tasks import Task
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core import heartbeats
from core.errors import ActionError, NotFoundError

logger = logging.getLogger(__name__)
STUCK_GRACE = timedelta(minutes=1)  # a task queued this long ago had its chance: the safety net takes over


class WebhookDeliveryBase(models.Model):
    """A raw webhook POST, stored before anything is parsed (nothing accepted is ever lost), and its processing:
    `state`, the reason in `error`, `attempts` and the lease (`processed_at`, `lease_holder`). Concrete models add
    the vendor's columns (the account it came for, ids read for the admin list), `verbose_name` and their index."""

    class State(models.TextChoices):
        RECEIVED = "received", gettext_lazy("Recibido")
        PROCESSED = "processed", gettext_lazy("Procesado")
        FAILED = "failed", gettext_lazy("Fallido")
        REJECTED = "rejected", gettext_lazy("Rechazado")

    received_at = models.DateTimeField(default=timezone.now)
    body = models.TextField()
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    # The process ("host:pid") whose attempt holds the lease in `processed_at`; void once it is dead by its heartbeat.
    lease_holder = models.CharField(max_length=120, blank=True, default="")

    class Meta:
        abstract = True
        ordering = ["-received_at", "-id"]


_State = WebhookDeliveryBase.State


def claim_delivery[DeliveryT: WebhookDeliveryBase](model: type[DeliveryT], delivery_id: int, *, lease: timedelta,
                                                   max_attempts: int) -> DeliveryT | str:
    """Starts an attempt: the delivery, leased `lease` ahead to this process, or why not ("skipped": finished or
    gone; "busy": an attempt is running; "failed": `max_attempts` earlier attempts died with their worker, so it is
    marked failed now). A delivery waiting for its retry may start early (tests run deferred tasks at once); a second
    concurrent attempt may not, unless the process holding the lease is dead by its heartbeat."""
    now = timezone.now()
    with transaction.atomic():
        # No select_related here: PostgreSQL cannot lock the nullable side of an outer join (the account may be NULL).
        delivery = model._default_manager.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.state != _State.RECEIVED:
            return "skipped"
        if delivery.processed_at is not None and delivery.processed_at > now and not delivery.error:
            if not heartbeats.holder_is_dead(delivery.lease_holder, now):
                return "busy"
            # The attempt's worker died (SIGKILL, its machine): its lease is void, this attempt takes over now.
            logger.warning("webhook delivery %s: lease of dead worker %s taken over", delivery.pk,
                           delivery.lease_holder)
        if delivery.attempts >= max_attempts:
            delivery.state, delivery.processed_at = _State.FAILED, now
            delivery.error = _("Se abandonó tras %d intentos interrumpidos.") % delivery.attempts
            delivery.save(update_fields=["state", "processed_at", "error"])
            return "failed"
        delivery.attempts += 1
        delivery.processed_at, delivery.error = now + lease, ""
        delivery.lease_holder = heartbeats.lease_holder()
        delivery.save(update_fields=["attempts", "processed_at", "error", "lease_holder"])
    return delivery


def finish_delivery(delivery: WebhookDeliveryBase, state: str, error: str, *, lease: datetime | None = None) -> None:
    """Records the attempt's outcome (`error` cleaned of NULs and cut to 2,000 characters); `lease` (a `received`
    delivery only) is when its retry is due. Fenced on the attempt: one whose lease was taken over records nothing."""
    updated = type(delivery)._default_manager.filter(
        pk=delivery.pk, attempts=delivery.attempts, lease_holder=delivery.lease_holder,
    ).update(state=state, error=error.replace("\x00", "\ufffd")[:2000],
             processed_at=lease if state == _State.RECEIVED else timezone.now())
    if not updated:
        logger.warning("webhook delivery %s: attempt %s was taken over; its outcome (%s) is not recorded",
                       delivery.pk, delivery.attempts, state)


def stuck_delivery_ids(model: type[WebhookDeliveryBase], *, now: datetime | None = None,
                       limit: int = 500) -> list[int]:
    """`received` deliveries whose task was lost: never tried and received more than STUCK_GRACE ago, or whose
    attempt's lease (or retry time) passed more than STUCK_GRACE ago (the deferred retry had its chance), or whose
    attempt's worker is dead by its heartbeat. Oldest first; queuing one twice is harmless (the second run finds it
    finished or busy)."""
    now = now or timezone.now()
    grace = now - STUCK_GRACE
    return list(model._default_manager.filter(state=_State.RECEIVED)
                .filter(Q(processed_at__isnull=True, received_at__lt=grace) | Q(processed_at__lt=grace)
                        | Q(error="", lease_holder__in=heartbeats.dead_lease_holders(now)))
                .order_by("id").values_list("pk", flat=True)[:limit])


def requeue_stuck_deliveries(model: type[WebhookDeliveryBase], task: Task[[list[int]], Any], *,
                             now: datetime | None = None, chunk: int = 25) -> int:
    """The safety net's share: stuck deliveries (stuck_delivery_ids) queued again on `task` (which takes a list of
    ids), `chunk` per task so that every worker takes a share of a backlog. Returns how many were queued."""
    stuck = stuck_delivery_ids(model, now=now)
    for start in range(0, len(stuck), chunk):
        task.enqueue(stuck[start:start + chunk])
    return len(stuck)


def reset_failed_delivery[DeliveryT: WebhookDeliveryBase](model: type[DeliveryT],
                                                          delivery_id: int) -> tuple[DeliveryT, bool]:
    """An administrator's retry, inside the caller's transaction (which queues the task on commit when this says
    True): a failed delivery goes back to `received` with its attempts restarted (otherwise one that ran out of
    attempts is failed again at once by claim_delivery); any other is left as it is (False). NotFoundError when it
    is gone; ActionError for a rejected one (its signature failed: it is never processed)."""
    delivery = model._default_manager.select_for_update().filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFoundError("delivery_not_found", _("El webhook no existe."))
    if delivery.state == _State.REJECTED:
        raise ActionError("rejected_delivery", _("Un webhook rechazado por su firma no se procesa nunca."))
    if delivery.state != _State.FAILED:
        return delivery, False
    delivery.state, delivery.error, delivery.processed_at, delivery.attempts = _State.RECEIVED, "", None, 0
    delivery.save(update_fields=["state", "error", "processed_at", "attempts"])
    return delivery, True
