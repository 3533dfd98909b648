"""Service levels (issue 16): the clocks of each open conversation, their breaches and the escalation rule.

A policy (automation.models.SlaPolicy: per channel, or per inbox on a channel) sets targets in seconds. The clocks
of a conversation's current cycle live in its SlaTimer and follow the inbox's domain events, inside the emitting
transaction (subscribed `in_transaction`, so a conversation is never stored without its clock, nor a clock without
its conversation):

* **first response** — starts with the customer's first message of a cycle, met by the first answer;
* **next response** — starts when the customer writes again after an answer, met by the next answer;
* **resolution** — starts with the cycle's first customer message, met when the conversation is resolved;
* **escalation** — starts at the cycle's first assignment to an agent: not resolved by then, the conversation goes
  to the least loaded supervisor of its inbox (inbox.actions.do_escalate) with a line on its history.

Clocks count the inbox's team business hours (accounts.hours.BusinessClock) or calendar time, per policy, and
pause while the conversation is *En espera* (the team waits for the customer) when the policy says so.

A target not met by its due time is breached once: found by the sweep (`do_detect_breaches`, every 2 seconds), or
by the answer itself when it comes late before the sweep looked. A breach writes a translated line on the history,
alerts the responsible agent and the inbox's supervisors live (and by email when the policy asks), counts in the
dashboard's SLA charts (SlaDaily) and emits `sla.breached` for automation rules and outgoing webhooks.

Imported history and phone calls carry no clocks. Moving a conversation to another inbox keeps the running
clocks; the new inbox's policy applies from its next cycle.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.hours import BusinessClock
from accounts.roles import Role
from automation.choices import CUSTOMER_TARGETS, SLA_CHANNELS, SlaTarget
from automation.events import SlaBreached
from automation.models import SlaDaily, SlaPolicy, SlaTimer
from core.events import DomainEvent, emit
from inbox import notifications
from inbox.actions import do_escalate, do_record_event, do_set_sla_due
from inbox.choices import OPEN_STATES, Channel, ConversationState
from inbox.models import HISTORY_INBOX, Conversation
from inbox.people import hours_team, supervisors_of
from realtime.events import send_event_on_commit

logger = logging.getLogger(__name__)

S = ConversationState
T = SlaTarget
# Conversations whose clocks the running sweep holds: the handlers of the events its own escalation emits leave them
# alone (one writer per timer row).
_held: ContextVar[frozenset[int]] = ContextVar("sla_held", default=frozenset())
WARN_SHARE = 0.8  # the badge turns amber once 80 % of a target's time is used
SWEEP_BATCH = 500
RETRY_AFTER = timedelta(minutes=1)  # conversations per sweep; the next tick (2 s later) takes the rest


# --- reading a timer ------------------------------------------------------------------------------------


def _at(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def pending(entry: dict[str, Any]) -> bool:
    """A target still to meet (running or paused; breached ones too, until answered)."""
    return not entry.get("met_at") and not entry.get("stopped_at")


def running(entry: dict[str, Any]) -> bool:
    return pending(entry) and "due" in entry


@dataclass(frozen=True)
class SlaView:
    """A conversation's service level as the API and the side panel show it."""

    policy: str
    first_response_due: datetime | None
    next_response_due: datetime | None
    resolution_due: datetime | None
    escalate_at: datetime | None
    breached: list[str]
    escalated_at: datetime | None
    paused: bool


def view(timer: SlaTimer | None, conversation: Conversation) -> SlaView | None:
    if timer is None or timer.cycle != conversation.cycle or conversation.state == S.RESOLVED:
        return None

    def due(target: str) -> datetime | None:
        entry = timer.targets.get(target) or {}
        return _at(entry.get("due")) if running(entry) else None

    return SlaView(policy=policy_label(timer.policy), first_response_due=due(T.FIRST_RESPONSE),
                   next_response_due=due(T.NEXT_RESPONSE), resolution_due=due(T.RESOLUTION),
                   escalate_at=due(T.ESCALATION), breached=list(timer.breached), escalated_at=timer.escalated_at,
                   paused=timer.paused_at is not None)


