"""Status callbacks (contract "Status callbacks"): each (MessageSid, MessageStatus) once, to its owner.

The owner of a sid is an inbox message (a reply the sender sent: its delivery status moves, forward only — the
inbox's do_update_delivery_status ignores a "sent" after a "delivered") or, for sids the inbox does not know, one of
the **listeners** other apps register (campaigns: `register_listener(fn)` from their AppConfig.ready()):

    def on_sms_status(sid: str, status: str, error: str, at: datetime) -> bool: ...  # True: the sid is mine

A listener gets Twilio's own status word (`queued`, `sent`, `delivered`, `undelivered`, `failed`, `read`…), the
error as people read it ("30003: Unreachable destination handset", or ""), and when the callback arrived (Twilio's
callbacks carry no time of their own). It runs inside a savepoint while the receipt's row is locked, and may be
offered the same (sid, status) again if its process dies before the receipt is marked (it must be idempotent).
Statuses of one sid may arrive in any order: a listener never moves its own state backwards.

A status for a sid nobody claims yet (it overtook the send's answer) stays pending: it is applied when the sender
stores the sid (`apply_pending`), and the safety net offers it again for an hour. Campaigns may call
`apply_pending(sids)` right after storing the sids of a batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Final

from django.db import IntegrityError, transaction
from django.utils import timezone

from connectors.sms.models import OutboundSend, StatusReceipt
from inbox.actions import do_update_delivery_status
from inbox.choices import DeliveryStatus, MessageKind
from inbox.models import Message

logger = logging.getLogger(__name__)

Listener = Callable[[str, str, str, datetime], bool]
_LISTENERS: dict[str, Listener] = {}

# Twilio's statuses (twilio.com/docs/messaging/guides/track-outbound-message-status) and the inbox's view of them.
RANK: Final = {"accepted": 0, "scheduled": 0, "queued": 0, "sending": 0, "sent": 1, "delivered": 2, "read": 3,
               "undelivered": 4, "failed": 4, "canceled": 4}
TO_INBOX: Final = {"sent": DeliveryStatus.SENT, "delivered": DeliveryStatus.DELIVERED, "read": DeliveryStatus.READ,
                   "undelivered": DeliveryStatus.FAILED, "failed": DeliveryStatus.FAILED,
                   "canceled": DeliveryStatus.FAILED}
# The delivery failures Twilio reports in callbacks (twilio.com/docs/errors/<code>), as an agent reads them.
ERRORS: Final = {
    "30001": "Queue overflow", "30002": "Account suspended", "30003": "Unreachable destination handset",
    "30004": "Message blocked", "30005": "Unknown destination handset", "30006": "Landline or unreachable carrier",
    "30007": "Message filtered", "30008": "Unknown error", "30034": "Message blocked (unregistered 10DLC number)",
    "21610": "Attempt to send to unsubscribed recipient", "21211": "Invalid 'To' phone number",
}
RETRY_PENDING_FOR = timedelta(hours=1)


def register_listener(fn: Listener) -> None:
    """Adds `fn(sid, status, error, at) -> bool` (registering the same function again changes nothing)."""
    _LISTENERS[f"{fn.__module__}.{fn.__qualname__}"] = fn


def listeners() -> list[tuple[str, Listener]]:
    return list(_LISTENERS.items())


def error_text(code: str, message: str = "") -> str:
    code = code.strip()
    if not code:
        return message[:300]
    return f"{code}: {message or ERRORS.get(code, 'Error')}"[:300]


def _message_for(sid: str) -> int | None:
    found = (OutboundSend.objects.filter(sid=sid).values_list("message_id", flat=True).first()
             or Message.objects.filter(external_id=sid, kind=MessageKind.OUTBOUND).values_list("pk", flat=True).first())
    return found or None


def do_record_status(*, sid: str, status: str, error_code: str = "", error_message: str = "",
                     at: datetime | None = None) -> str:
    """One status callback. Returns "applied" (an inbox message), "handled" (a listener), "pending" (nobody knows
    the sid yet), "duplicate" (this (sid, status) was already delivered) or "ignored" (no sid, unknown status).
    Idempotent on (sid, status)."""
    status = status.strip().lower()
    if not sid or status not in RANK:
        return "ignored"
    error = error_text(error_code, error_message) if RANK[status] == RANK["failed"] else ""
    try:
        with transaction.atomic():
            receipt, created = StatusReceipt.objects.get_or_create(
                sid=sid, status=status, defaults={"error": error, "reported_at": at or timezone.now()})
    except IntegrityError:  # the same callback raced in from a parallel redelivery: that one delivers it
        return "duplicate"
    if not created and receipt.applied:
        return "duplicate"
    return _deliver(receipt.pk)


def _deliver(receipt_id: int) -> str:
    """Offers one receipt to its owner under the receipt's row lock (a parallel redelivery waits, then finds it
    applied)."""
    with transaction.atomic():
        receipt = StatusReceipt.objects.select_for_update().filter(pk=receipt_id).first()
        if receipt is None or receipt.applied:
            return "duplicate"
        message_id = _message_for(receipt.sid)
        if message_id is not None:
            mapped = TO_INBOX.get(receipt.status)
            if mapped is not None:
                do_update_delivery_status(message_id, status=mapped.value, error=receipt.error)
            StatusReceipt.objects.filter(pk=receipt.pk).update(applied=True, message_id=message_id,
                                                                handled_by="inbox")
            return "applied"
        for name, listener in listeners():
            try:
                with transaction.atomic():
                    handled = listener(receipt.sid, receipt.status, receipt.error, receipt.reported_at)
            except Exception:  # one app's bug must not cost the others their status: logged, offered again later
                logger.exception("sms status listener %s failed on %s %s", name, receipt.sid, receipt.status)
                continue
            if handled:
                StatusReceipt.objects.filter(pk=receipt.pk).update(applied=True, handled_by=name[:100])
                return "handled"
    return "pending"


def apply_pending(sids: Iterable[str]) -> int:
    """Statuses that arrived before their sid was known, delivered now (lowest rank first: "sent" before
    "delivered", so a listener that keeps only forward moves sees them in order). Returns how many were applied."""
    wanted = [s for s in dict.fromkeys(sids) if s]
    if not wanted:
        return 0
    pending = sorted(StatusReceipt.objects.filter(sid__in=wanted, applied=False).only("pk", "sid", "status"),
                     key=lambda r: (r.sid, RANK.get(r.status, 0)))
    return sum(_deliver(r.pk) in ("applied", "handled") for r in pending)


def offer_pending(*, now: datetime | None = None, limit: int = 200) -> int:
    """The safety net: pending receipts from the last hour (older than a few seconds, so the sender had its
    chance), offered again. Returns how many found their owner."""
    now = now or timezone.now()
    sids = list(StatusReceipt.objects.filter(applied=False, created_at__gte=now - RETRY_PENDING_FOR,
                                             created_at__lt=now - timedelta(seconds=30))
                .order_by("created_at").values_list("sid", flat=True)[:limit])
    return apply_pending(sids)
