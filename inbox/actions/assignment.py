"""Who works a conversation: routing by load and skills, assignment and transfer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.choices import Availability
from accounts.models import User, business_hours_open
from accounts.roles import ROLE_PERMISSIONS, Perm
from core.errors import ActionError, PermissionDeniedError
from core.events import emit
from customers.segments import segments_of
from inbox import notifications
from inbox.actions.base import (
    S,
    _descriptive,
    _emit,
    _event,
    _may_act,
    _updated,
    access_conversation,
    do_transition_conversation,
    event_payload,
    message_payload,
)
from inbox.choices import (
    OPEN_STATES,
    MessageKind,
    Priority,
)
from inbox.events import (
    ConversationAssigned,
)
from inbox.models import Conversation, ConversationEvent, Inbox, InboxCategory, Message
from inbox.people import can_take
from realtime.events import is_muted

# --- assignment ---------------------------------------------------------------------------------------


SEGMENT_PRIORITY_RANK: Final = {Priority.HIGH.value: 1, Priority.URGENT.value: 2}


def open_load() -> dict[int, int]:
    """Open conversations per agent: live work only (an imported "activa" conversation is history, not load)."""
    return dict(Conversation.objects.live().filter(state__in=[s.value for s in OPEN_STATES], assignee__isnull=False)
                .values_list("assignee").annotate(n=Count("pk")).values_list("assignee", "n"))


def candidates(inbox: Inbox, *, at: datetime | None = None, skills: Sequence[int] = ()) -> list[User]:
    """Agents who may receive a conversation of `inbox` now: members of its teams, working the inbox,
    available, inside their team's business hours, with the inbox's skill when it requires one (and one of
    `skills`, when given)."""
    at = at or timezone.now()
    open_teams = [t.pk for t in inbox.teams.all() if business_hours_open(t, at)]  # one check per team, not per agent
    if not open_teams:
        return []
    roles = [r.value for r, perms in ROLE_PERMISSIONS.items() if Perm.INBOX_WORK in perms]
    qs = User.objects.filter(is_active=True, can_login=True, role__in=roles, availability=Availability.AVAILABLE,
                             teams__in=open_teams).distinct()
    if inbox.skill_id:
        qs = qs.filter(skills=inbox.skill_id)
    if skills:
        qs = qs.filter(pk__in=User.skills.through.objects.filter(skill_id__in=skills).values("user_id"))
    return list(qs.order_by("pk"))


def segment_treatment(customer_id: int) -> tuple[str, list[int]]:
    """The priority and the agents' skills the customer's segments ask for (VIP: "alta", skill "senior"); the
    highest priority wins. ("", []) for a customer in no segment with a treatment."""
    found = segments_of([customer_id]).get(customer_id, [])
    ranked = [s.priority for s in found if s.priority in SEGMENT_PRIORITY_RANK]
    priority = max(ranked, key=SEGMENT_PRIORITY_RANK.__getitem__, default="")
    return priority, sorted({s.skill_id for s in found if s.skill_id})


def pick_agent(inbox: Inbox, *, at: datetime | None = None, skills: Sequence[int] = ()) -> User | None:
    """Least loaded relative to capacity, never above it; ties go to whoever was assigned least recently. With
    `skills` (the customer's segments' treatment), an available agent with one of them first, anyone otherwise."""
    load = open_load()
    pool: list[User] = []
    if skills:
        pool = [u for u in candidates(inbox, at=at, skills=skills) if load.get(u.pk, 0) < u.capacity]
    if not pool:
        pool = [u for u in candidates(inbox, at=at) if load.get(u.pk, 0) < u.capacity]
    if not pool:
        return None
    last = dict(ConversationEvent.objects.filter(kind="assigned", data__to__in=[u.pk for u in pool])
                .values_list("data__to").annotate(m=Count("pk")).values_list("data__to", "m"))
    return min(pool, key=lambda u: (load.get(u.pk, 0) / max(u.capacity, 1), load.get(u.pk, 0),
                                    last.get(u.pk, 0), u.pk))


def _assign(c: Conversation, assignee: User | None, *, acting_user: User | None, comment: str = "",
            kind: str = "assigned") -> None:
    previous = c.assignee_id
    c.assignee = assignee
    c.team = next(iter(t for t in assignee.teams.all() if t in c.inbox.teams.all()), c.team) if assignee else c.team
    c.save(update_fields=["assignee", "team"])
    ev = _event(c, kind, actor=acting_user, comment=comment,
                **{"from": previous, "to": assignee.pk if assignee else None})
    if assignee is not None and c.state == S.NEW:
        do_transition_conversation(c, to=S.PENDING, acting_user=acting_user, reason="assigned")
    if previous != c.assignee_id:
        emit(ConversationAssigned(conversation_id=c.pk, customer_id=c.customer_id, inbox=c.inbox.code,
                                  from_user_id=previous, to_user_id=c.assignee_id, how=kind), actor=acting_user)
    _emit(c, "assigned", item=event_payload(ev))
    if assignee is not None and assignee.pk != previous and not is_muted() and (
            acting_user is None or acting_user.pk != assignee.pk):  # taking it yourself needs no email
        notifications.notify("assigned", user_ids=[assignee.pk], conversation_id=c.pk,
                             actor_id=acting_user.pk if acting_user else None)


def do_assign(c: Conversation, assignee: User, *, acting_user: User | None, comment: str = "") -> None:
    """Hands the locked conversation `c` to `assignee` (the caller checked they may take it: inbox.people.can_take);
    an automation rule's assignment has `acting_user` None."""
    if assignee.pk != c.assignee_id:
        _assign(c, assignee, acting_user=acting_user, comment=comment)


