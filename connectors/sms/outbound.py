"""The outbound sender registered with inbox.outbound for channel "sms": delivers an agent's reply through
POST Messages.json (contract "Sending") and reports the result with inbox.actions.do_update_delivery_status.

Runs in the worker (inbox.tasks.deliver_outbound, queue "messaging"), never inside a transaction while calling
Twilio. Guarantees, as WhatsApp's sender gives them:

* **Paced.** Each account sends at most `rate_per_second` (throttle.py); a send over the rate is deferred to its
  turn without counting an attempt.
* **Idempotent.** A message already sent or failed is skipped; a lease on its OutboundSend row keeps two workers
  from sending it at once.
* **Bounded retries.** 429 waits what Twilio's Retry-After says; 5xx and network errors back off exponentially
  with jitter; after SMS_SEND_MAX_ATTEMPTS the message is marked failed with the last reason. Anything else Twilio
  refuses (21211 invalid number, 21610 the customer opted out…) fails the message at once with Twilio's code and
  text, which the agent sees on the message. An unexpected error (a bug) is retried the same way, so it ends as a
  visible failure, never as a message stuck queued.
* **Reconciled, not duplicated.** Twilio has no idempotency key. When a send's answer is lost (a read timeout, a
  5xx after the POST arrived), the row remembers when (`uncertain_since`) and the next attempt first lists the
  messages Twilio sent to that number since then: one with the same sender and text is adopted instead of sending
  again. Only a message Twilio took but does not list yet can still go twice (the documented edge).
* **Nothing stranded.** A worker killed mid-send leaves the row leased; once the lease expires the periodic safety
  net hands it back here (sends_to_reclaim), and the next attempt reconciles first.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from connectors.sms import conf, statuses, tasks, throttle
from connectors.sms.client import SmsClient, SmsError, SmsRateLimited, SmsUnavailable, client_for
from connectors.sms.intake import status_url
from connectors.sms.models import OutboundSend, SmsAccount
from core.errors import ActionError
from core.outbox import Outbox, Phase
from core.tasks import enqueue_later
from customers.actions import do_set_consent
from customers.choices import ConsentChannel, ConsentStatus
from customers.models import Consent, Customer
from inbox.actions import do_update_delivery_status
from inbox.choices import Channel, DeliveryStatus, MessageKind
from inbox.models import Conversation, Message

logger = logging.getLogger(__name__)
LEASE = timedelta(minutes=2)  # one attempt: a send (20 s read timeout) and maybe a reconciling list (3 × 20 s)
RECONCILE_SLACK = timedelta(minutes=1)  # clocks differ: look a little before the lost attempt started
OPTED_OUT = 21610
S = OutboundSend.State
OUTBOX = Outbox("sms", OutboundSend, {Phase.PENDING: S.PENDING, Phase.RETRYING: S.RETRYING, Phase.DONE: S.SENT,
                                     Phase.FAILED: S.FAILED},
                lease=LEASE, backoff_base=5.0, backoff_cap=600.0, error_max=300)


def account_for(c: Conversation) -> SmsAccount | None:
    """The account the conversation lives on (`channel_ref` "sms:<account id>"); a conversation without one
    (created through the API) uses the only active account, if there is exactly one."""
    ref = c.channel_ref or ""
    if ref.startswith("sms:") and ref[4:].isdigit():
        return SmsAccount.objects.select_related("inbox").filter(pk=int(ref[4:])).first()
    active = list(SmsAccount.objects.filter(is_active=True)[:2])
    return active[0] if len(active) == 1 else None


def check_attachments(c: Conversation, attachments: list[dict[str, Any]]) -> None:
    """inbox.outbound's attachment check for SMS: a text message carries no files (MMS is not offered in Latin
    America), so the agent is told before anything is stored."""
    if attachments:
        raise ActionError("attachment_type_refused", _("Un SMS solo lleva texto: quite los archivos adjuntos o "
                                                       "envíelos por otro canal."), field="attachments")


def recipient(m: Message) -> str:
    """The number the customer last wrote from in this conversation (Twilio's `From`), else their first phone."""
    for meta in (Message.objects.filter(conversation_id=m.conversation_id, kind=MessageKind.INBOUND)
                 .order_by("-created_at", "-id").values_list("meta", flat=True)[:5]):
        sender = str((meta or {}).get("sms", {}).get("from") or "") if isinstance(meta, dict) else ""
        if sender:
            return sender
    return m.conversation.customer.phones.order_by("id").values_list("e164", flat=True).first() or ""


def _claim(m: Message, account: SmsAccount | None) -> OutboundSend | None:
    """The message's send row (made on its first attempt), leased to this worker: None when it is finished or
    another worker holds a live lease on it."""
    now = timezone.now()
    try:
        row, _created = OutboundSend.objects.get_or_create(message=m, defaults={"account": account})
    except IntegrityError:  # another worker created the row at the same instant: it sends
        return None
    if not OUTBOX.claim(row.pk, now=now, when=OUTBOX.lease_free(now)):
        return None
    row.refresh_from_db()
    return row


def _fail(row: OutboundSend, m: Message, error: str) -> str:
    with transaction.atomic():
        OUTBOX.park(row.pk, error=error, next_attempt_at=None, updated_at=timezone.now())
        do_update_delivery_status(m.pk, status=DeliveryStatus.FAILED, error=error, external_id=row.sid)
    return "failed"


def _retry_or_fail(row: OutboundSend, m: Message, error: str, *, uncertain_since: datetime | None,
                   at: datetime | None = None) -> str:
    """Back in line after a backoff (or at `at`: Twilio's Retry-After), or failed once out of attempts.
    `uncertain_since` is kept on the row: set, the next attempt reconciles before sending."""
    if row.attempts >= conf.send_max_attempts():
        return _fail(row, m, error)
    fields: dict[str, Any] = {"updated_at": timezone.now(), "uncertain_since": uncertain_since}
    if at is not None:
        fields["next_attempt_at"] = at
    moved = OUTBOX.retry_later(row.pk, attempts=row.attempts, error=error, **fields)
    if moved is not None:
        # the periodic safety net covers a backend that cannot defer
        enqueue_later(tasks.retry_sms_send, at or moved, m.pk)
    return "retrying"


def _reconcile(client: SmsClient, *, row: OutboundSend, account: SmsAccount, to: str,
               body: str) -> dict[str, Any] | None:
    """The message a lost attempt may have sent (same number, sender and text, listed by Twilio since the attempt
    started), or None."""
    assert row.uncertain_since is not None
    for item in client.list_messages(to=to, date_sent_after=row.uncertain_since - RECONCILE_SLACK):
        same_sender = (item.get("messaging_service_sid") == account.messaging_service_sid
                       if account.messaging_service_sid else item.get("from") == account.from_number)
        if (str(item.get("direction") or "").startswith("outbound") and same_sender
                and item.get("body") == body and item.get("sid")):
            return item
    return None


def _record_opt_out(m: Message) -> None:
    """Twilio says the customer texted STOP to us (21610): their SMS consent says so too, as an opt-out by
    keyword, so that campaigns and people see it. customers.do_set_consent changes nothing the second time."""
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=m.conversation.customer_id)
        do_set_consent(customer, channel=ConsentChannel.SMS, status=ConsentStatus.OPTED_OUT,
                       method=Consent.Method.KEYWORD)