def policy_label(policy: SlaPolicy | None) -> str:
    """The policy's name as people read it: "WhatsApp" or "WhatsApp · Ventas"."""
    if policy is None:
        return ""
    label = str(dict(Channel.choices).get(policy.channel, policy.channel))
    return f"{label} · {policy.inbox.name}" if policy.inbox_id and policy.inbox else label


# --- policies -------------------------------------------------------------------------------------------


def policy_for(c: Conversation) -> SlaPolicy | None:
    """The inbox's own policy on the conversation's channel, else the channel's; None: not timed."""
    if c.channel not in SLA_CHANNELS:
        return None
    rows = list(SlaPolicy.objects.select_related("inbox")
                .filter(Q(inbox__isnull=True) | Q(inbox=c.inbox_id), channel=c.channel, active=True))
    return min(rows, key=lambda p: p.inbox_id is None, default=None)


def clock_for(c: Conversation, policy: SlaPolicy | None) -> BusinessClock:
    if policy is None or not policy.business_hours:
        return BusinessClock(None, calendar=True)
    return BusinessClock(hours_team(c.inbox))


# --- the clocks, inside the inbox's transactions -------------------------------------------------------


class _Clocks:
    """One conversation's timer being changed under the conversation's row lock (held by the emitting action or
    taken by the sweep), written back once by `save`."""

    def __init__(self, c: Conversation, *, now: datetime) -> None:
        self.c, self.now = c, now
        timer = SlaTimer.objects.select_related("policy__inbox").filter(pk=c.pk).first()
        if timer is None or timer.cycle != c.cycle:
            # a new cycle (or the first): fresh clocks under the policy of today
            timer = timer or SlaTimer(conversation=c)
            timer.cycle, timer.targets, timer.breached = c.cycle, {}, []
            timer.paused_at, timer.escalated_at, timer.policy = None, None, policy_for(c)
        self.timer = timer
        # a deleted policy leaves running clocks to the channel's (or inbox's) current one, for pausing and starting
        self.policy: SlaPolicy | None = timer.policy or policy_for(c)
        self._clock: BusinessClock | None = None

    @property
    def clock(self) -> BusinessClock:
        if self._clock is None:
            self._clock = clock_for(self.c, self.policy)
        return self._clock

    def start(self, target: T, since: datetime) -> None:
        seconds = self.policy.seconds(target) if self.policy and self.policy.active else None
        if not seconds:
            return
        entry: dict[str, Any] = {"started": since.isoformat(), "seconds": seconds}
        if self.timer.paused_at is not None:
            used = max(0.0, self.clock.between(since, self.timer.paused_at))
            entry.update(remaining=seconds - used, warn_remaining=seconds * WARN_SHARE - used)
        else:
            entry.update(due=self.clock.add(since, seconds).isoformat(),
                         warn=self.clock.add(since, seconds * WARN_SHARE).isoformat())
        self.timer.targets[target] = entry

    def finish(self, target: T) -> None:
        """The target is met now: counted in time, or breached now if the sweep had not seen it late yet."""
        entry = self.timer.targets.get(target)
        if not entry or not pending(entry):
            return
        due = _at(entry.get("due"))
        if not entry.get("breached_at"):
            if due is not None and due < self.now:
                self.breach(target)
            else:
                self.count(target, met=True)
        entry["met_at"] = self.now.isoformat()

    def count(self, target: T, *, met: bool) -> None:
        key = {"day": timezone.localdate(self.now), "channel": self.c.channel, "inbox_id": self.c.inbox_id,
               "agent_id": self.c.assignee_id, "target": target.value}
        field = "met" if met else "breached"
        if not SlaDaily.objects.filter(**key).update(**{field: F(field) + 1}):
            _, created = SlaDaily.objects.get_or_create(**key, defaults={field: 1})
            if not created:  # another transaction created the row between our update and insert
                SlaDaily.objects.filter(**key).update(**{field: F(field) + 1})

    def breach(self, target: T) -> None:
        entry = self.timer.targets[target]
        due = _at(entry.get("due")) or self.now
        entry["breached_at"] = self.now.isoformat()
        if target not in self.timer.breached:
            self.timer.breached.append(target.value)
        self.count(target, met=False)
        c = self.c
        emit(SlaBreached(conversation_id=c.pk, customer_id=c.customer_id, channel=c.channel, inbox=c.inbox.code,
                         target=target.value, due_at=due, assignee_id=c.assignee_id))
        if target == T.ESCALATION:
            return
        do_record_event(c, "sla_breached", actor=None, target=target.value, due=due.isoformat(),
                        assignee=c.assignee_id, policy=self.policy.pk if self.policy else None)
        audience = {s.pk for s in supervisors_of(c.inbox)} | ({c.assignee_id} if c.assignee_id else set())
        send_event_on_commit({"type": "notice", "op": "sla_breached", "conversation_id": c.pk, "level": "warning",
                              "texts": breach_texts(c, target, due)}, user_ids=sorted(audience))
        if self.policy is not None and self.policy.email_on_breach:
            notifications.notify("sla_breached", user_ids=audience, conversation_id=c.pk, target=target.value,
                                 due=due.isoformat())

    def escalate(self) -> None:
        entry = self.timer.targets[T.ESCALATION]
        self.breach(T.ESCALATION)
        entry["met_at"] = self.now.isoformat()
        if self.c.state in {s.value for s in OPEN_STATES} and self.c.state != S.ESCALATED:
            # Leaving En espera: the clocks run again (this object is the timer's only writer meanwhile — the
            # handlers of the state change and assignment below skip the conversation this sweep holds).
            self.resume()
            agent = self.c.assignee_id
            token = _held.set(_held.get() | {self.c.pk})
            try:
                supervisor = do_escalate(self.c, acting_user=None, comment="", reason="sla_escalation")
            finally:
                _held.reset(token)
            do_record_event(self.c, "sla_escalated", actor=None, agent=agent,
                            supervisor=supervisor.pk if supervisor else None, after=entry.get("seconds"))
            self.timer.escalated_at = self.now

    def pause(self) -> None:
        if self.timer.paused_at is not None or not (self.policy and self.policy.pause_on_hold):
            return
        self.timer.paused_at = self.now
        for entry in self.timer.targets.values():
            # a target already overdue keeps running: the wait does not excuse it (the sweep or the answer breaches)
            if running(entry) and not entry.get("breached_at") and (_at(entry["due"]) or self.now) > self.now:
                due, warn = _at(entry.pop("due")), _at(entry.pop("warn", None))
                entry["remaining"] = self.clock.between(self.now, due) if due else 0
                entry["warn_remaining"] = self.clock.between(self.now, warn) if warn else 0

    def resume(self) -> None:
        if self.timer.paused_at is None:
            return
        self.timer.paused_at = None
        for entry in self.timer.targets.values():
            if pending(entry) and "remaining" in entry:
                remaining, warn = entry.pop("remaining"), entry.pop("warn_remaining", 0)
                entry["due"] = self.clock.add(self.now, max(0.0, remaining)).isoformat()
                entry["warn"] = self.clock.add(self.now, max(0.0, warn)).isoformat()

    def stop(self) -> None:
        """Resolved: the resolution target is met, nothing else runs any more (unanswered responses stay as they
        were counted: a conversation closed without an answer is the dashboard's own measure)."""
        self.finish(T.RESOLUTION)
        for target, entry in self.timer.targets.items():
            due = _at(entry.get("due"))
            if running(entry) and not entry.get("breached_at") and due is not None and due < self.now:
                self.breach(T(target))  # it fell due before the sweep looked: it is late all the same
            if pending(entry):
                entry["stopped_at"] = self.now.isoformat()
        self.timer.paused_at = None

    def save(self) -> None:
        timer, c = self.timer, self.c
        live = [e for e in timer.targets.values() if pending(e)]
        timer.check_at = min((d for e in live if not e.get("breached_at") and (d := _at(e.get("due")))),
                             default=None)
        shown = [(_at(e.get("due")), _at(e.get("warn"))) for t, e in timer.targets.items()
                 if t in CUSTOMER_TARGETS and e in live and e.get("due")]
        due, warn = min(shown, key=lambda pair: pair[0] or self.now, default=(None, None))
        timer.updated_at = self.now
        if timer.targets or not timer._state.adding:
            timer.save()
        do_set_sla_due(c, due=due, warn=warn)