def do_move_to_inbox(c: Conversation, inbox: Inbox, *, assignee: User | None, acting_user: User | None,
                     comment: str = "") -> None:
    """Moves the locked conversation `c` to `inbox` (no category) with its owner there: `assignee` (the caller
    checked they can take it; check_transfer's rule: outside Global a conversation always has one), or nobody in
    Global (it goes back to the pool)."""
    if inbox.pk == c.inbox_id:
        return
    owner = None if inbox.is_global else assignee
    if owner is None and not inbox.is_global:  # refused before anything is written
        raise ActionError("owner_required", _("Indique a quién se transfiere: fuera de Global toda conversación "
                                              "tiene un responsable."))
    _event(c, "moved", actor=acting_user, comment=comment, **{"from": c.inbox.code, "to": inbox.code,
                                                              "category": None})
    c.inbox, c.category = inbox, None
    c.save(update_fields=["inbox", "category"])
    _updated(c, "inbox", acting_user=acting_user)
    if (owner.pk if owner else None) != c.assignee_id:
        _assign(c, owner, acting_user=acting_user, comment=comment, kind="transferred")


def do_auto_assign(c: Conversation, *, skills: Sequence[int] | None = None) -> User | None:
    """Routes `c` to pick_agent's choice; `skills` defaults to what the customer's segments ask for."""
    if skills is None:
        skills = segment_treatment(c.customer_id)[1]
    agent = pick_agent(c.inbox, skills=skills)
    if agent is not None:
        _assign(c, agent, acting_user=None)
    return agent


def check_assign(acting_user: User, conversation_id: int, *, assignee: str | int | None) -> Conversation:
    """Supervisors assign anyone; an agent may only take an unowned conversation for themself."""
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        target = None
        if assignee is not None:
            target = _user_ref(assignee)
            if target is None or not target.has_perm_code(Perm.INBOX_WORK):
                raise ActionError("invalid_assignee", _("El usuario no existe o no atiende conversaciones."),
                                  field="assignee")
        if target is not None and target.pk != c.assignee_id:
            _require_can_take(target, c.inbox, field="assignee")
        taking_for_self = target is not None and target.pk == acting_user.pk and c.assignee_id in (None, target.pk)
        if not acting_user.has_perm_code(Perm.INBOX_SUPERVISE) and not taking_for_self:
            raise PermissionDeniedError("forbidden", _("Solo puede tomar conversaciones sin dueño."))
        if target is None and not c.inbox.is_global and c.state in OPEN_STATES:
            raise ActionError("owner_required", _("Fuera de Global toda conversación abierta tiene un responsable."))
        if (target.pk if target else None) != c.assignee_id:
            _assign(c, target, acting_user=acting_user)
    return c