def _succeed(row: OutboundSend, m: Message, *, sid: str, segments: int | None) -> str:
    with transaction.atomic():
        moved = OUTBOX.succeed(row.pk, sid=sid, segments=segments, uncertain_since=None, lease_until=None,
                               next_attempt_at=None, updated_at=timezone.now())
        if moved:
            do_update_delivery_status(m.pk, status=DeliveryStatus.SENT, external_id=sid)
    if moved:
        statuses.apply_pending([sid])  # callbacks that overtook this answer
    return "sent" if moved else "skipped"


def send_outbound(message_id: int) -> str:  # noqa: PLR0911 - one exit per outcome reads best here
    """The sender (inbox.outbound.register_sender("sms", …)). Returns what happened, for the task result."""
    m = Message.objects.select_related("conversation", "conversation__customer").filter(pk=message_id).first()
    if m is None or m.kind != MessageKind.OUTBOUND:
        return "skipped"
    if m.delivery_status not in ("", DeliveryStatus.QUEUED):
        return "already"
    account = account_for(m.conversation)
    if account is not None and account.is_active:
        wait = throttle.reserve(account.pk, account.rate_per_second)
        if wait > 0 and enqueue_later(tasks.retry_sms_send, timezone.now() + timedelta(seconds=wait), m.pk):
            return "paced"  # not an attempt: its turn comes within the account's rate
    row = _claim(m, account)
    if row is None:
        return "skipped"
    if account is None or not account.is_active:
        return _fail(row, m, _("La cuenta de SMS de esta conversación no está conectada."))
    to, body = recipient(m), m.body.strip()
    if not to or not body:
        return _fail(row, m, _("No hay un teléfono o un texto para enviar por SMS."))
    started = timezone.now()
    try:
        with client_for(account) as client:
            found = _reconcile(client, row=row, account=account, to=to, body=body) if row.uncertain_since else None
            if found is not None:
                logger.info("sms send %s: adopted %s from a lost attempt", m.pk, found["sid"])
                segments = str(found.get("num_segments") or "")
                return _succeed(row, m, sid=str(found["sid"]), segments=int(segments) if segments.isdigit() else None)
            if row.uncertain_since is None:
                # Marked before the POST: if this worker dies before it records the answer, the next attempt
                # reconciles first instead of sending blind.
                OutboundSend.objects.filter(pk=row.pk).update(uncertain_since=started)
            sent = client.send(to=to, body=body, from_=account.from_number or None,
                               messaging_service_sid=account.messaging_service_sid or None,
                               status_callback=status_url(account))
    except SmsRateLimited as exc:  # Twilio did not take it
        return _retry_or_fail(row, m, exc.text, uncertain_since=row.uncertain_since,
                              at=timezone.now() + timedelta(seconds=max(exc.retry_after, 1.0)))
    except SmsUnavailable as exc:
        logger.warning("sms send %s: %s (attempt %d)", m.pk, exc.text, row.attempts)
        return _retry_or_fail(row, m, exc.text, uncertain_since=(row.uncertain_since or started)
                              if exc.unknown_outcome else row.uncertain_since)
    except SmsError as exc:
        if exc.code == OPTED_OUT:
            _record_opt_out(m)
        return _fail(row, m, exc.text)
    except Exception as exc:  # a bug or bad data: retried with backoff (reconciling first), then a visible failure
        logger.exception("sms send %s failed (attempt %d)", m.pk, row.attempts)
        return _retry_or_fail(row, m, f"{type(exc).__name__}: {exc}", uncertain_since=row.uncertain_since or started)
    return _succeed(row, m, sid=sent.sid, segments=sent.num_segments)


