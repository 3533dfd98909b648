"""One outbox: what every "a delivery Centralita owes the outside world" row shares — the Kommo sync
(crm.KommoSync), outgoing webhooks (webhooks.WebhookMessage), WhatsApp sends (whatsapp.OutboundSend) and email
sends (mail.OutboundMail).

Each outbox keeps its own table (its own columns: a Kommo row's done steps, a WhatsApp send's accepted parts, an
email's stable headers) and its own state values (the translated labels its admin page shows). This module maps
those values onto four phases and owns everything they have in common:

* **the transition table** (`TRANSITIONS`) and the one function that changes a row's state (`Outbox.transition`):
  a compare-and-set on the row's current state, so a worker whose lease expired never overwrites what another
  worker or a person did meanwhile, and a move the table does not declare is a programming error;
* **the claim** (`Outbox.claim`): a compare-and-set lease that counts the attempt, so several workers never deliver
  the same row at once and a row whose worker died is claimed again once its lease expires;
* **backoff with jitter** (`Outbox.retry_at`, from core.backoff) with each outbox's own base and cap;
* **parking** a row as failed with its reason (`Outbox.park`) and **an administrator's retry** (`Outbox.requeue`).

Outbox rows are delivery bookkeeping, not domain state: their moves emit no domain event (an outgoing webhook's
delivery announcing itself as an event would feed the webhooks forever). The domain side effects of a delivery
(the order's Kommo history, the message's delivery status) are written by each outbox's caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from core.backoff import backoff


class Phase(StrEnum):
    PENDING = "pending"  # waiting for its first attempt (or put back in line by a person)
    RETRYING = "retrying"  # an attempt failed in a way that may pass: tried again after a backoff
    DONE = "done"  # the outside world accepted it
    FAILED = "failed"  # parked: refused for good, or out of attempts; a person may put it back in line


TRANSITIONS: Mapping[Phase, frozenset[Phase]] = {
    Phase.PENDING: frozenset({Phase.RETRYING, Phase.DONE, Phase.FAILED}),
    Phase.RETRYING: frozenset({Phase.RETRYING, Phase.DONE, Phase.FAILED}),
    # A delivery report after the fact: a mail server accepted an email, then bounced it.
    Phase.DONE: frozenset({Phase.FAILED}),
    Phase.FAILED: frozenset({Phase.PENDING}),  # an administrator's (or the message author's) retry
}
ACTIVE = (Phase.PENDING, Phase.RETRYING)


class UndeclaredTransition(ValueError):
    """A move the table does not declare: a programming error (not core.errors.InvalidTransition, the 409 a person
    gets for a state change the rules refuse)."""


@dataclass(frozen=True)
class Outbox:
    """How one outbox table spells the shared bookkeeping. `states` maps each phase to the model's state value (an
    outbox without a separate retrying state maps RETRYING to its pending value). `lease_field` is the column the
    claim moves ahead: `lease_until`, or `next_attempt_at` for the outboxes whose due time doubles as the lease."""

    name: str
    model: type[models.Model]
    states: Mapping[Phase, str]
    lease: timedelta
    backoff_base: float
    backoff_cap: float
    lease_field: str = "lease_until"
    error_max: int = 2000

    def value(self, phase: Phase) -> str:
        return self.states[phase]

    def values(self, *phases: Phase) -> list[str]:
        return sorted({self.states[p] for p in phases})

    @property
    def active(self) -> list[str]:
        return self.values(*ACTIVE)

    def phase_of(self, value: str) -> Phase:
        """The phase of a state value (where two phases share a value, the earlier one)."""
        return next(p for p in Phase if self.states[p] == value)

    def transition(self, pk: Any, to: Phase, *, frm: Iterable[Phase] | None = None, error: str | None = None,
                   **fields: Any) -> bool:
        """Moves row `pk` to `to` if its state is one of `frm` (default: every phase the table lets reach `to`),
        writing `fields` with it (and `last_error`, cut to the column). Returns whether the row moved: False when
        the row is no longer where the caller thought (another worker, or a person, got there first)."""
        sources = tuple(frm) if frm is not None else tuple(p for p, targets in TRANSITIONS.items() if to in targets)
        illegal = [p for p in sources if to not in TRANSITIONS[p]]
        if illegal or not sources:
            raise UndeclaredTransition(f"{self.name}: {', '.join(illegal) or '?'} → {to}")
        if error is not None:
            fields["last_error"] = error[:self.error_max]
        return bool(self.model._default_manager.filter(pk=pk, state__in=self.values(*sources))
                    .update(state=self.value(to), **fields))

    def claim(self, pk: Any, *, now: datetime, when: Q | None = None) -> bool:
        """Leases an active row to this worker for `lease` and counts the attempt. `when` narrows the
        compare-and-set (the due time the caller read, or "no live lease"): False when another worker claimed it
        first."""
        qs = self.model._default_manager.filter(pk=pk, state__in=self.active)
        if when is not None:
            qs = qs.filter(when)
        return bool(qs.update(**{self.lease_field: now + self.lease}, attempts=F("attempts") + 1))

    def lease_free(self, now: datetime) -> Q:
        """Rows nobody holds: no lease, or one that expired (its worker died or gave up)."""
        return Q(**{f"{self.lease_field}__isnull": True}) | Q(**{f"{self.lease_field}__lt": now})

    def retry_at(self, attempts: int, now: datetime | None = None) -> datetime:
        return (now or timezone.now()) + backoff(attempts, base=self.backoff_base, cap=self.backoff_cap)

    def succeed(self, pk: Any, **fields: Any) -> bool:
        return self.transition(pk, Phase.DONE, frm=ACTIVE, error="", **fields)

    def retry_later(self, pk: Any, *, attempts: int, error: str, now: datetime | None = None,
                    **fields: Any) -> datetime | None:
        """Back in line after a backoff for attempt `attempts`; returns when (None if the row had moved on)."""
        when = self.retry_at(attempts, now)
        fields.setdefault("next_attempt_at", when)
        if self.lease_field != "next_attempt_at":
            fields.setdefault(self.lease_field, None)
        moved = self.transition(pk, Phase.RETRYING, frm=ACTIVE, error=error, **fields)
        return when if moved else None

    def park(self, pk: Any, *, error: str, frm: Iterable[Phase] = ACTIVE, **fields: Any) -> bool:
        """Failed for good, with its reason, until a person puts it back in line."""
        if self.lease_field != "next_attempt_at":
            fields.setdefault(self.lease_field, None)
        return self.transition(pk, Phase.FAILED, frm=frm, error=error, **fields)

    def requeue(self, ids: Iterable[Any], **fields: Any) -> list[Any]:
        """Failed rows among `ids` back in line as new (attempts from zero, due now), in one compare-and-set.
        Returns the ids that moved."""
        failed = self.model._default_manager.filter(pk__in=list(ids), state=self.value(Phase.FAILED))
        moved = list(failed.values_list("pk", flat=True))
        fields = {"attempts": 0, "next_attempt_at": timezone.now(), "last_error": "", **fields}
        if self.lease_field != "next_attempt_at":
            fields.setdefault(self.lease_field, None)
        self.model._default_manager.filter(pk__in=moved, state=self.value(Phase.FAILED)).update(
            state=self.value(Phase.PENDING), **fields)
        return moved
