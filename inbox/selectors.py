"""Read side of the inbox: visibility, filters, keyset pagination, the conversation timeline."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from accounts.models import User
from accounts.roles import Perm
from core.text import fold
from customers.models import CustomerEmail, CustomerPhone
from customers.phones import looks_like_phone, normalize_email, normalize_phone
from inbox.choices import OPEN_STATES
from inbox.models import Conversation, ConversationEvent, Message


def visible(user: User) -> QuerySet[Conversation]:
    """Supervisors see everything; agents see theirs, Global, and unowned ones in their teams' inboxes."""
    qs = Conversation.objects.all()
    if user.has_perm_code(Perm.INBOX_SUPERVISE):
        return qs
    return qs.filter(Q(assignee=user) | Q(inbox__is_global=True)
                     | Q(assignee__isnull=True, inbox__teams__in=user.teams.all())).distinct()


@dataclass(frozen=True)
class InboxFilters:
    inbox: str = ""
    state: str = ""
    agent: str = ""
    channel: str = ""
    priority: str = ""
    tag: str = ""
    category: str = ""
    unowned: bool = False
    unanswered: bool = False
    q: str = ""


def filtered(user: User, f: InboxFilters) -> QuerySet[Conversation]:
    qs = visible(user)
    if f.inbox:
        qs = qs.filter(inbox__code=f.inbox)
    if f.state == "open":
        qs = qs.filter(state__in=[s.value for s in OPEN_STATES])
    elif f.state:
        qs = qs.filter(state=f.state)
    if f.agent == "me":
        qs = qs.filter(assignee=user)
    elif f.agent:
        qs = qs.filter(assignee__username=f.agent)
    if f.channel:
        qs = qs.filter(channel=f.channel)
    if f.priority:
        qs = qs.filter(priority=f.priority)
    if f.tag:
        qs = qs.filter(tags__name=f.tag)
    if f.category:
        qs = qs.filter(category__name=f.category)
    if f.unowned:
        qs = qs.filter(assignee__isnull=True, state__in=[s.value for s in OPEN_STATES])
    if f.unanswered:
        qs = qs.filter(awaiting_reply=True, state__in=[s.value for s in OPEN_STATES])
    q = f.q.strip()
    if q:
        if "@" in q and normalize_email(q):
            qs = qs.filter(customer__in=CustomerEmail.objects.filter(email=normalize_email(q)).values("customer"))
        elif looks_like_phone(q) and normalize_phone(q):
            qs = qs.filter(customer__in=CustomerPhone.objects.filter(e164=normalize_phone(q)).values("customer"))
        else:
            folded = fold(q)
            qs = qs.filter(Q(customer__search_name__contains=folded) | Q(tags__name__iexact=q)
                           | Q(pk__in=Message.objects.filter(body__icontains=q).values("conversation"))).distinct()
    return qs


def encode_cursor(c: Conversation) -> str:
    return base64.urlsafe_b64encode(f"{c.last_activity_at.isoformat()}|{c.pk}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, int] | None:
    try:
        stamp, pk = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(stamp), int(pk)
    except (ValueError, UnicodeDecodeError):
        return None


def page(qs: QuerySet[Conversation], *, after: str = "", size: int = 50) -> tuple[list[Conversation], str | None]:
    """Keyset pagination over (last_activity_at, id) descending: page 200 costs what page 1 costs."""
    key = decode_cursor(after) if after else None
    if key is not None:
        stamp, pk = key
        qs = qs.filter(Q(last_activity_at__lt=stamp) | Q(last_activity_at=stamp, pk__lt=pk))
    rows = list(qs.select_related("customer", "inbox", "assignee", "category")
                .order_by("-last_activity_at", "-id")[:size + 1])
    nxt = encode_cursor(rows[size - 1]) if len(rows) > size else None
    return rows[:size], nxt


def timeline(c: Conversation, *, limit: int = 100) -> list[dict[str, object]]:
    """The newest `limit` messages and events merged by time (constant queries whatever the length)."""
    messages = list(Message.objects.filter(conversation=c).select_related("author").order_by("-created_at", "-id")
                    [:limit])
    events = list(ConversationEvent.objects.filter(conversation=c).select_related("actor")
                  .order_by("-created_at", "-id")[:limit])
    items: list[dict[str, object]] = [
        {"type": "message", "kind": m.kind, "id": m.pk, "at": m.created_at, "author": m.author.username
         if m.author else None, "body": m.body, "cycle": m.cycle, "delivery_status": m.delivery_status,
         "delivery_error": m.delivery_error, "attachments": m.attachments, "meta": m.meta}
        for m in messages]
    items += [{"type": "event", "kind": e.kind, "id": e.pk, "at": e.created_at,
               "author": e.actor.username if e.actor else None, "data": e.data, "comment": e.comment,
               "cycle": e.cycle} for e in events]
    items.sort(key=lambda i: (i["at"], i["type"] == "message", i["id"]))
    return items[-limit:]
