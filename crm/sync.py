"""Kommo outbox: what orders owe Kommo, delivered oldest first, at-least-once and idempotently.

Written in the same transaction as the order (do_queue_order_sync); delivered by the worker
(do_drain_kommo_outbox), which claims one row at a time with a compare-and-set lease so several workers never
deliver the same row at once, and stops at the first retryable failure so that, after an outage, rows still go
out in the order they were written.

The lease lives in `next_attempt_at` (claiming moves it LEASE ahead and counts the attempt), so a row whose worker
was killed mid-delivery is claimed again by the next drain once the lease expires (the periodic drain runs every
30 s): nothing stays in flight. Re-delivery cannot double anything: the stage move is naturally idempotent, each
step is recorded in `done_steps` as soon as Kommo accepted it, and before re-adding a note whose answer was lost
the drain looks for the row's marker on the lead (Kommo has no idempotency key for notes).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Case, Count, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from core import audit
from core.errors import ActionError
from core.events import DomainEvent
from core.outbox import Outbox, Phase
from core.tasks import enqueue_on_commit
from crm import tasks
from crm.actions import client_for
from crm.client import KommoClient, KommoError
from crm.models import KommoAccount, KommoSync
from orders.events import OrderConfirmed
from orders.models import Order, OrderEvent
from orders.sync_state import SyncState

logger = logging.getLogger(__name__)
LEASE = timedelta(seconds=90)  # longer than the client's worst case (4 attempts × 20 s timeout is bounded by it)
OUTBOX = Outbox("kommo", KommoSync, {Phase.PENDING: KommoSync.State.PENDING, Phase.RETRYING: KommoSync.State.RETRYING,
                                      Phase.DONE: KommoSync.State.SYNCED, Phase.FAILED: KommoSync.State.FAILED},
                lease=LEASE, backoff_base=5.0, backoff_cap=1800.0, lease_field="next_attempt_at")
ACTIVE = OUTBOX.active


def on_order_confirmed(event: DomainEvent) -> None:
    """In-transaction subscriber of `order.confirmed`: the outbox row commits with the order, or neither does."""
    if not isinstance(event, OrderConfirmed):
        return
    order = Order.objects.select_related("lead", "agent").get(pk=event.order_id)
    do_queue_order_sync(order)


def do_queue_order_sync(order: Order) -> KommoSync | None:
    """Outbox row for a confirmed order: move the lead to "Venta Confirmada", set its price to the order
    total, and add a note with the order summary. No row when the order has no Kommo lead or Kommo is not
    connected (the order page then says "sin sincronización")."""
    account = KommoAccount.current()
    lead = order.lead
    if account is None or lead is None or account.confirmed_status_id is None:
        return None
    rows = order.lines.all()
    summary = "\n".join(f"• {line.quantity} × {line.name} ({line.sku}) = {line.line_total}" for line in rows)
    note = _("Pedido %(n)s confirmado en Centralita por %(agent)s.\nTotal: %(total)s %(cur)s\n%(lines)s") % {
        "n": order.number, "agent": order.agent.display_name, "total": order.total, "cur": order.currency,
        "lines": summary}
    sync = KommoSync.objects.create(
        kind="order_confirmed", order=order, lead_kommo_id=lead.kommo_id,
        idempotency_key=f"order-{order.pk}-confirmed",
        payload={"status_id": account.confirmed_status_id, "pipeline_id": account.confirmed_pipeline_id,
                 "price": int(order.total) if order.total == int(order.total) else float(order.total), "note": note},
    )

    enqueue_on_commit(tasks.drain_kommo_outbox)
    return sync


def _claim(now: datetime) -> KommoSync | None:
    """The oldest active row, leased to this worker; None when the oldest is not due yet (order matters)."""
    oldest = KommoSync.objects.filter(state__in=ACTIVE).order_by("id").first()
    if oldest is None or oldest.next_attempt_at > now:
        return None
    if not OUTBOX.claim(oldest.pk, now=now, when=Q(next_attempt_at=oldest.next_attempt_at)):
        return None  # another worker took it; it will carry on
    oldest.refresh_from_db()
    return oldest


def _deliver(client: KommoClient, sync: KommoSync) -> None:
    payload, done = sync.payload, list(sync.done_steps)
    if "stage" not in done:
        fields = {"status_id": payload["status_id"], "price": payload["price"]}
        if payload.get("pipeline_id"):
            fields["pipeline_id"] = payload["pipeline_id"]
        client.update_lead(sync.lead_kommo_id, fields)
        done.append("stage")
        KommoSync.objects.filter(pk=sync.pk).update(done_steps=done)
    if "note" not in done:
        # A previous attempt may have created the note and then lost the answer (timeout): look before adding.
        if "note_attempted" not in done or not client.lead_has_note(sync.lead_kommo_id, sync.marker):
            done.append("note_attempted")
            KommoSync.objects.filter(pk=sync.pk).update(done_steps=done)
            client.add_lead_note(sync.lead_kommo_id, f"{payload['note']}\n{sync.marker}",
                                 request_id=sync.idempotency_key)
        done.append("note")
        KommoSync.objects.filter(pk=sync.pk).update(done_steps=done)


@dataclass(frozen=True)
class DrainResult:
    delivered: int
    failed: int
    retry_at: datetime | None


def do_drain_kommo_outbox(*, limit: int = 200) -> DrainResult:
    """Delivers due rows oldest first. Safe to run concurrently and to repeat."""

    account = KommoAccount.current()
    if account is None:
        return DrainResult(0, 0, None)
    delivered = failed = 0
    retry_at = None
    with client_for(account) as client:
        for _slot in range(limit):
            now = timezone.now()
            sync = _claim(now)
            if sync is None:
                nxt = KommoSync.objects.filter(state__in=ACTIVE).order_by("id").values_list("next_attempt_at",
                                                                                           flat=True).first()
                retry_at = nxt if nxt is not None and nxt > now else None
                break
            try:
                if sync.attempts > settings.KOMMO_SYNC_MAX_ATTEMPTS:  # the last attempts died with their worker
                    raise KommoError(_("Se abandonó tras %d intentos interrumpidos.") % (sync.attempts - 1))
                _deliver(client, sync)
            except Exception as exc:
                if isinstance(exc, KommoError):
                    retryable, detail, error = exc.retryable, exc.detail, f"{type(exc).__name__}: {exc.detail}"
                elif isinstance(exc, OperationalError | InterfaceError):  # our database hiccuped: an outage
                    logger.warning("kommo sync %s: database unavailable", sync.pk, exc_info=True)
                    retryable, detail = True, f"{type(exc).__name__}: {exc}"
                    error = f"database unavailable: {detail}"
                else:
                    # A bug or bad data in this row. Retrying it like an outage would hold every order behind it
                    # (only the oldest active row is claimed) for the whole backoff: it is parked at once with its
                    # reason on the integrations page, where an admin can retry it once fixed.
                    logger.exception("kommo sync %s failed", sync.pk)
                    retryable, detail = False, f"{type(exc).__name__}: {exc}"
                    error = f"unexpected error: {detail}"
                final = not retryable or sync.attempts >= settings.KOMMO_SYNC_MAX_ATTEMPTS
                if final:
                    OUTBOX.park(sync.pk, error=error)
                else:
                    retry = OUTBOX.retry_later(sync.pk, attempts=sync.attempts, error=error, now=now)
                if sync.order_id:
                    OrderEvent.objects.create(order_id=sync.order_id, kind="kommo_sync_failed" if final else
                                              "kommo_sync_retry", data={"error": detail[:500],
                                                                        "attempt": sync.attempts})
                if final:
                    failed += 1
                    continue  # a row Kommo refuses (or our code cannot send) must not block the others
                retry_at = retry
                break  # Kommo is unavailable: keep the order, try again later
            OUTBOX.succeed(sync.pk, synced_at=timezone.now())
            if sync.order_id:
                OrderEvent.objects.create(order_id=sync.order_id, kind="kommo_synced", data={"attempt": sync.attempts})
            delivered += 1
    return DrainResult(delivered, failed, retry_at)


def check_retry_syncs(acting_user: User, *, sync_ids: list[int] | None = None) -> int:
    """Puts failed rows back in line (one, several, or all when `sync_ids` is None)."""
    require_perm(acting_user, Perm.INTEGRATIONS_MANAGE)
    qs = KommoSync.objects.filter(state=KommoSync.State.FAILED)
    if sync_ids is not None:
        qs = qs.filter(pk__in=sync_ids)
        if not qs.exists():
            raise ActionError("nothing_to_retry", _("No hay sincronizaciones fallidas con esos ids."))
    with transaction.atomic():
        ids = OUTBOX.requeue(qs.values_list("pk", flat=True))
        audit.record(actor=acting_user, action="kommo.sync_retried", changes={"ids": ids})

        enqueue_on_commit(tasks.drain_kommo_outbox)
    return len(ids)


def sync_status(order_id: int) -> str | None:
    state = KommoSync.objects.filter(order_id=order_id).order_by("-id").values_list("state", flat=True).first()
    return state


def pending_count() -> int:
    return KommoSync.objects.filter(Q(state__in=ACTIVE)).count()


# The admin page and the API list the rows that need a person first.
ATTENTION_ORDER = (KommoSync.State.FAILED, KommoSync.State.RETRYING, KommoSync.State.PENDING, KommoSync.State.SYNCED)


def outbox_rows(*, state: str | None = None) -> QuerySet[KommoSync]:
    """Outbox rows for the integrations page and API: one state newest first, or (no state) every row with
    failed, then retrying, then pending, then synced. The unfiltered order sorts on an expression, which
    scans the table; acceptable for an admin page, and the per-state views use the (state, …) index."""
    qs = KommoSync.objects.defer("payload", "done_steps")
    if state:
        return qs.filter(state=state).order_by("-id")
    rank = Case(*(When(state=s, then=Value(i)) for i, s in enumerate(ATTENTION_ORDER)),
                default=Value(len(ATTENTION_ORDER)))
    return qs.order_by(rank, "-id")


def state_counts() -> dict[str, int]:
    """Rows per state (every state present, zero included), in one grouped query."""
    counts = dict(KommoSync.objects.order_by().values_list("state").annotate(n=Count("id")))
    return {s.value: counts.get(s.value, 0) for s in KommoSync.State}


# --- what the order pages show (orders.sync_state readers, registered in CrmConfig.ready) ----------------------


def order_sync_states(order_ids: Collection[int]) -> dict[int, SyncState]:
    """Each order's latest Kommo sync state, labelled in the current language (one query)."""
    rows = (KommoSync.objects.filter(order_id__in=list(order_ids)).order_by("order_id", "id")
            .values_list("order_id", "state"))
    labels = dict(KommoSync.State.choices)
    return {order_id: SyncState(state, str(labels.get(state, state))) for order_id, state in rows
            if order_id is not None}


def order_sync_stages(order_ids: Collection[int]) -> dict[int, str]:
    """{order id: Kommo stage name its confirmation sync targets} (two queries: the outbox rows, the account's stage
    names)."""
    targets: dict[int, str] = {}
    for order_id, payload in (KommoSync.objects.filter(order_id__in=list(order_ids)).order_by("id")
                              .values_list("order_id", "payload")):
        if order_id is not None and isinstance(payload, dict) and payload.get("status_id") is not None:
            targets[order_id] = str(payload["status_id"])
    account = KommoAccount.objects.filter(pk=1).values_list("stage_names", "confirmed_status_id",
                                                             "confirmed_stage_name").first()
    if account is None:
        return {}
    names, confirmed_id, confirmed_name = account
    names = names if isinstance(names, dict) else {}
    stages = {}
    for order_id, status_id in targets.items():
        name = names.get(status_id) or (confirmed_name if status_id == str(confirmed_id) else "")
        if name:
            stages[order_id] = str(name)
    return stages