def breach_texts(c: Conversation, target: T, due: datetime) -> dict[str, str]:
    """The live alert in every language (its readers may read either): names, never codes."""
    texts = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            texts[code] = _("SLA vencido — %(target)s de %(customer)s (%(inbox)s), venció %(when)s") % {
                "target": T(target).label, "customer": c.customer.name, "inbox": c.inbox.name,
                "when": date_format(timezone.localtime(due), "SHORT_DATETIME_FORMAT")}
    return texts


def _guarded(handler: Callable[[DomainEvent], None]) -> Callable[[DomainEvent], None]:
    """Clocks follow the inbox inside its transaction, but never at its expense: a failure here is rolled back to a
    savepoint and logged, and the customer's message or the agent's answer is stored all the same (the clocks
    resume with the conversation's next event)."""

    @functools.wraps(handler)
    def run(event: DomainEvent) -> None:
        try:
            with transaction.atomic():
                handler(event)
        except Exception:
            logger.exception("SLA clocks not updated for %s", event.type)

    return run


def _live(conversation_id: int) -> Conversation | None:
    if conversation_id in _held.get():
        return None
    c = (Conversation.objects.select_related("inbox", "customer", "assignee")
         .filter(pk=conversation_id, import_ref="").exclude(inbox__code=HISTORY_INBOX).first())
    return c if c is not None and c.channel in SLA_CHANNELS else None