def sends_to_reclaim(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Message ids the safety net hands back to the sender: a retry due more than 30 s ago (its deferred task was
    lost), an attempt whose lease expired (its worker died mid-call), or a reply no sender ever claimed."""
    now = now or timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    lost = Q(next_attempt_at__lt=now - timedelta(seconds=30)) | Q(lease_until__lt=now)
    ids = list(OutboundSend.objects.filter(state__in=OUTBOX.active).filter(free).filter(lost)
               .order_by("pk").values_list("message_id", flat=True)[:limit])
    return ids + never_claimed(now=now, limit=limit - len(ids)) if len(ids) < limit else ids


def never_claimed(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    """SMS replies still `queued` two minutes after they were written that no sender claimed (the row is made by
    the claim, so a deliver task lost before it leaves nothing else to find them by; a reply paced to a later
    second has no row either, and is harmlessly queued twice)."""
    now = now or timezone.now()
    return list(Message.objects.filter(kind=MessageKind.OUTBOUND, delivery_status=DeliveryStatus.QUEUED,
                                       created_at__lt=now - timedelta(minutes=2),
                                       conversation__channel=Channel.SMS)
                .filter(~Exists(OutboundSend.objects.filter(message_id=OuterRef("pk"))))
                .order_by("created_at", "pk").values_list("pk", flat=True)[:limit])


def requeue_send(message_id: int) -> bool:
    """A failed send back in line (the message's author retries it from the conversation)."""
    return bool(OUTBOX.requeue(OutboundSend.objects.filter(message_id=message_id).values_list("pk", flat=True),
                               updated_at=timezone.now()))
