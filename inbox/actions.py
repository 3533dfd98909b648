"""The unified inbox's rules (seeds 003/004 of the mission), enforced in one place.

One transition function (do_transition_conversation) with a declared table; every change writes a
ConversationEvent; realtime events go out after commit to the people who can see the conversation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.choices import Availability
from accounts.models import User, business_hours_open
from accounts.roles import ROLE_PERMISSIONS, Perm, Role
from core import audit
from core.errors import ActionError, ConflictError, InvalidTransition, NotFoundError, PermissionDeniedError
from core.events import emit
from core.tasks import enqueue_on_commit
from core.validators import check_text, max_length_of, text_error
from customers.actions import do_upsert_customer
from customers.models import Customer
from customers.phones import normalize_phone, validate_customer_email
from inbox import notifications, outbound
from inbox.choices import (
    CONVERSATION_TRANSITIONS,
    OPEN_STATES,
    Channel,
    CloseReason,
    ConversationOutcome,
    ConversationState,
    CustomerState,
    DeliveryStatus,
    MessageKind,
    Priority,
    TaskStatus,
)
from inbox.describe import event_texts
from inbox.events import (
    ConversationAssigned,
    ConversationClosed,
    ConversationCreated,
    ConversationStateChanged,
    MessageReceived,
    MessageSent,
)
from inbox.models import ClosureReview, Conversation, ConversationEvent, Inbox, InboxCategory, Message, SavedView, Task
from inbox.people import can_take
from inbox.tasks import deliver_outbound
from realtime import topics
from realtime.events import is_muted, send_event_on_commit

S = ConversationState
MIN_COMMENT = 20  # a "descriptive comment" (context, actions, next steps…) is more than a word or two
MENTION = re.compile(r"@([\w.\-]+)")


# --- audience and events ---------------------------------------------------------------------------


def audience(conversation: Conversation) -> dict[str, list[Any]]:
    """Who sees a conversation live (send_event_on_commit's keywords): every user who may work or supervise the
    inbox, through one topic group — one channel-layer message however many agents are connected — and the
    assignee's own group only when their role is outside that topic."""
    assignee = conversation.assignee
    extra = [assignee.pk] if assignee is not None and not topics.in_topic(assignee, topics.INBOX) else []
    return {"topics": [topics.INBOX], "user_ids": extra}


def conversation_payload(c: Conversation) -> dict[str, Any]:
    return {"id": c.pk, "state": c.state, "inbox": c.inbox.code,
            "assignee": c.assignee.username if c.assignee else None,
            "assignee_name": c.assignee.display_name if c.assignee else None,
            "priority": c.priority, "channel": c.channel, "customer": c.customer.name,
            "last_message_preview": c.last_message_preview, "awaiting_reply": c.awaiting_reply,
            "last_activity_at": c.last_activity_at.isoformat(), "cycle": c.cycle}


def _emit(c: Conversation, op: str, **extra: Any) -> None:
    if not is_muted():
        send_event_on_commit({"type": "conversation", "op": op, "conversation": conversation_payload(c), **extra},
                             **audience(c))


PAYLOAD_BODY_MAX = 4000  # longer bodies travel cut (`truncated`); the page shows the whole text on reload


def message_payload(m: Message) -> dict[str, Any]:
    """A new message in realtime events: the timeline item the conversation page inserts without reloading
    (inbox.selectors.message_item, JSON-ready; attachments as their download links, never storage paths)."""
    from django.urls import reverse

    from inbox.selectors import message_item

    item = message_item(m)
    body = m.body or ""
    meta = m.meta if len(json.dumps(m.meta or {}, default=str)) <= 2000 else {}
    item.update(at=m.created_at.isoformat(), body=body[:PAYLOAD_BODY_MAX], truncated=len(body) > PAYLOAD_BODY_MAX,
                meta=meta, attachments=[
                    {"name": a.get("name") or "", "content_type": a.get("content_type") or "",
                     "url": reverse("inbox:attachment", args=[m.pk, i]) if a.get("path") else ""}
                    for i, a in enumerate(m.attachments or []) if isinstance(a, dict)])
    # A deleted message travels without its text, caption or files: the payload reaches every agent, and only
    # supervisors may read what the customer deleted (on the page, which checks who is looking).
    versions: Any = item.get("versions") or []
    item.update(edited_at=m.edited_at.isoformat() if m.edited_at else None,
                deleted_at=m.deleted_at.isoformat() if m.deleted_at else None,
                versions=[] if m.deleted_at else [{"body": str(v["body"])[:PAYLOAD_BODY_MAX], "at": v["at"].isoformat()}
                                                  for v in versions])
    if m.deleted_at:
        item.update(meta={}, attachments=[])
    return item


def event_payload(e: ConversationEvent) -> dict[str, Any]:
    """A history row (state change, assignment, transfer…) as the timeline item the page inserts."""
    from inbox.selectors import event_item

    # The sentence in every language: one payload goes to agents who read Spanish and English.
    return {**event_item(e), "at": e.created_at.isoformat(), "texts": event_texts(e)}


def _event(c: Conversation, kind: str, *, actor: User | None, comment: str = "", **data: Any) -> ConversationEvent:
    return ConversationEvent.objects.create(conversation=c, cycle=c.cycle, kind=kind, actor=actor, comment=comment,
                                            data=data)


# --- access -------------------------------------------------------------------------------------------


def access_conversation(acting_user: User, conversation_id: int, *, lock: bool = False) -> Conversation:
    require_perm(acting_user, Perm.INBOX_WORK)
    qs = Conversation.objects.select_for_update() if lock else Conversation.objects.all()
    c = qs.select_related("customer", "inbox", "assignee").filter(pk=conversation_id).first() if not lock else \
        qs.filter(pk=conversation_id).first()
    if c is None or (not acting_user.has_perm_code(Perm.INBOX_SUPERVISE) and c.assignee_id != acting_user.pk
                     and not visible_to(acting_user, c.pk)):
        raise NotFoundError("conversation_not_found", _("La conversación no existe."))
    return c


def visible_to(user: User, conversation_id: int) -> bool:
    from inbox.selectors import visible

    return visible(user).filter(pk=conversation_id).exists()


def _may_act(acting_user: User, c: Conversation) -> None:
    """The responsible agent acts on their conversation; supervisors on any; others may not take it over."""
    if acting_user.has_perm_code(Perm.INBOX_SUPERVISE):
        return
    if c.assignee_id not in (None, acting_user.pk):
        raise PermissionDeniedError("not_assignee", _("Esta conversación es de %s.") %
                                    (c.assignee.display_name if c.assignee else "?"))


def _descriptive(comment: str) -> str:
    comment = (comment or "").strip()
    if len(comment) < MIN_COMMENT:
        raise ActionError("comment_required", _(
            "Escriba un comentario descriptivo (contexto, acciones realizadas, próximos pasos, datos faltantes, "
            "canal externo): al menos %d caracteres.") % MIN_COMMENT, field="comment")
    return comment


# --- the state machine ------------------------------------------------------------------------------


def do_transition_conversation(c: Conversation, *, to: ConversationState, acting_user: User | None,
                               comment: str = "", reason: str = "", waiting_until: datetime | None = None) -> bool:
    """The one transition function (the caller holds the row lock). Returns False when nothing changes."""
    current = ConversationState(c.state)
    if current == to:
        return False
    if to not in CONVERSATION_TRANSITIONS[current]:
        raise InvalidTransition("invalid_transition", _("Una conversación %(a)s no puede pasar a %(b)s.")
                                % {"a": current.label, "b": to.label},
                                allowed=sorted(s.value for s in CONVERSATION_TRANSITIONS[current]))
    now = timezone.now()
    fields = ["state", "last_activity_at"]
    if current == S.RESOLVED:  # reopening: a new cycle keeps metrics honest
        c.cycle += 1
        c.closed_at, c.close_reason, c.close_comment, c.first_response_at = None, "", "", None
        fields += ["cycle", "closed_at", "close_reason", "close_comment", "first_response_at"]
    if to == S.RESOLVED:
        c.closed_at, c.close_reason, c.close_comment, c.waiting_since = now, reason, comment, None
        fields.append("waiting_since")
        # the dashboard's resolution time: from the conversation's start to its latest closure
        c.resolution_seconds = max(0, int((now - c.created_at).total_seconds()))
        fields += ["closed_at", "close_reason", "close_comment", "resolution_seconds"]
    c.waiting_until = waiting_until if to == S.ON_HOLD else None
    fields.append("waiting_until")
    c.state, c.last_activity_at = to.value, now
    c.save(update_fields=fields)
    ev = _event(c, "state", actor=acting_user, comment=comment, **{"from": current.value, "to": to.value,
                                                                    "reason": reason})
    _emit(c, "state", item=event_payload(ev))
    emit(ConversationStateChanged(conversation_id=c.pk, customer_id=c.customer_id, channel=c.channel,
                                  from_state=current.value, to_state=to.value, reason=str(reason)),
         actor=acting_user)
    if to == S.RESOLVED:
        emit(ConversationClosed(conversation_id=c.pk, customer_id=c.customer_id, channel=c.channel,
                                inbox=c.inbox.code, reason=str(reason), cycle=c.cycle,
                                resolution_seconds=c.resolution_seconds or 0, assignee_id=c.assignee_id),
             actor=acting_user)
    return True


# --- intake (channel adapters and the API channel call this) --------------------------------------


def _global_inbox() -> Inbox:
    inbox = Inbox.objects.filter(is_global=True).first()
    if inbox is None:
        inbox = Inbox.objects.create(name="Global", code="global", is_global=True, auto_assign=False)
    return inbox


def do_receive_inbound(
    *, channel: str, body: str, customer_name: str = "", phones: Iterable[str] = (), emails: Iterable[str] = (),
    inbox_code: str | None = None, external_id: str = "", subject: str = "", attachments: list[Any] | None = None,
    received_at: datetime | None = None, conversation_id: int | None = None, channel_ref: str = "",
    meta: dict[str, Any] | None = None, customer_id: int | None = None,
) -> tuple[Conversation, Message, bool]:
    """A customer's message: continues their open conversation on that channel, reopens a recently resolved one
    (new cycle), or starts a new one (in Global unless an inbox is given). Idempotent on `external_id` (channels
    redeliver). Returns (conversation, message, created_now).

    Connectors may pass `conversation_id` (a thread they recognised, e.g. an email reply) to continue that
    conversation, `customer_id` when they already know the customer (a web chat visitor), `channel_ref` to pin
    the conversation to one connector endpoint (a WhatsApp number, a mailbox, a web chat site) and `meta` with
    channel details kept on the message (message type, headers, location…)."""
    if channel not in Channel.values:
        raise ActionError("invalid_channel", _("Canal desconocido: %s") % channel, field="channel")
    if not body.strip() and not attachments:
        raise ActionError("empty_message", _("El mensaje está vacío."), field="message")
    if external_id:
        existing = Message.objects.filter(external_id=external_id).select_related("conversation").first()
        if existing is not None:
            return existing.conversation, existing, False
    now = received_at or timezone.now()
    with transaction.atomic():
        # Two messages of one customer processed at once by two workers must not both find no open conversation
        # and start two: the customer's row serializes the open / reopen / start decision below. Locks are taken
        # customer first, then conversations, on every path (the other order could deadlock two workers).
        threaded_customer = (Conversation.objects.filter(pk=conversation_id).values_list("customer_id", flat=True)
                             .first() if conversation_id else None)
        if threaded_customer is not None:
            customer = Customer.objects.get(pk=threaded_customer)
        elif customer_id is not None:
            customer = Customer.objects.get(pk=customer_id)
        else:
            customer = do_upsert_customer(name=customer_name, phones=phones, emails=emails)
        list(Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk", flat=True))
        threaded = None
        if threaded_customer is not None and conversation_id is not None:
            threaded = (Conversation.objects.select_for_update().select_related("customer")
                        .filter(pk=conversation_id).first())
        inbox = Inbox.objects.filter(code=inbox_code).first() if inbox_code else None
        if inbox_code and inbox is None:
            raise ActionError("unknown_inbox", _("Bandeja desconocida: %s") % inbox_code, field="inbox")
        c = threaded
        if c is not None and c.state == S.RESOLVED:
            do_transition_conversation(c, to=S.PENDING, acting_user=None, reason="customer_wrote_again")
        open_qs = Conversation.objects.select_for_update().filter(customer=customer, channel=channel,
                                                                  state__in=[s.value for s in OPEN_STATES])
        if channel_ref:
            open_qs = open_qs.filter(channel_ref=channel_ref)
        if c is None:
            c = open_qs.order_by("-last_activity_at").first()
        new = False
        if c is None:
            recent = (Conversation.objects.select_for_update()
                      .filter(customer=customer, channel=channel, state=S.RESOLVED,
                              closed_at__gte=now - timedelta(days=settings.INBOX_REOPEN_DAYS),
                              **({"channel_ref": channel_ref} if channel_ref else {}))
                      .order_by("-closed_at").first())
            if recent is not None:
                c = recent
                do_transition_conversation(c, to=S.PENDING, acting_user=None, reason="customer_wrote_again")
            else:
                c = Conversation.objects.create(customer=customer, channel=channel, inbox=inbox or _global_inbox(),
                                                subject=subject[:250], created_at=now, last_activity_at=now,
                                                channel_ref=channel_ref)
                new = True
                _event(c, "created", actor=None, channel=channel)
                emit(ConversationCreated(conversation_id=c.pk, customer_id=customer.pk, channel=channel,
                                         inbox=c.inbox.code, subject=c.subject))
        try:
            with transaction.atomic():
                message = Message.objects.create(conversation=c, cycle=c.cycle, kind=MessageKind.INBOUND,
                                                 body=body, attachments=attachments or [], external_id=external_id,
                                                 created_at=now, meta=meta or {})
        except IntegrityError:  # the same external id raced in: the other delivery stored it
            message = Message.objects.get(external_id=external_id)
            return message.conversation, message, False
        from inbox.revision_actions import apply_pending_changes, deleted_preview

        # The customer's edit or deletion may have overtaken the message itself (only WhatsApp has them).
        if channel == Channel.WHATSAPP and apply_pending_changes(message):
            body = deleted_preview() if message.deleted_at else message.body
        c.last_customer_message_at, c.last_activity_at = now, now
        if c.waiting_since is None or not c.awaiting_reply:  # the wait starts at the first unanswered message
            c.waiting_since = now
        c.awaiting_reply, c.last_message_preview = True, body[:200]
        update = ["last_customer_message_at", "last_activity_at", "awaiting_reply", "last_message_preview",
                  "waiting_since"]
        c.save(update_fields=update)
        if c.state == S.ON_HOLD:
            do_transition_conversation(c, to=S.PENDING, acting_user=None, reason="customer_replied")
        if c.assignee_id is None and c.inbox.auto_assign and not c.inbox.is_global:
            do_auto_assign(c)
        emit(MessageReceived(message_id=message.pk, conversation_id=c.pk, customer_id=c.customer_id,
                             channel=channel, inbox=c.inbox.code, body=message.body,
                             attachments=len(message.attachments or [])))
        _emit(c, "message", message=message_payload(message))
    return c, message, new


def message_max_length(channel: str) -> int:
    """The longest message accepted on a channel (settings; docs/api.md "Limits")."""
    return int(settings.MESSAGE_MAX_LENGTH_BY_CHANNEL.get(channel, settings.MESSAGE_MAX_LENGTH))


def check_receive_api_message(
    acting_user: User, *, body: str, customer_name: str = "", phone: str = "", email: str = "",
    channel: str = Channel.API, inbox_code: str | None = None, external_id: str = "",
) -> tuple[Conversation, Message, bool]:
    """A customer's message sent by an integration (POST /api/v1/conversations): do_receive_inbound once the input
    is checked. The customer must be reachable and recognisable: a valid phone or a valid email (a conversation
    nobody can answer, or that would start a nameless duplicate customer, is refused). Every problem is reported
    at once (`errors`, keyed by the API's field names); nothing is written on error."""
    require_perm(acting_user, Perm.INBOX_WORK)
    errors: dict[str, str] = {}
    for field, value, label, max_length in (
            ("message", body, _("El mensaje"), message_max_length(channel)),
            ("customer.name", customer_name, _("El nombre del cliente"), max_length_of(Customer, "name")),
            ("customer.phone", phone, _("El teléfono"), 40), ("customer.email", email, _("El correo"), 254),
            ("external_id", external_id, _("El identificador externo"),
             max_length_of(Message, "external_id"))):
        message = text_error(value, label=label, max_length=max_length)
        if message is not None:
            errors[field] = message
    if not phone.strip() and not email.strip():
        errors["customer"] = _("Indique el teléfono o el correo del cliente: sin ellos nadie puede responderle.")
    if "customer.phone" not in errors and phone.strip() and normalize_phone(phone) is None:
        errors["customer.phone"] = _("Teléfono inválido: «%s».") % phone.strip()
    if "customer.email" not in errors and email.strip() and validate_customer_email(email) is None:
        errors["customer.email"] = _("Correo inválido: «%s».") % email.strip()
    if errors:
        raise ActionError("invalid_message", " ".join(errors.values()), errors=errors,
                          field=next(iter(errors)))
    return do_receive_inbound(channel=channel, body=body, customer_name=customer_name,
                              phones=[phone] if phone.strip() else [], emails=[email] if email.strip() else [],
                              inbox_code=inbox_code, external_id=external_id)


# --- assignment ---------------------------------------------------------------------------------------


def open_load() -> dict[int, int]:
    return dict(Conversation.objects.filter(state__in=[s.value for s in OPEN_STATES], assignee__isnull=False)
                .values_list("assignee").annotate(n=Count("pk")).values_list("assignee", "n"))


def candidates(inbox: Inbox, *, at: datetime | None = None) -> list[User]:
    """Agents who may receive a conversation of `inbox` now: members of its teams, working the inbox,
    available, inside their team's business hours, with the inbox's skill when it requires one."""
    at = at or timezone.now()
    open_teams = [t.pk for t in inbox.teams.all() if business_hours_open(t, at)]  # one check per team, not per agent
    if not open_teams:
        return []
    roles = [r.value for r, perms in ROLE_PERMISSIONS.items() if Perm.INBOX_WORK in perms]
    qs = User.objects.filter(is_active=True, can_login=True, role__in=roles, availability=Availability.AVAILABLE,
                             teams__in=open_teams).distinct()
    if inbox.skill_id:
        qs = qs.filter(skills=inbox.skill_id)
    return list(qs.order_by("pk"))


def pick_agent(inbox: Inbox, *, at: datetime | None = None) -> User | None:
    """Least loaded relative to capacity, never above it; ties go to whoever was assigned least recently."""
    load = open_load()
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


def do_auto_assign(c: Conversation) -> User | None:
    agent = pick_agent(c.inbox)
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


# --- messages, notes, handled elsewhere ---------------------------------------------------------------


def check_send_reply(acting_user: User, conversation_id: int, *, body: str, attachments: list[Any] | None = None,
                     meta: dict[str, Any] | None = None) -> Message:
    """An answer to the customer. Connectors with rules of their own (WhatsApp's 24-hour window) register a
    guard in inbox.outbound and refuse here, before anything is stored."""
    body = body.strip()
    if not body and not attachments:
        raise ActionError("empty_message", _("La respuesta está vacía."), field="body")
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        _may_act(acting_user, c)
        check_text(body, field="body", label=_("La respuesta"), max_length=message_max_length(c.channel))
        guard = outbound.guard_for(c.channel)
        if guard is not None:
            guard(c, body, meta or {})
        if c.state == S.RESOLVED:
            do_transition_conversation(c, to=S.PENDING, acting_user=acting_user, reason="agent_wrote_again")
        if c.assignee_id is None:
            _assign(c, acting_user, acting_user=acting_user)
        now = timezone.now()
        status = DeliveryStatus.QUEUED if outbound.has_sender(c.channel) else DeliveryStatus.SENT
        message = Message.objects.create(conversation=c, cycle=c.cycle, kind=MessageKind.OUTBOUND,
                                         author=acting_user, body=body, delivery_status=status, created_at=now,
                                         attachments=attachments or [], meta=meta or {})
        if status == DeliveryStatus.QUEUED:
            enqueue_on_commit(deliver_outbound, message.pk)
        c.first_response_at = c.first_response_at or now
        if c.first_response_seconds is None:  # the dashboard's first response: the conversation's, not the cycle's
            c.first_response_seconds = max(0, int((now - c.created_at).total_seconds()))
        c.last_agent_message_at, c.last_activity_at, c.awaiting_reply = now, now, False
        c.last_message_preview, c.waiting_since = body[:200], None
        c.save(update_fields=["first_response_at", "first_response_seconds", "last_agent_message_at",
                              "last_activity_at", "awaiting_reply", "last_message_preview", "waiting_since"])
        # Answered: now the conversation waits for the customer (an escalated one stays with the supervisor).
        if c.state == S.NEW:
            do_transition_conversation(c, to=S.PENDING, acting_user=acting_user, reason="replied")
        if c.state == S.PENDING:
            do_transition_conversation(c, to=S.ON_HOLD, acting_user=acting_user, reason="replied")
        emit(MessageSent(message_id=message.pk, conversation_id=c.pk, customer_id=c.customer_id, channel=c.channel,
                         author_id=acting_user.pk, body=body, delivery_status=status), actor=acting_user)
        _emit(c, "message", message=message_payload(message))
    return message


_DELIVERY_RANK = {DeliveryStatus.QUEUED: 0, DeliveryStatus.SENT: 1, DeliveryStatus.DELIVERED: 2,
                  DeliveryStatus.READ: 3, DeliveryStatus.FAILED: 4}


def do_update_delivery_status(message_id: int, *, status: str, error: str = "", external_id: str = "") -> bool:
    """A connector reports what happened to an outbound message. Statuses only move forward (a channel may report
    "read" before "delivered": the late "delivered" changes nothing); "failed" is final. Returns True on change."""
    new = DeliveryStatus(status)
    with transaction.atomic():
        m = Message.objects.select_for_update().select_related("conversation").filter(pk=message_id).first()
        if m is None:
            return False
        fields: list[str] = []
        if external_id and m.external_id != external_id:
            m.external_id = external_id
            fields.append("external_id")
        current = DeliveryStatus(m.delivery_status) if m.delivery_status else DeliveryStatus.QUEUED
        if current != DeliveryStatus.FAILED and _DELIVERY_RANK[new] > _DELIVERY_RANK[current]:
            m.delivery_status, m.delivery_error = new.value, error[:300]
            fields += ["delivery_status", "delivery_error"]
        if not fields:
            return False
        m.save(update_fields=fields)
        if "delivery_status" in fields:
            _emit(m.conversation, "delivery", message={"id": m.pk, "status": m.delivery_status,
                                                       "error": m.delivery_error})
    return "delivery_status" in fields


def check_add_note(acting_user: User, conversation_id: int, *, body: str) -> Message:
    """An internal note (never sent to the customer). @usuario mentions notify those users live."""
    body = body.strip()
    if not body:
        raise ActionError("empty_message", _("La nota está vacía."), field="body")
    check_text(body, field="body", label=_("La nota"), max_length=settings.NOTE_MAX_LENGTH)
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        note = Message.objects.create(conversation=c, cycle=c.cycle, kind=MessageKind.NOTE, author=acting_user,
                                      body=body)
        mentioned = list(User.objects.filter(username__in=MENTION.findall(body), is_active=True))
        if mentioned:
            _event(c, "mention", actor=acting_user, users=[u.username for u in mentioned], note=note.pk)
            if not is_muted():
                send_event_on_commit({"type": "mention", "op": "new", "conversation_id": c.pk,
                                      "by": acting_user.display_name, "body": body[:300]},
                                     user_ids=[u.pk for u in mentioned])
                notifications.notify("mention", user_ids=[u.pk for u in mentioned if u.pk != acting_user.pk],
                                     conversation_id=c.pk, actor_id=acting_user.pk, note_id=note.pk)
        c.last_activity_at = timezone.now()
        c.save(update_fields=["last_activity_at"])
        _emit(c, "message", message=message_payload(note))
    return note


def check_mark_handled_outside(acting_user: User, conversation_id: int, *, external_channel: str,
                               comment: str) -> Conversation:
    """Attended by phone, personal WhatsApp or external email: documented with a descriptive comment."""
    comment = _descriptive(comment)
    if not external_channel.strip():
        raise ActionError("channel_required", _("Indique el canal externo."), field="external_channel")
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        _may_act(acting_user, c)
        _event(c, "handled_outside", actor=acting_user, comment=comment, channel=external_channel.strip())
        Message.objects.create(conversation=c, cycle=c.cycle, kind=MessageKind.NOTE, author=acting_user,
                               body=_("Atendida fuera del CRM (%(ch)s): %(c)s")
                               % {"ch": external_channel, "c": comment})
    return c


# --- closing -------------------------------------------------------------------------------------------


def satisfied_reasons(c: Conversation, comment: str = "") -> list[str]:
    """Closure reasons that hold right now for the conversation's current cycle."""
    reasons = []
    if Message.objects.filter(conversation=c, cycle=c.cycle, kind=MessageKind.OUTBOUND).exists():
        reasons.append(CloseReason.ANSWERED.value)
    documented = ConversationEvent.objects.filter(conversation=c, cycle=c.cycle, kind="handled_outside").exists()
    if documented or len(comment.strip()) >= MIN_COMMENT:
        reasons.append(CloseReason.DERIVED_DOCUMENTED.value)
    if c.ticket_ref or Task.objects.filter(conversation=c, cycle=c.cycle).exclude(status=TaskStatus.CANCELLED).exists():
        reasons.append(CloseReason.TASK_CREATED.value)
    if comment.strip():
        reasons.append(CloseReason.CUSTOMER_CONFIRMED.value)
    return reasons


def check_close_conversation(acting_user: User, conversation_id: int, *, reason: str,
                             comment: str = "", outcome: str = "", customer_state: str = "") -> Conversation:
    """Resolves a conversation only for one of the four documented reasons, so closing "to clean the inbox" is
    impossible: `answered` needs an outbound message in this cycle; `derived_documented` a descriptive comment (or
    a documented external handling); `task_created` a linked task or ticket; `customer_confirmed` a comment saying
    what the customer confirmed. A refusal (409) lists the reasons that would be accepted now."""
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        _may_act(acting_user, c)
        possible = satisfied_reasons(c, comment)
        if reason not in CloseReason.values or reason not in possible:
            labels = ", ".join(f"{r} ({CloseReason(r).label})" for r in possible) or _("ninguno todavía: responda al "
                                                                                     "cliente, cree una tarea o "
                                                                                     "documente la atención")
            raise ConflictError("close_needs_reason", _("No se puede cerrar con ese motivo. Motivos posibles ahora: "
                                                        "%s.") % labels, accepted_reasons=possible,
                                all_reasons=CloseReason.values)
        _set_classification(c, outcome=outcome, customer_state=customer_state)
        do_transition_conversation(c, to=S.RESOLVED, acting_user=acting_user, comment=comment.strip(), reason=reason)
        audit.record(actor=acting_user, action="conversation.closed", target=c,
                     changes={"reason": reason, "cycle": c.cycle, "outcome": c.outcome})
    return c


def _set_classification(c: Conversation, *, outcome: str | None, customer_state: str | None) -> None:
    """The result of the conversation and the customer's state, for the performance dashboard."""
    if outcome and outcome not in ConversationOutcome.values:
        raise ActionError("invalid_outcome", _("Resultado inválido. Use: %s.") % ", ".join(ConversationOutcome.values),
                          field="outcome")
    if customer_state and customer_state not in CustomerState.values:
        raise ActionError("invalid_customer_state", _("Estado del cliente inválido. Use: %s.")
                          % ", ".join(CustomerState.values), field="customer_state")
    fields = []
    if outcome and outcome != c.outcome:
        c.outcome = outcome
        fields.append("outcome")
    if customer_state and customer_state != c.customer_state:
        c.customer_state = customer_state
        fields.append("customer_state")
    if fields:
        c.save(update_fields=fields)


def sale_conversation(customer_id: int) -> Conversation | None:
    """The conversation a sale to this customer belongs to (orders.actions.do_record_sales)."""
    open_one = (Conversation.objects.filter(customer_id=customer_id, state__in=[s.value for s in OPEN_STATES])
                .order_by("-last_activity_at", "-id").first())
    if open_one is not None:
        return open_one
    since = timezone.now() - timedelta(days=settings.SALE_CONVERSATION_DAYS)
    return (Conversation.objects.filter(customer_id=customer_id, state=S.RESOLVED, closed_at__gte=since)
            .order_by("-closed_at", "-id").first())


def do_note_sale(c: Conversation) -> None:
    """A sale came out of this conversation: unless an agent classified it already, its result is "generó
    venta" and the customer "convertido"."""
    c.outcome = c.outcome or ConversationOutcome.SALE
    c.customer_state = c.customer_state or CustomerState.CONVERTED
    c.save(update_fields=["outcome", "customer_state"])


def check_classify_conversation(acting_user: User, conversation_id: int, *, outcome: str = "",
                                customer_state: str = "") -> Conversation:
    """Sets the conversation's result and the customer's state (sidebar of the conversation page)."""
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        _may_act(acting_user, c)
        before = (c.outcome, c.customer_state)
        _set_classification(c, outcome=outcome, customer_state=customer_state)
        if before != (c.outcome, c.customer_state):
            _event(c, "classified", actor=acting_user, outcome=c.outcome, customer_state=c.customer_state)
            _emit(c, "classified")
    return c


def check_transition(acting_user: User, conversation_id: int, *, to: str, reason: str = "", comment: str = "",
                     waiting_until: datetime | None = None, outcome: str = "",
                     customer_state: str = "") -> Conversation:
    """The generic state change (API `transition`): closing and escalating go through their own rules."""
    try:
        target = ConversationState(to)
    except ValueError as exc:
        raise ActionError("invalid_state", _("Estado desconocido: %s") % to, field="to") from exc
    if target == S.RESOLVED:
        return check_close_conversation(acting_user, conversation_id, reason=reason, comment=comment,
                                        outcome=outcome, customer_state=customer_state)
    if target == S.ESCALATED:
        return check_escalate(acting_user, conversation_id, comment=comment)
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        _may_act(acting_user, c)
        do_transition_conversation(c, to=target, acting_user=acting_user, comment=comment,
                                   waiting_until=waiting_until)
    return c


def check_escalate(acting_user: User, conversation_id: int, *, comment: str) -> Conversation:
    """Hands the conversation to a supervisor (the least loaded available one) with the required comment."""
    comment = _descriptive(comment)
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        _may_act(acting_user, c)
        load = open_load()
        supervisors = list(User.objects.filter(role=Role.SUPERVISOR, is_active=True))
        supervisor = min(supervisors, key=lambda u: (u.availability != Availability.AVAILABLE,
                                                     load.get(u.pk, 0), u.pk), default=None)
        do_transition_conversation(c, to=S.ESCALATED, acting_user=acting_user, comment=comment, reason="escalated")
        if supervisor is not None:
            _assign(c, supervisor, acting_user=acting_user, comment=comment, kind="escalated")
    return c


# --- tasks and associations -----------------------------------------------------------------------


def check_create_task(acting_user: User, conversation_id: int, *, title: str, responsible: str | None = None,
                      due_at: datetime | None = None) -> Task:
    if not title.strip():
        raise ActionError("missing_fields", _("Escriba la tarea."), field="title")
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        owner = _user_ref(responsible) if responsible else acting_user
        if owner is None:
            raise ActionError("invalid_responsible", _("Responsable desconocido."), field="responsible")
        task = Task.objects.create(conversation=c, cycle=c.cycle, title=title.strip()[:250], responsible=owner,
                                   due_at=due_at, created_by=acting_user)
        _event(c, "task", actor=acting_user, task=task.pk, title=task.title, responsible=owner.username)
    return task


def check_set_task_status(acting_user: User, task_id: int, *, status: str) -> Task:
    if status not in TaskStatus.values:
        raise ActionError("invalid_status", _("Estado de tarea inválido."), field="status")
    with transaction.atomic():
        task = Task.objects.select_for_update().filter(pk=task_id).first()
        if task is None:
            raise NotFoundError("task_not_found", _("La tarea no existe."))
        access_conversation(acting_user, task.conversation_id)
        task.status = status
        task.save(update_fields=["status"])
    return task


def check_set_associations(acting_user: User, conversation_id: int, *, company: str | None = None,
                           ticket_ref: str | None = None, priority: str | None = None,
                           tags: Iterable[str] | None = None) -> Conversation:
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        changes: dict[str, Any] = {}
        if company is not None and company != c.company:
            changes["company"], c.company = [c.company, company], company.strip()[:200]
        if ticket_ref is not None and ticket_ref != c.ticket_ref:
            changes["ticket_ref"], c.ticket_ref = [c.ticket_ref, ticket_ref], ticket_ref.strip()[:100]
        if priority is not None and priority != c.priority:
            if priority not in Priority.values:
                raise ActionError("invalid_priority", _("Prioridad inválida."), field="priority")
            changes["priority"], c.priority = [c.priority, priority], priority
        c.save()
        if tags is not None:
            from customers.models import Tag

            c.tags.set([Tag.objects.get_or_create(name=t.strip()[:60])[0] for t in tags if t.strip()])
        if changes:
            _event(c, "updated", actor=acting_user, **changes)
    return c


# --- duplicates, pool, review -------------------------------------------------------------------------


def duplicates_of(c: Conversation) -> list[Conversation]:
    return list(Conversation.objects.filter(customer=c.customer_id, channel=c.channel,
                                            state__in=[s.value for s in OPEN_STATES]).exclude(pk=c.pk))


def check_merge_conversations(acting_user: User, *, keep_id: int, merge_id: int) -> Conversation:
    """Folds a duplicate open conversation (same customer and channel) into another; its messages, tasks and
    history move over and it is resolved as a duplicate."""
    require_perm(acting_user, Perm.INBOX_WORK)
    if keep_id == merge_id:
        raise ActionError("same_conversation", _("No se puede fusionar una conversación consigo misma."))
    with transaction.atomic():
        pair = {c.pk: c for c in Conversation.objects.select_for_update().filter(pk__in=[keep_id, merge_id])}
        if len(pair) != 2:
            raise NotFoundError("conversation_not_found", _("La conversación no existe."))
        keep, gone = pair[keep_id], pair[merge_id]
        if (keep.customer_id, keep.channel) != (gone.customer_id, gone.channel):
            raise ActionError("not_duplicates", _("Solo se fusionan conversaciones del mismo cliente y canal."))
        Message.objects.filter(conversation=gone).update(conversation=keep, cycle=keep.cycle)
        Task.objects.filter(conversation=gone).update(conversation=keep, cycle=keep.cycle)
        _event(keep, "merged", actor=acting_user, merged=gone.pk)
        # Through the one transition function: the state event, the resolution time and the live update, as any
        # closure (a duplicate already resolved stays as it was).
        do_transition_conversation(gone, to=S.RESOLVED, acting_user=acting_user,
                                   reason=CloseReason.DERIVED_DOCUMENTED,
                                   comment=_("Fusionada en la conversación #%s (duplicada).") % keep.pk)
        keep.last_activity_at = timezone.now()
        keep.save(update_fields=["last_activity_at"])  # its messages changed: saving lets reports recount it
        _event(gone, "merged_into", actor=acting_user, into=keep.pk)
    return keep


def do_return_stale_to_pool(*, now: datetime | None = None) -> int:
    """Assigned conversations whose agent went offline, or that waited too long for the first answer, go back to
    the pool and are reassigned automatically when possible. Safe to repeat."""
    now = now or timezone.now()
    stale = Conversation.objects.filter(state__in=[S.NEW, S.PENDING], assignee__isnull=False,
                                        first_response_at__isnull=True).filter(
        Q(assignee__availability=Availability.OFFLINE)
        | Q(last_activity_at__lt=now - timedelta(minutes=settings.INBOX_FIRST_ANSWER_MINUTES)))
    moved = 0
    for c_id in list(stale.values_list("pk", flat=True)[:200]):
        with transaction.atomic():
            c = Conversation.objects.select_for_update().select_related("inbox").get(pk=c_id)
            if c.first_response_at is not None or c.assignee_id is None:
                continue
            _assign(c, None, acting_user=None, kind="returned_to_pool")
            if c.inbox.auto_assign and not c.inbox.is_global:
                agent = pick_agent(c.inbox, at=now)
                if agent is not None and agent.pk != c.assignee_id:
                    _assign(c, agent, acting_user=None)
            moved += 1
    return moved


def check_review_closure(acting_user: User, conversation_id: int, *, cycle: int, verdict: str,
                         feedback: str = "") -> ClosureReview:
    require_perm(acting_user, Perm.INBOX_SUPERVISE)
    if verdict not in ClosureReview.Verdict.values:
        raise ActionError("invalid_verdict", _("Veredicto inválido."), field="verdict")
    if verdict == ClosureReview.Verdict.WRONG and not feedback.strip():
        raise ActionError("feedback_required", _("Explique al agente por qué el cierre es incorrecto."),
                          field="feedback")
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id)
        review, _created = ClosureReview.objects.update_or_create(
            conversation=c, cycle=cycle, defaults={"reviewer": acting_user, "verdict": verdict,
                                                   "feedback": feedback.strip()})
        _event(c, "reviewed", actor=acting_user, comment=feedback.strip(), verdict=verdict, reviewed_cycle=cycle)
        audit.record(actor=acting_user, action="conversation.closure_reviewed", target=c,
                     changes={"cycle": cycle, "verdict": verdict})
    return review


# --- saved inbox views ---------------------------------------------------------------------------------

SAVED_VIEWS_MAX = 50  # a personal shortcut list, not a report library: bounded so the fragment stays small
SAVED_VIEW_QUERY_MAX = 500


def _clean_view_query(query: str) -> str:
    """Keeps only the inbox list's filter parameters (never the page cursor), in a stable order. Empty values
    stay: `state=` means "all states", while no parameters at all means the list's default (open ones)."""
    from django.http import QueryDict

    from inbox.forms import InboxFilterForm

    raw = QueryDict(query.strip().lstrip("?"))
    clean = QueryDict(mutable=True)
    for key in InboxFilterForm.base_fields:
        if key in raw:
            clean.setlist(key, [v.strip() for v in raw.getlist(key)])
    return clean.urlencode()


def check_save_view(acting_user: User, *, name: str, query: str) -> SavedView:
    """Saves the inbox list's current filters under a name for this user. Saving again under a name the user
    already has (case-insensitive) replaces that view's filters. No audit entry: a personal shortcut changes
    nobody's data or access."""
    require_perm(acting_user, Perm.INBOX_WORK)
    name = _clean_name(name, max_length=80)
    clean = _clean_view_query(query)
    if len(clean) > SAVED_VIEW_QUERY_MAX:
        raise ActionError("query_too_long", _("Los filtros son demasiado largos para guardarlos."), field="query")
    with transaction.atomic():
        existing = _same_name(SavedView.objects.select_for_update().filter(user=acting_user), name)
        if existing is not None:
            existing.name, existing.query = name, clean
            existing.save(update_fields=["name", "query"])
            return existing
        if SavedView.objects.filter(user=acting_user).count() >= SAVED_VIEWS_MAX:
            raise ActionError("too_many_views", _("Puede guardar hasta %d vistas: borre alguna primero.")
                              % SAVED_VIEWS_MAX)
        try:
            with transaction.atomic():
                return SavedView.objects.create(user=acting_user, name=name, query=clean)
        except IntegrityError as exc:  # the same name saved twice at once (double click): the other one won
            raise ConflictError("view_exists", _("Ya tiene una vista con ese nombre."), field="name") from exc


def check_delete_view(acting_user: User, view_id: int) -> None:
    """Deletes one of the user's own saved views; someone else's answers as if it did not exist."""
    require_perm(acting_user, Perm.INBOX_WORK)
    deleted, _rows = SavedView.objects.filter(pk=view_id, user=acting_user).delete()
    if not deleted:
        raise NotFoundError("view_not_found", _("La vista guardada no existe."))


# --- inbox administration ------------------------------------------------------------------------------


def access_inbox(acting_user: User, inbox_id: int, *, lock: bool = False) -> Inbox:
    require_perm(acting_user, Perm.INBOX_MANAGE)
    qs = Inbox.objects.select_for_update() if lock else Inbox.objects.all()
    inbox = qs.filter(pk=inbox_id).first()
    if inbox is None:
        raise NotFoundError("inbox_not_found", _("La bandeja no existe."))
    return inbox


def _same_name[M: (SavedView, Inbox, InboxCategory)](qs: Iterable[M], name: str) -> M | None:
    """The row of `qs` named `name` ignoring case. Compared in Python because SQLite's case-insensitive match
    only folds ASCII ("Garantías" vs "GARANTÍAS"); every caller's set is small (a user's views, the inboxes,
    one inbox's categories)."""
    folded = name.casefold()
    return next((row for row in qs if row.name.casefold() == folded), None)


def _clean_name(name: str, *, max_length: int) -> str:
    name = " ".join(name.split())
    if not name:
        raise ActionError("name_required", _("El nombre es obligatorio."), field="name")
    if len(name) > max_length:
        raise ActionError("name_too_long", _("El nombre es demasiado largo (máximo %d caracteres).") % max_length,
                          field="name")
    return name


@transaction.atomic
def check_save_inbox(acting_user: User, *, inbox_id: int | None = None, name: str, code: str = "",
                     auto_assign: bool, skill_id: int | None = None, team_ids: Iterable[int] = ()) -> Inbox:
    """Creates an inbox (`inbox_id` None) or edits one: name, automatic assignment, required skill and member
    teams. The code is fixed once created (channels and the API route by it), and no inbox becomes or stops
    being Global here: Global is the common entry point and never assigns automatically."""
    from django.db.models import Max
    from django.utils.text import slugify

    from accounts.models import Skill, Team

    require_perm(acting_user, Perm.INBOX_MANAGE)
    inbox = access_inbox(acting_user, inbox_id, lock=True) if inbox_id is not None else None
    name = _clean_name(name, max_length=100)
    if _same_name(Inbox.objects.exclude(pk=inbox.pk) if inbox else Inbox.objects.all(), name) is not None:
        raise ConflictError("inbox_exists", _("Ya existe una bandeja con ese nombre."), field="name")
    skill = None
    if skill_id is not None:
        skill = Skill.objects.filter(pk=skill_id).first()
        if skill is None:
            raise ActionError("invalid_skill", _("La habilidad no existe."), field="skill")
    wanted = sorted(set(team_ids))
    teams = list(Team.objects.filter(pk__in=wanted))
    if len(teams) != len(wanted):
        raise ActionError("invalid_team", _("Algún equipo no existe."), field="teams")
    if inbox is not None and inbox.is_global and auto_assign:
        raise ActionError("global_no_auto_assign", _("La bandeja Global es la entrada común: no asigna "
                                                     "automáticamente."), field="auto_assign")
    if inbox is None:
        code = slugify(code or name)[:50]
        if not code:
            raise ActionError("code_required", _("Indique un código (letras, números y guiones)."), field="code")
        if Inbox.objects.filter(code=code).exists():
            raise ConflictError("inbox_code_exists", _("Ya existe una bandeja con ese código."), field="code")
        sort = (Inbox.objects.aggregate(m=Max("sort"))["m"] or 0) + 1
        try:
            with transaction.atomic():
                inbox = Inbox.objects.create(name=name, code=code, auto_assign=auto_assign, skill=skill, sort=sort)
        except IntegrityError as exc:  # created at the same moment by someone else
            raise ConflictError("inbox_exists", _("Ya existe una bandeja con ese nombre o código."),
                                field="name") from exc
        inbox.teams.set(teams)
        audit.record(actor=acting_user, action="inbox.created", target=inbox, changes={
            "name": name, "code": code, "auto_assign": auto_assign, "skill": skill.code if skill else None,
            "teams": wanted})
        return inbox
    changes: dict[str, list[Any]] = {}
    if name != inbox.name:
        changes["name"], inbox.name = [inbox.name, name], name
    if auto_assign != inbox.auto_assign:
        changes["auto_assign"], inbox.auto_assign = [inbox.auto_assign, auto_assign], auto_assign
    if (skill.pk if skill else None) != inbox.skill_id:
        changes["skill"] = [inbox.skill.code if inbox.skill else None, skill.code if skill else None]
        inbox.skill = skill
    if changes:
        try:
            with transaction.atomic():
                inbox.save()
        except IntegrityError as exc:
            raise ConflictError("inbox_exists", _("Ya existe una bandeja con ese nombre."), field="name") from exc
    current = sorted(inbox.teams.values_list("pk", flat=True))
    if current != wanted:
        inbox.teams.set(teams)
        changes["teams"] = [current, wanted]
    if changes:
        audit.record(actor=acting_user, action="inbox.updated", target=inbox, changes=changes)
    return inbox


@transaction.atomic
def check_save_category(acting_user: User, *, inbox_id: int, name: str,
                        category_id: int | None = None) -> InboxCategory:
    """Adds a category to an inbox (`category_id` None) or renames one of its categories. Names are unique per
    inbox, ignoring case."""
    from django.db.models import Max

    inbox = access_inbox(acting_user, inbox_id, lock=True)  # serializes category edits of one inbox
    name = _clean_name(name, max_length=100)
    category = None
    if category_id is not None:
        category = InboxCategory.objects.filter(pk=category_id, inbox=inbox).first()
        if category is None:
            raise NotFoundError("category_not_found", _("La categoría no existe."))
    siblings = InboxCategory.objects.filter(inbox=inbox)
    if _same_name(siblings.exclude(pk=category.pk) if category else siblings, name) is not None:
        raise ConflictError("category_exists", _("Esta bandeja ya tiene una categoría con ese nombre."),
                            field="name")
    if category is None:
        sort = (inbox.categories.aggregate(m=Max("sort"))["m"] or 0) + 1
        category = InboxCategory.objects.create(inbox=inbox, name=name, sort=sort)
        audit.record(actor=acting_user, action="inbox.category_created", target=inbox,
                     changes={"category": [None, name]})
    elif category.name != name:
        old = category.name
        category.name = name
        category.save(update_fields=["name"])
        audit.record(actor=acting_user, action="inbox.category_renamed", target=inbox,
                     changes={"category": [old, name]})
    return category


@transaction.atomic
def check_delete_category(acting_user: User, *, inbox_id: int, category_id: int) -> None:
    """Deletes a category no conversation uses. (A conversation filed under it in the same instant keeps working:
    the foreign key is SET_NULL, so the worst case is an uncategorized conversation, never a broken one.)"""
    inbox = access_inbox(acting_user, inbox_id, lock=True)
    category = InboxCategory.objects.filter(pk=category_id, inbox=inbox).first()
    if category is None:
        raise NotFoundError("category_not_found", _("La categoría no existe."))
    used = Conversation.objects.filter(category=category).count()
    if used:
        raise ConflictError("category_in_use", _("No se puede borrar «%(name)s»: la usan %(n)d conversaciones.")
                            % {"name": category.name, "n": used}, conversations=used)
    name = category.name
    category.delete()
    audit.record(actor=acting_user, action="inbox.category_deleted", target=inbox, changes={"category": [name, None]})


# --- collision warning ----------------------------------------------------------------------------------

VIEWING_TTL = 45  # seconds; pages announce themselves every 20 s


def on_viewing_message(acting_user: User, message: dict[str, Any]) -> None:
    """A browser says its user has a conversation open ({"type": "viewing", "conversation_id": n}, realtime)."""
    if isinstance(message.get("conversation_id"), int) and not isinstance(message["conversation_id"], bool):
        check_viewing(acting_user, message["conversation_id"])


def check_viewing(acting_user: User, conversation_id: int) -> list[str]:
    """Records that `acting_user` has the conversation open and tells everyone who has it open who else does,
    so two agents never answer the same customer unknowingly. Kept in the cache (shared through Redis at scale)."""
    from django.core.cache import cache

    try:
        access_conversation(acting_user, conversation_id)
    except ActionError:
        return []
    key = f"inbox:viewing:{conversation_id}"
    now = timezone.now().timestamp()
    viewers = {int(k): v for k, v in (cache.get(key) or {}).items() if now - v[1] < VIEWING_TTL}
    viewers[acting_user.pk] = (acting_user.display_name, now)
    cache.set(key, viewers, VIEWING_TTL)
    names = sorted(name for name, _stamp in viewers.values())
    if not is_muted():
        send_event_on_commit({"type": "viewing", "op": "update", "conversation_id": conversation_id,
                              "viewers": names}, user_ids=list(viewers))
    return names