def _timed(event: DomainEvent) -> bool:
    """Cheap first look (the intake's hot path): a channel without clocks, or a conversation whose channel and
    inbox no policy covers and that has no clock running, costs one small query and no conversation read."""
    if getattr(event, "channel", "") not in SLA_CHANNELS:
        return False
    conversation_id = event.conversation_id  # type: ignore[attr-defined]
    inbox = getattr(event, "inbox", None)
    if inbox is not None and SlaPolicy.objects.filter(
            Q(inbox__isnull=True) | Q(inbox__code=inbox), channel=event.channel, active=True).exists():  # type: ignore[attr-defined]
        return True
    return SlaTimer.objects.filter(pk=conversation_id).exists()


@_guarded
def on_message_received(event: DomainEvent) -> None:
    if not _timed(event):
        return
    c = _live(event.conversation_id)  # type: ignore[attr-defined]
    if c is None or c.state == S.RESOLVED:
        return
    clocks = _Clocks(c, now=timezone.now())
    targets = clocks.timer.targets
    since = c.waiting_since or clocks.now
    if T.RESOLUTION not in targets:
        clocks.start(T.RESOLUTION, since)
    if c.first_response_at is None:
        if T.FIRST_RESPONSE not in targets:
            clocks.start(T.FIRST_RESPONSE, since)
    elif not any(running(targets[t]) for t in (T.FIRST_RESPONSE, T.NEXT_RESPONSE) if t in targets):
        clocks.start(T.NEXT_RESPONSE, since)  # a new wait: replaces the last (met) next response
    if T.ESCALATION not in targets and _escalates(c):
        clocks.start(T.ESCALATION, clocks.now)  # a reopened cycle keeps its agent: no assignment starts it
    clocks.save()


def _escalates(c: Conversation) -> bool:
    """Whether an agent holds it (a supervisor's own case has nobody to escalate to) and it is not escalated."""
    return (c.assignee is not None and c.assignee.role != Role.SUPERVISOR
            and c.state not in (S.RESOLVED, S.ESCALATED))


def on_message_sent(event: DomainEvent) -> None:
    """An answer stops the response clocks. An automatic one (a rule's, the bot's) answers nobody's clock: it is
    let go before the savepoint, which would cost two statements of every bot step."""
    if not getattr(event, "automatic", False):
        _on_answer(event)


@_guarded
def _on_answer(event: DomainEvent) -> None:
    if not _timed(event):
        return
    c = _live(event.conversation_id)  # type: ignore[attr-defined]
    if c is None:
        return
    clocks = _Clocks(c, now=timezone.now())
    clocks.finish(T.FIRST_RESPONSE)
    clocks.finish(T.NEXT_RESPONSE)
    clocks.save()


