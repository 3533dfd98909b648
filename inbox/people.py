"""Who may take a conversation: the one rule the assignment actions and the people pickers share.

A conversation outside Global is worked by the teams of its inbox; supervisors work every inbox. Assigning or
transferring it to anyone else would hand it to a person who cannot see it in any list (the pool would take it
back and it would vanish from their screen), so the actions refuse it and the pickers never offer it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet

from accounts.choices import Availability
from accounts.models import Team, User
from accounts.roles import ROLE_PERMISSIONS, Perm, Role
from core.text import fold
from inbox.choices import OPEN_STATES
from inbox.models import Conversation, Inbox

AVAILABILITY_RANK = {Availability.AVAILABLE: 0, Availability.BUSY: 1, Availability.AWAY: 2, Availability.OFFLINE: 3}


def _roles_with(perm: Perm) -> list[str]:
    return [r.value for r, perms in ROLE_PERMISSIONS.items() if perm in perms]


def workers() -> QuerySet[User]:
    """Active people who may work conversations at all."""
    return User.objects.filter(is_active=True, can_login=True, role__in=_roles_with(Perm.INBOX_WORK))


def hours_team(inbox: Inbox) -> Team | None:
    """Whose business hours an inbox keeps: its first team by name. The service-level clocks, the automation rules'
    business-hours condition and the next opening they announce all read this one."""
    return inbox.teams.order_by("name").first()


def can_take(user: User, inbox: Inbox) -> bool:
    """True when `user` would see a conversation of `inbox` assigned to them in their lists."""
    if not user.is_active or not user.has_perm_code(Perm.INBOX_WORK):
        return False
    if inbox.is_global or user.has_perm_code(Perm.INBOX_SUPERVISE):
        return True
    return inbox.teams.filter(members=user).exists()


def eligible(inbox: Inbox) -> QuerySet[User]:
    """Everyone who may take a conversation of `inbox` (the query behind the pickers)."""
    qs = workers()
    if inbox.is_global:
        return qs
    return qs.filter(Q(role__in=_roles_with(Perm.INBOX_SUPERVISE)) | Q(teams__inboxes=inbox)).distinct()


@dataclass(frozen=True)
class Person:
    """One row of a people picker: enough to choose well without opening another page."""

    id: int
    name: str
    username: str
    availability: str
    availability_label: str
    open_load: int
    capacity: int
    inboxes: list[str] = field(default_factory=list)

    @property
    def receiving(self) -> bool:
        return self.availability == Availability.AVAILABLE


def assignable_people(c: Conversation | None, *, q: str = "", limit: int = 20,
                      inbox: Inbox | None = None) -> list[Person]:
    """People who can take `c` (in `inbox` when it is about to move there; anyone who works conversations when
    neither is given), best candidates first: available before busy/away/offline, then lighter load relative to
    capacity, then name. Three queries."""
    target = inbox or (c.inbox if c is not None else None)
    qs = eligible(target) if target is not None else workers()
    needle = fold(q.strip()) if q.strip() else ""
    users = list(qs.prefetch_related("teams__inboxes").order_by("full_name", "username"))
    if needle:
        users = [u for u in users if needle in fold(f"{u.display_name} {u.username}")]
    open_states = [s.value for s in OPEN_STATES]
    load = dict(Conversation.objects.filter(state__in=open_states, assignee__in=[u.pk for u in users])
                .values_list("assignee").annotate(n=Count("pk")).values_list("assignee", "n"))
    labels = dict(Availability.choices)
    people = [Person(id=u.pk, name=u.display_name, username=u.username, availability=u.availability,
                     availability_label=str(labels.get(u.availability, u.availability)),
                     open_load=load.get(u.pk, 0), capacity=u.capacity,
                     inboxes=sorted({i.name for t in u.teams.all() for i in t.inboxes.all()}))
              for u in users]
    people.sort(key=lambda p: (AVAILABILITY_RANK.get(Availability(p.availability), 9) if p.availability in
                               Availability.values else 9, p.open_load / max(p.capacity, 1), fold(p.name)))
    return people[:limit]


def supervisors_of(inbox: Inbox) -> list[User]:
    """The supervisors responsible for `inbox`: active supervisors in one of its teams, or — a global inbox, or no
    supervisor in its teams — every active supervisor. Who an escalation goes to and whom a breached service level
    alerts."""
    everyone = User.objects.filter(role=Role.SUPERVISOR, is_active=True).order_by("pk")
    if not inbox.is_global:
        own = list(everyone.filter(teams__inboxes=inbox).distinct())
        if own:
            return own
    return list(everyone)