def _user_ref(ref: str | int) -> User | None:
    """A person named by id (the pickers) or by username (the API and older clients)."""
    qs = User.objects.filter(pk=int(ref)) if str(ref).isdigit() else User.objects.filter(username=str(ref))
    return qs.first()


def _require_can_take(target: User, inbox: Inbox, *, field: str) -> None:
    """Refuses to hand a conversation to someone who would not see it (inbox.people explains why)."""
    if can_take(target, inbox):
        return
    theirs = sorted({i.name for i in Inbox.objects.filter(teams__members=target).distinct()})
    if theirs:
        raise ActionError("assignee_cannot_take", _(
            "%(name)s no atiende la bandeja «%(inbox)s» y no vería la conversación. Elija a alguien de esa bandeja "
            "o transfiérala también a una bandeja de %(name)s (%(theirs)s).")
            % {"name": target.display_name, "inbox": inbox.name, "theirs": ", ".join(theirs)}, field=field)
    raise ActionError("assignee_cannot_take", _(
        "%(name)s no atiende la bandeja «%(inbox)s» ni ninguna otra: elija a alguien de esa bandeja.")
        % {"name": target.display_name, "inbox": inbox.name}, field=field)


def check_transfer(acting_user: User, conversation_id: int, *, comment: str, to_user: str | int | None = None,
                   to_inbox: str | None = None, category_id: int | None = None) -> Conversation:
    """Moves the conversation to another agent and/or inbox, with the internal note the guide requires. The new
    owner must work the destination inbox (inbox.people.can_take): a transfer never hands a conversation to
    someone who could not see it."""
    comment = _descriptive(comment)
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        _may_act(acting_user, c)
        destination = c.inbox
        if to_inbox:
            found = Inbox.objects.filter(code=to_inbox).first()
            if found is None:
                raise ActionError("unknown_inbox", _("Bandeja desconocida: %s") % to_inbox, field="to_inbox")
            destination = found
        target = None
        if to_user:
            target = _user_ref(to_user)
            if target is None or not target.has_perm_code(Perm.INBOX_WORK):
                raise ActionError("invalid_assignee", _("El usuario no existe o no atiende conversaciones."),
                                  field="to_user")
            _require_can_take(target, destination, field="to_user")
        if to_inbox and destination.pk != c.inbox_id:
            inbox = destination
            category = InboxCategory.objects.filter(pk=category_id, inbox=inbox).first() if category_id else None
            _event(c, "moved", actor=acting_user, comment=comment, **{"from": c.inbox.code, "to": inbox.code,
                                                                      "category": category.name if category else None})
            c.inbox, c.category = inbox, category
            c.save(update_fields=["inbox", "category"])
            _updated(c, "inbox", acting_user=acting_user)
        if not to_user and to_inbox and not c.inbox.is_global and c.inbox.auto_assign:
            target = pick_agent(c.inbox)
        if target is not None and target.pk != c.assignee_id:
            _assign(c, target, acting_user=acting_user, comment=comment, kind="transferred")
        elif target is None and not c.inbox.is_global:
            if c.assignee_id is None:
                raise ActionError("owner_required", _("Indique a quién se transfiere: fuera de Global toda "
                                                      "conversación tiene un responsable."), field="to_user")
        elif c.inbox.is_global and c.assignee_id is not None and not to_user:
            _assign(c, None, acting_user=acting_user, comment=comment, kind="transferred")
        note = Message.objects.create(conversation=c, cycle=c.cycle, kind=MessageKind.NOTE, author=acting_user,
                                      body=_("Transferencia: %s") % comment)
        _emit(c, "message", message=message_payload(note))
    return c