@_guarded
def on_state_changed(event: DomainEvent) -> None:
    frm, to = event.from_state, event.to_state  # type: ignore[attr-defined]
    if frm == S.RESOLVED or not _timed(event):
        return  # a reopened cycle gets fresh clocks with its customer's message
    c = _live(event.conversation_id)  # type: ignore[attr-defined]
    if c is None:
        return
    clocks = _Clocks(c, now=timezone.now())
    if to == S.RESOLVED:
        clocks.stop()
    else:
        if frm == S.ON_HOLD:
            clocks.resume()
        if to == S.ON_HOLD:
            clocks.pause()
        if to == S.ESCALATED:
            entry = clocks.timer.targets.get(T.ESCALATION)
            if entry and pending(entry):
                entry["met_at"] = clocks.now.isoformat()  # escalated by a person in time: nothing to escalate
    clocks.save()


@_guarded
def on_assigned(event: DomainEvent) -> None:
    if event.to_user_id is None or event.how == "escalated":  # type: ignore[attr-defined]
        return
    c = _live(event.conversation_id)  # type: ignore[attr-defined]
    if c is None or c.state in (S.RESOLVED, S.ESCALATED):
        return
    clocks = _Clocks(c, now=timezone.now())
    entry = clocks.timer.targets.get(T.ESCALATION)
    if not _escalates(c):
        if entry and pending(entry):
            entry["stopped_at"] = clocks.now.isoformat()  # a supervisor took the case: it is where it would go
            clocks.save()
        return
    if entry is None:
        clocks.start(T.ESCALATION, clocks.now)
        clocks.save()


# --- the sweep --------------------------------------------------------------------------------------------


def do_detect_breaches(*, now: datetime | None = None, limit: int = SWEEP_BATCH) -> int:
    """Breaches (and escalates) every target whose due time has passed, each conversation in its own transaction
    under its row lock — the lock the inbox's actions take first — so an answer racing the sweep is either seen
    before (met) or after (breached once). Idempotent: a breached target is never breached again. Returns how
    many conversations it changed."""
    now = now or timezone.now()
    ids = list(SlaTimer.objects.filter(check_at__lte=now).order_by("check_at")
               .values_list("conversation_id", flat=True)[:limit])
    done = 0
    for conversation_id in ids:
        try:
            done += _sweep_one(conversation_id, now)
        except Exception:
            # One conversation that cannot be handled must not stop every other breach from being found: it is
            # looked at again in a minute (and logged), the rest of the batch goes on.
            logger.exception("SLA sweep failed for conversation %s", conversation_id)
            SlaTimer.objects.filter(pk=conversation_id).update(check_at=now + RETRY_AFTER)
    return done


def _sweep_one(conversation_id: int, now: datetime) -> int:
    with transaction.atomic():
        c = (Conversation.objects.select_for_update(skip_locked=True, of=("self",))
             .select_related("inbox", "customer", "assignee").filter(pk=conversation_id).first())
        if c is None:  # busy (an agent answering right now): the next sweep looks again
            return 0
        # the moment this conversation is looked at (a long sweep's last rows are later than its start)
        clocks = _Clocks(c, now=max(now, timezone.now()))
        token = _held.set(_held.get() | {c.pk})
        try:
            due = sorted(((d, t) for t, e in clocks.timer.targets.items()
                          if running(e) and not e.get("breached_at") and (d := _at(e.get("due"))) and d <= now),
                         key=lambda pair: pair[0])
            for _due, target in due:
                if target == T.ESCALATION:
                    clocks.escalate()
                else:
                    clocks.breach(T(target))
            clocks.save()  # also clears a `check_at` left behind (another sweep handled it, an old cycle)
        finally:
            _held.reset(token)
        return 1 if due else 0


def api_items(conversations: list[Conversation]) -> dict[int, dict[str, Any] | None]:
    """The `sla` of conversation items in the API (inbox.api.register_item_field): one query per page."""
    timers = {t.pk: t for t in SlaTimer.objects.select_related("policy__inbox")
              .filter(pk__in=[c.pk for c in conversations])}
    out: dict[int, dict[str, Any] | None] = {}
    for c in conversations:
        shown = view(timers.get(c.pk), c)
        out[c.pk] = shown.__dict__ if shown is not None else None
    return out
