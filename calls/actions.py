"""When a call starts and ends (docs/reports.md, "Calls"). A call session is one agent working one lead:

* it starts when the agent took the lead ("Siguiente lead" or their first note holds it), or at the previous call's
  end if that is later; a start more than CALL_SESSION_MAX_MINUTES before the note is not believed (a lead held
  overnight), and the call is counted from its note;
* it ends with the agent's note (the call's result); a second note within CALL_JOIN_MINUTES belongs to the same
  call, as does an order confirmed within that time; a call nobody notes (an order was its result) ends an hour
  after its last activity (inbox.actions.calls.CALL_IDLE_MINUTES);
* the first call after the lead reached the queue carries the lead's wait as its first-response time (speed to
  lead); the agent's follow-up calls answer at once.

Writes go through inbox.actions.calls; this module only decides which call an action belongs to.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from django.utils import timezone

from accounts.models import User
from inbox import actions as inbox
from inbox.choices import OPEN_STATES
from inbox.models import Conversation
from leads.models import Lead

CALL_SESSION_MAX_MINUTES: Final = 60
CALL_JOIN_MINUTES: Final = 15


def lead_ref(lead_id: int) -> str:
    return f"lead:{lead_id}"


def _joinable(previous: Conversation | None, at: datetime) -> bool:
    if previous is None:
        return False
    if previous.state in OPEN_STATES:  # not noted yet: the same call while it is not idle
        return at - previous.last_activity_at <= timedelta(minutes=inbox.CALL_IDLE_MINUTES)
    return previous.closed_at is not None and at - previous.closed_at <= timedelta(minutes=CALL_JOIN_MINUTES)


def _session_start(lead: Lead, agent: User, at: datetime, previous: Conversation | None) -> datetime:
    start = lead.held_at if lead.held_by_id == agent.pk and lead.held_at and lead.held_at <= at else at
    if previous is not None:
        start = max(start, previous.closed_at or previous.last_activity_at)
    if at - start > timedelta(minutes=CALL_SESSION_MAX_MINUTES):
        return at
    return start


def current_call(lead: Lead, agent: User, *, customer_id: int, at: datetime | None = None) -> Conversation:
    """The agent's call on this lead at `at` (locked): the one open or just noted, else a new one."""
    at = at or timezone.now()
    ref = lead_ref(lead.pk)
    # The lead's row is the lock that makes "find the call, else open one" atomic: a note and an order confirmed
    # at the same instant (two transactions) would otherwise both find no call and open two.
    list(Lead.objects.select_for_update().filter(pk=lead.pk).values_list("pk", flat=True))
    previous = inbox.latest_call(ref, agent.pk)
    if previous is not None and _joinable(previous, at):
        return previous
    if previous is not None:
        inbox.do_end_call(previous)  # an idle call the sweep has not ended yet
    start = _session_start(lead, agent, at, previous)
    first = not inbox.calls_since(ref, lead.queue_entered_at)
    waited = int((start - lead.queue_entered_at).total_seconds()) if first else 0
    return inbox.do_open_call(customer_id=customer_id, agent=agent, ref=ref, subject=lead.name, started_at=start,
                              waited_seconds=waited)


def do_record_call_note(lead: Lead, agent: User, *, text: str, result: str, at: datetime) -> Conversation | None:
    """A note on the call screen ends (or completes) the agent's call on the lead. A lead without a customer (Kommo
    sent no contact) has nobody to record a conversation for: nothing is recorded."""
    if lead.customer_id is None:
        return None
    c = current_call(lead, agent, customer_id=lead.customer_id, at=at)
    inbox.do_note_call(c, agent=agent, note=text, result=result, at=at)
    return c


def call_for_sale(lead: Lead, agent: User, *, customer_id: int) -> Conversation:
    """The call an order confirmed on the call screen was sold in (orders.actions.do_record_sales); the sale is the
    call's latest activity."""
    call = current_call(lead, agent, customer_id=customer_id)
    inbox.do_touch_call(call)
    return call
