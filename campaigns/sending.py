"""The sender of a campaign: its recipients, at the channel's rate, each sent once.

One sender runs per campaign at a time (a lease on the campaign row, renewed while it works); a run works for a
bounded time, then queues the next (so pausing, cancelling and other campaigns get their turn). Each recipient:

1. **claimed** by a compare-and-set (pending → sending, with a lease and the attempt's start time), so two workers
   never send it both, and a restart or a double click never sends twice;
2. **sent** with one vendor call, paced to the rate (messages per second), holding back when the vendor says so
   (429 with Retry-After, Meta's throttling codes) and stopping at WhatsApp's daily tier;
3. **recorded**: sent with the vendor's id and its cost; failed with the vendor's reason; or back in line after a
   backoff when the vendor was unavailable (at most MAX_ATTEMPTS).

A worker killed between the call and the record leaves the row "sending" with an expired lease. The next run
**reconciles** before sending again: WhatsApp statuses name the recipient (biz_opaque_callback_data), so a message that
left has already moved the row on; Twilio is asked whether the number got a message since the attempt began. Only
what the vendor never accepted is sent again (email, which has no such question, is sent again: the one window is
an SMTP answer wide). The periodic safety net (`resume_stalled`) restarts a campaign whose sender died."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, Min, OuterRef, Q, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import tasks
from campaigns.channels import Adapter, Later, Recipient, Refused, Unknown, adapter_for
from campaigns.choices import CampaignChannel, CampaignState, RecipientState, ScheduleMode, SkipReason
from campaigns.models import Campaign, CampaignRecipient, CampaignSettings
from campaigns.schedule import local_send_time, zone_for
from campaigns.transitions import do_transition
from core.backoff import backoff
from core.tasks import enqueue_later, enqueue_or_leave
from customers.choices import ConsentStatus
from customers.models import Consent

logger = logging.getLogger(__name__)
R = RecipientState
LEASE = timedelta(minutes=2)  # one vendor call (with the client's own retries) is far shorter
SENDER_LEASE = timedelta(seconds=45)  # renewed after every batch; a batch lasts at most BATCH_SECONDS
BATCH_SECONDS = 10
BUDGET = 5.0  # seconds of sending per run: the inbox's tasks on the same queue wait at most this long
MAX_ATTEMPTS = 6
MAX_HOLD = 2.0  # seconds the sender pauses on a vendor's rate limit (the limited row waits its Retry-After)
BATCH = 200
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIELDS = ("pk", "address", "state", "attempts", "attempt_started_at", "customer__name", "customer__city",
          "customer__department", "customer__language")


@dataclass
class Pacer:
    """Messages per second, on a monotonic clock; `hold` waits out a vendor's Retry-After."""

    rate: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    next_at: float = field(default=0.0)

    def wait(self) -> None:
        now = self.clock()
        if now < self.next_at:
            self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + 1.0 / self.rate

    def hold(self, seconds: float) -> None:
        self.sleep(seconds)
        self.next_at = self.clock()


def rate_of(campaign: Campaign, config: CampaignSettings) -> int:
    """Messages per second: the campaign's own, else the SMS account's (its sender's pace), else the channel's."""
    if campaign.rate_per_second:
        return campaign.rate_per_second
    if campaign.channel == CampaignChannel.SMS and campaign.sms_account is not None:
        return campaign.sms_account.rate_per_second or config.sms_rate
    return config.rate_for(campaign.channel)


@dataclass
class SenderLease:
    """The campaign's one-sender lease, held as the exact expiry this run wrote: renewing and releasing are
    compare-and-sets on it, so a run that outlived its lease never clears (or extends) the next sender's."""

    campaign_id: int
    until: datetime | None = None

    def claim(self, now: datetime) -> bool:
        until = now + SENDER_LEASE
        if Campaign.objects.filter(pk=self.campaign_id, state=CampaignState.SENDING).filter(
                Q(sender_lease_until__isnull=True) | Q(sender_lease_until__lt=now)).update(sender_lease_until=until):
            self.until = until
            return True
        return False

    def renew(self, now: datetime) -> bool:
        until = now + SENDER_LEASE
        if Campaign.objects.filter(pk=self.campaign_id, sender_lease_until=self.until).update(
                sender_lease_until=until):
            self.until = until
            return True
        return False

    def release(self) -> None:
        Campaign.objects.filter(pk=self.campaign_id, sender_lease_until=self.until).update(sender_lease_until=None)


