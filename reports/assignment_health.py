"""Assignment health: the system administrator's view of how work reaches people (seed 002: "system use,
assignment problems, flow efficiency"). Live work only — imported history has no assignment to judge.

- unassigned now: open live conversations without an owner, and how long the customer of the longest-waiting one
  has waited (since their first unanswered message, else since it started; those whose last message was an
  agent's answer wait for nobody);
- time to an owner: for the live conversations started in the window (calls excluded: a call is owned by whoever
  makes it from its first second), from the start to the first event that gave it an owner (assigned, transferred
  to someone, escalated to a supervisor); mean, median, and how many never got one;
- returns to pool: conversations taken back from their agent by the pool job in the window (the agent went offline
  or did not answer in time), in all and per agent;
- agents without an inbox: agents and supervisors (who may work the inbox) that belong to no team of any inbox, so
  nothing can ever be assigned to them;
- capacity use: each agent's open conversations against their capacity (agents assignment can reach — in a team of
  some inbox — and anyone holding open work), and in all over those in service (not offline, or holding work).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from statistics import median
from typing import Any, Final
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Min, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.choices import Availability
from accounts.models import User
from accounts.roles import ROLE_PERMISSIONS, Perm, Role
from inbox.actions.assignment import open_load
from inbox.choices import OPEN_STATES, Channel
from inbox.models import Conversation, ConversationEvent

OWNER_EVENTS: Final = ("assigned", "transferred", "escalated")


@dataclass(frozen=True)
class AgentLoad:
    agent_id: int
    name: str
    availability: str
    open: int
    capacity: int
    use: float | None  # open / capacity (may exceed 1 when conversations were given by hand)


@dataclass(frozen=True)
class ReturnedFrom:
    agent_id: int
    name: str
    returns: int


@dataclass(frozen=True)
class AssignmentHealth:
    start: date
    end: date
    unassigned_open: int
    oldest_unassigned_seconds: float | None
    started: int
    time_to_owner_mean_seconds: float | None
    time_to_owner_median_seconds: float | None
    never_owned: int
    returns_to_pool: int
    returns_by_agent: list[ReturnedFrom]
    agents_without_inbox: list[str]
    capacity: list[AgentLoad]
    capacity_use: float | None


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(settings.TIME_ZONE)
    return (datetime.combine(start, time.min, tzinfo=zone),
            datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone))


def _name(user: Any) -> str:
    return str(user.full_name or user.username)


def assignment_health(*, start: date, end: date, now: datetime | None = None) -> AssignmentHealth:
    now = now or timezone.now()
    lo, hi = _bounds(start, end)
    live = Conversation.objects.live()
    open_states = [s.value for s in OPEN_STATES]

    unassigned = live.filter(state__in=open_states, assignee__isnull=True)
    # Waiting since the customer's first unanswered message (a reopened or returned conversation is not "waiting
    # since it started months ago"); else since it started.
    oldest = (unassigned.filter(awaiting_reply=True).annotate(since=Coalesce("waiting_since", "created_at"))
              .order_by("since").values_list("since", flat=True).first())

    first_owner = (ConversationEvent.objects.filter(conversation=OuterRef("pk"), kind__in=OWNER_EVENTS)
                   .exclude(data__to=None).order_by().values("conversation")
                   .annotate(at=Min("created_at")).values("at")[:1])
    started = list(live.filter(created_at__gte=lo, created_at__lt=hi).exclude(channel=Channel.PHONE)
                   .annotate(owned_at=Subquery(first_owner)).values_list("created_at", "owned_at"))
    waits = [max(0.0, (owned - created).total_seconds()) for created, owned in started if owned is not None]

    returned = list(ConversationEvent.objects.filter(kind="returned_to_pool", created_at__gte=lo, created_at__lt=hi)
                    .values_list("data", flat=True))
    per_agent: dict[int, int] = {}
    for data in returned:
        agent_id = (data or {}).get("from")
        if isinstance(agent_id, int):
            per_agent[agent_id] = per_agent.get(agent_id, 0) + 1

    # Administrators hold every permission but are not in the assignment pool unless they join a team.
    inbox_roles = [r.value for r, perms in ROLE_PERMISSIONS.items() if Perm.INBOX_WORK in perms]
    people = User.objects.filter(is_active=True, can_login=True, role__in=inbox_roles)
    # Administrators hold every permission but are no one's agent: listed as missing an inbox only if they are not.
    without_inbox = sorted(_name(u) for u in people.exclude(role=Role.ADMIN)
                           .exclude(teams__inboxes__isnull=False).distinct().only("full_name", "username"))

    # In service: who assignment can reach (inbox.actions.assignment.candidates: a team of some inbox), and anyone
    # still holding open work.
    load = open_load()
    reachable = set(people.filter(teams__inboxes__isnull=False).values_list("pk", flat=True))
    shown = reachable | set(load) | set(per_agent)
    names = {u.pk: u for u in User.objects.filter(pk__in=shown)
             .only("full_name", "username", "capacity", "availability", "is_active", "can_login")}
    capacity = sorted((AgentLoad(agent_id=u.pk, name=_name(u), availability=u.get_availability_display(),
                                 open=load.get(u.pk, 0), capacity=u.capacity,
                                 use=load.get(u.pk, 0) / u.capacity if u.capacity else None)
                       for u in names.values() if u.pk in reachable or u.pk in load),
                      key=lambda a: (-(a.use or 0), a.name))
    in_service = [a for a in capacity
                  if (a.agent_id in reachable and names[a.agent_id].availability != Availability.OFFLINE) or a.open]
    total_capacity = sum(a.capacity for a in in_service)
    return AssignmentHealth(
        start=start, end=end,
        unassigned_open=unassigned.count(),
        oldest_unassigned_seconds=(now - oldest).total_seconds() if oldest else None,
        started=len(started),
        time_to_owner_mean_seconds=sum(waits) / len(waits) if waits else None,
        time_to_owner_median_seconds=float(median(waits)) if waits else None,
        never_owned=len(started) - len(waits),
        returns_to_pool=len(returned),
        returns_by_agent=sorted((ReturnedFrom(agent_id=pk, name=_name(names[pk]) if pk in names else "—", returns=n)
                                 for pk, n in per_agent.items()), key=lambda r: (-r.returns, r.name)),
        agents_without_inbox=without_inbox,
        capacity=capacity,
        capacity_use=sum(a.open for a in in_service) / total_capacity if total_capacity else None,
    )
