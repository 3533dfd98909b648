"""The inbox's shared core: who sees what (audience, payloads, realtime), access checks and the one
transition function of conversations."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError, InvalidTransition, NotFoundError, PermissionDeniedError
from core.events import emit
from inbox.attachments import is_preview_image
from inbox.choices import (
    CONVERSATION_TRANSITIONS,
    ConversationState,
)
from inbox.describe import event_texts
from inbox.events import (
    ConversationClosed,
    ConversationStateChanged,
    ConversationUpdated,
)
from inbox.models import Conversation, ConversationEvent, Inbox, InboxCategory, Message, SavedView
from inbox.selectors import event_item, message_item, visible
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


    item = message_item(m)
    body = m.body or ""
    meta = m.meta if len(json.dumps(m.meta or {}, default=str)) <= 2000 else {}
    item.update(at=m.created_at.isoformat(), body=body[:PAYLOAD_BODY_MAX], truncated=len(body) > PAYLOAD_BODY_MAX,
                meta=meta, attachments=[
                    {"name": a.get("name") or "", "content_type": a.get("content_type") or "",
                     "url": reverse("inbox:attachment", args=[m.pk, i]) if a.get("path") else "",
                     "preview": bool(a.get("path")) and is_preview_image(a.get("content_type"))}
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

    # The sentence in every language: one payload goes to agents who read Spanish and English.
    return {**event_item(e), "at": e.created_at.isoformat(), "texts": event_texts(e)}


def _updated(c: Conversation, *changes: str, acting_user: User | None) -> None:
    """conversation.updated (inbox.events.ConversationUpdated): what changed besides state and assignee."""
    emit(ConversationUpdated(conversation_id=c.pk, customer_id=c.customer_id, inbox=c.inbox.code,
                             changes=list(changes)), actor=acting_user)


def _event(c: Conversation, kind: str, *, actor: User | None, comment: str = "", **data: Any) -> ConversationEvent:
    return ConversationEvent.objects.create(conversation=c, cycle=c.cycle, kind=kind, actor=actor, comment=comment,
                                            data=data)


def do_set_sla_due(c: Conversation, *, due: datetime | None, warn: datetime | None) -> None:
    """Automation's service-level clocks moved the conversation's nearest deadline (the caller holds its row lock):
    the list's badge and "SLA due" order read these two columns, and open lists update the badge live (op "sla")."""
    if (c.sla_due_at, c.sla_warn_at) == (due, warn):
        return
    c.sla_due_at, c.sla_warn_at = due, warn
    Conversation.objects.filter(pk=c.pk).update(sla_due_at=due, sla_warn_at=warn)
    _emit(c, "sla", sla={"due": due.isoformat() if due else None, "warn": warn.isoformat() if warn else None})


def do_record_event(c: Conversation, kind: str, *, actor: User | None, comment: str = "", **data: Any
                    ) -> ConversationEvent:
    """A line another app writes in the conversation's history (automation: a message scheduled, cancelled, not
    sent), shown live to whoever has it open; its sentence is registered with inbox.describe.register_kind."""
    ev = _event(c, kind, actor=actor, comment=comment, **data)
    _emit(c, "event", item=event_payload(ev))
    return ev


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
    return visible(user).filter(pk=conversation_id).exists()


def check_may_act(acting_user: User, c: Conversation) -> None:
    """The responsible agent acts on their conversation; supervisors on any; others may not take it over (also
    the rule for selling in it: orders.actions)."""
    if acting_user.has_perm_code(Perm.INBOX_SUPERVISE):
        return
    if c.assignee_id not in (None, acting_user.pk):
        raise PermissionDeniedError("not_assignee", _("Esta conversación es de %s.") %
                                    (c.assignee.display_name if c.assignee else "?"))


_may_act = check_may_act


def _descriptive(comment: str) -> str:
    comment = (comment or "").strip()
    if len(comment) < MIN_COMMENT:
        raise ActionError("comment_required", _(
            "Escriba un comentario descriptivo (contexto, acciones realizadas, próximos pasos, datos faltantes, "
            "canal externo): al menos %d caracteres.") % MIN_COMMENT, field="comment")
    return comment


# --- the state machine ------------------------------------------------------------------------------


def do_transition_conversation(c: Conversation, *, to: ConversationState, acting_user: User | None,
                               comment: str = "", reason: str = "", waiting_until: datetime | None = None,
                               at: datetime | None = None) -> bool:
    """The one transition function (the caller holds the row lock). Returns False when nothing changes. `at`: when
    it happened, if earlier than now (a call ended by the sweep ends at its last activity)."""
    current = ConversationState(c.state)
    if current == to:
        return False
    if to not in CONVERSATION_TRANSITIONS[current]:
        raise InvalidTransition("invalid_transition", _("Una conversación %(a)s no puede pasar a %(b)s.")
                                % {"a": current.label, "b": to.label},
                                allowed=sorted(s.value for s in CONVERSATION_TRANSITIONS[current]))
    now = at or timezone.now()
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
    # (at the transition's own moment: a call ended by the sweep is shown ending at its last activity)
    ev = ConversationEvent.objects.create(conversation=c, cycle=c.cycle, kind="state", actor=acting_user,
                                          comment=comment, created_at=now,
                                          data={"from": current.value, "to": to.value, "reason": reason})
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


# --- shared helpers ------------------------------------------------------------------------------------


def message_max_length(channel: str) -> int:
    """The longest message accepted on a channel (settings; docs/api.md "Limits")."""
    return int(settings.MESSAGE_MAX_LENGTH_BY_CHANNEL.get(channel, settings.MESSAGE_MAX_LENGTH))


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
