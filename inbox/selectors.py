"""Read side of the inbox: visibility, filters, keyset pagination, the conversation timeline."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from accounts.models import User
from accounts.roles import Perm
from inbox import search
from inbox.choices import OPEN_STATES
from inbox.models import Conversation, ConversationEvent, Inbox, Message


def visible(user: User) -> QuerySet[Conversation]:
    """Supervisors see everything; agents see theirs, Global, and unowned ones in their teams' inboxes.
    Sub-selects, not joins: no DISTINCT, so the list keeps walking its (…, last_activity_at, id) index."""
    qs = Conversation.objects.all()
    if user.has_perm_code(Perm.INBOX_SUPERVISE):
        return qs
    team_inboxes = Inbox.teams.through.objects.filter(team__in=user.teams.values("pk")).values("inbox_id")
    return qs.filter(Q(assignee=user) | Q(inbox__in=Inbox.objects.filter(is_global=True).values("pk"))
                     | Q(assignee__isnull=True, inbox__in=team_inboxes))


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
    condition = search.conversation_filter(f.q)  # the database's full-text and trigram indexes (inbox/search.py)
    if condition is not None:
        qs = qs.filter(condition)
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
        # `<= stamp` is the index range bound (the OR alone would make the database walk every newer row first)
        qs = qs.filter(Q(last_activity_at__lte=stamp), Q(last_activity_at__lt=stamp) | Q(pk__lt=pk))
    rows = list(qs.select_related("customer", "inbox", "assignee", "category")
                .order_by("-last_activity_at", "-id")[:size + 1])
    nxt = encode_cursor(rows[size - 1]) if len(rows) > size else None
    return rows[:size], nxt


def message_item(m: Message) -> dict[str, object]:
    """One message as a timeline item (the page's template and the realtime event share this shape)."""
    author = m.author if m.author_id else None
    return {"type": "message", "kind": m.kind, "id": m.pk, "at": m.created_at,
            "author": author.username if author else None, "author_name": author.display_name if author else None,
            "body": m.body, "cycle": m.cycle, "delivery_status": m.delivery_status,
            "delivery_error": m.delivery_error, "attachments": m.attachments, "meta": m.meta}


def event_item(e: ConversationEvent) -> dict[str, object]:
    actor = e.actor if e.actor_id else None
    return {"type": "event", "kind": e.kind, "id": e.pk, "at": e.created_at,
            "author": actor.username if actor else None, "data": e.data, "comment": e.comment, "cycle": e.cycle}


def timeline(c: Conversation, *, limit: int = 100, before: datetime | None = None) -> list[dict[str, object]]:
    """The newest `limit` messages and events (older than `before`, when given) merged by time: two queries and
    the same work whatever the conversation's length."""
    message_qs = Message.objects.filter(conversation=c)
    event_qs = ConversationEvent.objects.filter(conversation=c)
    if before is not None:
        message_qs, event_qs = message_qs.filter(created_at__lt=before), event_qs.filter(created_at__lt=before)
    messages = list(message_qs.select_related("author").order_by("-created_at", "-id")[:limit])
    events = list(event_qs.select_related("actor").order_by("-created_at", "-id")[:limit])
    items = [message_item(m) for m in messages] + [event_item(e) for e in events]
    items.sort(key=lambda i: (i["at"], i["type"] == "message", i["id"]))
    return items[-limit:]