def _due(campaign_id: int, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Rows to work on, oldest first: abandoned sends (their lease expired) before pending ones that are due."""
    base = CampaignRecipient.objects.filter(campaign_id=campaign_id)
    rows = list(base.filter(state=R.SENDING, lease_until__lt=now).order_by("pk").values(*FIELDS)[:limit])
    if len(rows) < limit:
        rows += list(base.filter(state=R.PENDING)
                     .filter(Q(send_after__isnull=True) | Q(send_after__lte=now))
                     .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
                     .order_by("pk").values(*FIELDS)[:limit - len(rows)])
    return rows


def _recipient(row: dict[str, Any]) -> Recipient:
    return Recipient(id=row["pk"], address=row["address"], language=row["customer__language"] or "",
                     customer={"name": row["customer__name"], "city": row["customer__city"],
                               "department": row["customer__department"]})


def _daily_left(campaign: Campaign, config: CampaignSettings, now: datetime) -> int | None:
    """WhatsApp's messaging tier: how many more customers this number may start conversations with in 24 hours."""
    if campaign.channel != CampaignChannel.WHATSAPP:
        return None
    used = CampaignRecipient.objects.filter(channel=CampaignChannel.WHATSAPP,
                                            campaign__wa_number=campaign.wa_number_id,
                                            sent_at__gte=now - timedelta(hours=24)).count()
    return max(0, config.whatsapp_daily_limit - used)


def _sent(pk: int, *, external_id: str, now: datetime, cost: Any, parts: int) -> None:
    moved = CampaignRecipient.objects.filter(pk=pk, state=R.SENDING).update(
        state=R.SENT, external_id=external_id, sent_at=now, cost=cost, parts=parts, lease_until=None, error="")
    if not moved:  # a status webhook overtook the answer (delivered, read): keep its state, record the send's cost
        CampaignRecipient.objects.filter(pk=pk, parts=0).exclude(state=R.FAILED).update(
            external_id=external_id, sent_at=Coalesce(F("sent_at"), Value(now)), cost=cost, parts=parts,
            lease_until=None)


def _failed(pk: int, *, reason: str, now: datetime) -> None:
    CampaignRecipient.objects.filter(pk=pk, state=R.SENDING).update(state=R.FAILED, error=reason[:300],
                                                                      failed_at=now, lease_until=None)


def _later(pk: int, *, attempts: int, reason: str, now: datetime, retry_after: float | None) -> None:
    """Back in line after a wait (the vendor's Retry-After, else a backoff), failed after MAX_ATTEMPTS; not sent at
    all when the campaign was cancelled meanwhile."""
    if attempts >= MAX_ATTEMPTS:
        _failed(pk, reason=_("Sin respuesta del proveedor después de %(n)s intentos: %(r)s")
                % {"n": attempts, "r": reason}, now=now)
        return
    row = CampaignRecipient.objects.filter(pk=pk, state=R.SENDING)
    if row.filter(campaign__state=CampaignState.CANCELLED).update(state=R.CANCELLED, lease_until=None):
        return
    delay = timedelta(seconds=retry_after) if retry_after else backoff(attempts, base=5.0, cap=600.0)
    row.update(state=R.PENDING, next_attempt_at=now + delay, error=reason[:300], lease_until=None)


def _still_wanted() -> Q:
    """What the claim re-checks at the last moment: the campaign is still sending (a pause stops the next message,
    not the next batch) and the customer still accepts the channel (an opt-out recorded by an agent, an import or
    the API during the send is honoured)."""
    return Q(campaign__state=CampaignState.SENDING) & Q(Exists(Consent.objects.filter(
        customer_id=OuterRef("customer_id"), channel=OuterRef("channel"), status=ConsentStatus.OPTED_IN)))


def _skip_if_opted_out(pk: int) -> bool:
    """A pending row whose customer no longer accepts the channel is left out with that reason."""
    return bool(CampaignRecipient.objects.filter(pk=pk, state=R.PENDING).exclude(Exists(Consent.objects.filter(
        customer_id=OuterRef("customer_id"), channel=OuterRef("channel"), status=ConsentStatus.OPTED_IN)))
        .update(state=R.SKIPPED, skip_reason=SkipReason.OPTED_OUT))


def send_one(adapter: Adapter, row: dict[str, Any], *, now: datetime,  # noqa: PLR0911 - one return per outcome
             pacer: Pacer | None = None) -> str:
    """Claims, sends and records one recipient; returns what happened (for the run's tally and tests)."""
    reclaimed = row["state"] == R.SENDING
    claim = (CampaignRecipient.objects.filter(pk=row["pk"], state=R.SENDING, lease_until__lt=now) if reclaimed
             else CampaignRecipient.objects.filter(pk=row["pk"], state=R.PENDING))
    # A pending row is re-checked at the last moment; an abandoned one is finished whatever happened since (its
    # message may have left: reconciling decides).
    wanted = Q(campaign__state=CampaignState.SENDING) if reclaimed else _still_wanted()
    if not claim.filter(wanted).update(state=R.SENDING, lease_until=now + LEASE, attempts=F("attempts") + 1,
                                       attempt_started_at=now):
        return "skipped" if not reclaimed and _skip_if_opted_out(row["pk"]) else "taken"
    attempts = row["attempts"] + 1
    r = _recipient(row)
    try:
        message = adapter.render(r)
        if reclaimed and row["attempt_started_at"] is not None:
            try:
                found = adapter.reconcile(r, row["attempt_started_at"] - timedelta(minutes=1), message)
            except Later as exc:  # too early to tell whether the abandoned attempt left: wait, not counted
                CampaignRecipient.objects.filter(pk=r.id, state=R.SENDING).update(
                    lease_until=now + timedelta(seconds=exc.retry_after or 30.0), attempts=F("attempts") - 1,
                    attempt_started_at=row["attempt_started_at"])
                return "waiting"
            if found:
                _sent(r.id, external_id=found, now=now, cost=adapter.cost(message), parts=message.parts)
                return "reconciled"
        if pacer is not None:
            pacer.wait()
        external_id = adapter.send(r, message)
    except Refused as exc:
        _failed(r.id, reason=exc.reason, now=timezone.now())
        return "failed"
    except Unknown as exc:
        # The vendor may have taken it (a timeout after the request left): the row stays "sending" with its lease,
        # and the next claim reconciles before any resend. Bounded like any retry.
        if attempts >= MAX_ATTEMPTS:
            _failed(r.id, reason=exc.reason, now=timezone.now())
            return "failed"
        CampaignRecipient.objects.filter(pk=r.id, state=R.SENDING).update(error=exc.reason)
        return "unknown"
    except Later as exc:
        _later(r.id, attempts=attempts, reason=exc.reason, now=timezone.now(), retry_after=exc.retry_after)
        if exc.rate_limited and pacer is not None:
            # a short hold here; the row itself waits the whole Retry-After (the run stays within its budget)
            pacer.hold(min(exc.retry_after or 1.0, MAX_HOLD))
        return "later"
    except Exception as exc:  # a bug or bad data: bounded retries, then a visible failure — never stuck "sending"
        logger.exception("campaign recipient %s: unexpected error", r.id)
        _later(r.id, attempts=attempts, reason=f"{type(exc).__name__}: {exc}", now=timezone.now(), retry_after=None)
        return "later"
    _sent(r.id, external_id=external_id, now=timezone.now(), cost=adapter.cost(message), parts=message.parts)
    return "sent"


def run(campaign_id: int, *, budget: float = BUDGET, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep) -> dict[str, int]:
    """One run of a campaign's sender (the task): sends for up to `budget` seconds, then queues the next run or
    finishes the campaign. Returns the run's tally."""
    tally: dict[str, int] = {}
    now = timezone.now()
    lease = SenderLease(campaign_id)
    if not lease.claim(now):
        return {"busy": 1}
    try:
        campaign = Campaign.objects.select_related("wa_number", "wa_template", "mailbox", "sms_account").get(
            pk=campaign_id)
        config = CampaignSettings.load()
        pacer = Pacer(rate=float(rate_of(campaign, config)), clock=clock, sleep=sleep)
        try:
            adapter = adapter_for(campaign, config)
        except Refused as exc:
            _note(campaign_id, exc.reason)
            return {"misconfigured": 1}
        started = clock()
        local = campaign.schedule_mode == ScheduleMode.LOCAL
        daily_left = _daily_left(campaign, config, now)
        if campaign.sender_note and (daily_left is None or daily_left > 0):
            _note(campaign_id, "")  # the hold it explained is over
        try:
            while clock() - started < budget:
                if Campaign.objects.filter(pk=campaign_id).values_list("state", flat=True).first() != \
                        CampaignState.SENDING:
                    tally["stopped"] = 1
                    return tally
                now = timezone.now()
                # a batch lasts ~BATCH_SECONDS at the rate, well inside the sender's lease renewed after it
                limit = max(1, min(BATCH, int(pacer.rate * BATCH_SECONDS)))
                if daily_left is not None:
                    limit = min(limit, daily_left)
                if daily_left is not None and daily_left <= 0:
                    _note(campaign_id, _("Se alcanzó el límite diario de WhatsApp de este número; el envío sigue "
                                         "cuando se libere cupo."))
                    tally["daily_limit"] = 1
                    break
                rows = _due(campaign_id, now, limit)
                if not rows:
                    break
                for row in rows:
                    if clock() - started >= budget:
                        break
                    if local and row["state"] == R.PENDING and _outside_window(campaign, row, timezone.now()):
                        tally["later_today"] = tally.get("later_today", 0) + 1
                        continue
                    outcome = send_one(adapter, row, now=timezone.now(), pacer=pacer)
                    tally[outcome] = tally.get(outcome, 0) + 1
                    if daily_left is not None and outcome in {"sent", "reconciled"}:
                        daily_left -= 1
                if not lease.renew(timezone.now()):  # another sender took over (this run outlived its lease)
                    tally["lease_lost"] = 1
                    break
        finally:
            adapter.close()
    finally:
        lease.release()
    _after_run(campaign_id, tally)
    return tally


def _outside_window(campaign: Campaign, row: dict[str, Any], now: datetime) -> bool:
    """Per-customer local time: a row whose customer's allowed hours are over (a long send, a daily-tier hold, a
    retry) waits for the next window instead of arriving at night."""
    due = local_send_time(now, zone_for(row["address"]), (campaign.window_start, campaign.window_end))
    if due <= now:
        return False
    CampaignRecipient.objects.filter(pk=row["pk"], state=R.PENDING).update(send_after=due)
    return True


def _note(campaign_id: int, text: str) -> None:
    Campaign.objects.filter(pk=campaign_id).update(sender_note=text[:300])


def _after_run(campaign_id: int, tally: dict[str, int]) -> None:
    """Finishes the campaign when nobody is left to send; otherwise queues the next run (now, or when the next
    recipient is due)."""
    left = CampaignRecipient.objects.filter(campaign_id=campaign_id, state__in=[R.PENDING, R.SENDING])
    if not left.exists():
        with transaction.atomic():
            campaign = Campaign.objects.select_for_update().filter(pk=campaign_id,
                                                                   state=CampaignState.SENDING).first()
            if campaign is not None:
                do_transition(campaign, to=CampaignState.FINISHED, acting_user=None)
        return
    if tally.get("daily_limit"):
        enqueue_later(tasks.send_campaign, timezone.now() + timedelta(minutes=15), campaign_id)
        return
    now = timezone.now()
    if _due(campaign_id, now, 1):
        enqueue_or_leave(tasks.send_campaign, campaign_id=campaign_id)
        return
    # when the next row is really due: a pending row at the later of its two "not before" times, a leased one when
    # its lease ends (queued sooner, a run would find nothing and queue itself again at once)
    epoch = Value(EPOCH)
    pending = left.filter(state=R.PENDING).aggregate(
        due=Min(Greatest(Coalesce("send_after", epoch), Coalesce("next_attempt_at", epoch))))["due"]
    leased = left.filter(state=R.SENDING).aggregate(due=Min("lease_until"))["due"]
    when = min((v for v in (pending, leased) if v is not None), default=now + timedelta(minutes=1))
    enqueue_later(tasks.send_campaign, max(when, now + timedelta(seconds=1)), campaign_id)


def resume_stalled(*, now: datetime | None = None) -> int:
    """The safety net (every minute): a sending campaign whose sender is not running (its worker died, the queue
    lost the task) and that has work due gets a sender again."""
    now = now or timezone.now()
    resumed = 0
    stalled = Campaign.objects.filter(state=CampaignState.SENDING).filter(
        Q(sender_lease_until__isnull=True) | Q(sender_lease_until__lt=now))
    for pk in stalled.values_list("pk", flat=True):
        if _due(pk, now, 1) or not CampaignRecipient.objects.filter(
                campaign_id=pk, state__in=[R.PENDING, R.SENDING]).exists():
            enqueue_or_leave(tasks.send_campaign, campaign_id=pk)
            resumed += 1
    return resumed
