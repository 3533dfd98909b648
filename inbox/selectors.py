"""Read side of the inbox: visibility, filters, keyset pagination, the conversation timeline."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When

from accounts.models import User
from accounts.roles import Perm
from core import keyset
from core.keyset import SortKey
from inbox import search
from inbox.choices import OPEN_STATES, PRIORITY_RANK, ConversationState, MessageKind
from inbox.message_choices import bot_name, offered_choices
from inbox.models import Conversation, ConversationEvent, Inbox, Message, MessageRevision


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
    legacy = decode_cursor(after) if after else None
    key = keyset.fitted(list(legacy), SORTS["activity"], Conversation) if legacy is not None else None
    if key is not None:
        stamp, pk = key
        # `<= stamp` is the index range bound (the OR alone would make the database walk every newer row first)
        qs = qs.filter(Q(last_activity_at__lte=stamp), Q(last_activity_at__lt=stamp) | Q(pk__lt=pk))
    rows = list(qs.select_related("customer", "inbox", "assignee", "category")
                .order_by("-last_activity_at", "-id")[:size + 1])
    nxt = encode_cursor(rows[size - 1]) if len(rows) > size else None
    return rows[:size], nxt


# --- the workspace list: orders with keyset cursors -------------------------------------------------------

PRIORITY_KEY = Case(*(When(priority=p.value, then=Value(rank)) for p, rank in PRIORITY_RANK.items()),
                    default=Value(1), output_field=IntegerField())


SORTS: dict[str, tuple[SortKey, ...]] = {
    # the customer who has waited longest for an answer first; conversations nobody waits on come last
    "waiting": (SortKey("waiting_since", nulls_last=True), SortKey("id")),
    "priority": (SortKey("prio", descending=True), SortKey("waiting_since", nulls_last=True), SortKey("id")),
    "activity": (SortKey("last_activity_at", descending=True), SortKey("id", descending=True)),
    # the nearest service-level deadline first (breached ones before them); conversations without one come last
    "sla": (SortKey("sla_due_at", nulls_last=True), SortKey("id")),
}


def default_sort(f: InboxFilters) -> str:
    """Open work is a queue: the customer who has waited longest comes first (conversations nobody waits on after
    them). A text search, resolved or all conversations read better by latest activity."""
    open_view = f.state == "open" or f.state in {s.value for s in OPEN_STATES}
    return "waiting" if (open_view or f.unowned or f.unanswered) and not f.q else "activity"


def _decode_sorted_cursor(after: str, keys: tuple[SortKey, ...]) -> list[object] | None:
    values = keyset.decode(after, keys, Conversation)
    if values is not None:
        return values
    legacy = decode_cursor(after) if keys == SORTS["activity"] else None  # `page()`'s cursors (API, old links)
    return keyset.fitted(list(legacy), keys, Conversation) if legacy is not None else None


def sorted_page(qs: QuerySet[Conversation], *, sort: str, after: str = "",
                size: int = 50) -> tuple[list[Conversation], str | None]:
    """Keyset pages in any of SORTS: page 200 costs what page 1 costs, in every order."""
    keys = SORTS.get(sort) or SORTS["activity"]
    if any(k.field == "prio" for k in keys):
        qs = qs.annotate(prio=PRIORITY_KEY)
    # a mangled cursor shows the first page rather than an error
    values = _decode_sorted_cursor(after, keys) if after else None
    return keyset.page(qs.select_related("customer", "inbox", "assignee", "category"), keys, after_values=values,
                       size=size)


COUNTS_CACHE_SECONDS = 5  # every agent's page re-reads its counts after live changes: one read per user per 5 s


def counts(user: User) -> dict[str, object]:
    """Open conversations per inbox (and how many have no owner), per state and the user's own, as the user sees
    them: the workspace's folder list. One grouped query, answered from the partial index `conv_open_counts_idx`
    (14 ms at 150,000 open conversations), cached per user for COUNTS_CACHE_SECONDS so a burst of live events
    costs one read."""
    key = f"inbox:counts:{user.pk}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    rows = (visible(user).filter(state__in=[s.value for s in OPEN_STATES]).order_by()
            .values_list("inbox_id", "state")
            # COUNT(state), not COUNT(id): the id is not in the index, and reading it would visit every row
            .annotate(n=Count("state"), unowned=Count("state", filter=Q(assignee__isnull=True)),
                      mine=Count("state", filter=Q(assignee=user)))
            .values_list("inbox_id", "state", "n", "unowned", "mine"))
    per_inbox: dict[int, dict[str, int]] = {}
    per_state: dict[str, int] = {}
    mine = 0
    for inbox_id, state, n, unowned, own in rows:
        slot = per_inbox.setdefault(inbox_id, {"open": 0, "unowned": 0})
        slot["open"] += n
        slot["unowned"] += unowned
        per_state[state] = per_state.get(state, 0) + n
        mine += own
    inboxes = [{"code": i.code, "name": i.name, "open": per_inbox.get(i.pk, {}).get("open", 0),
                "unowned": per_inbox.get(i.pk, {}).get("unowned", 0)} for i in Inbox.objects.all()
               if user.has_perm_code(Perm.INBOX_SUPERVISE) or i.pk in per_inbox or i.is_global]
    state_rows = [(st.value, {"label": str(st.label), "n": per_state.get(st.value, 0)})
                  for st in ConversationState if st in OPEN_STATES]
    result: dict[str, object] = {
        "inboxes": inboxes, "states": per_state, "state_rows": state_rows, "mine": mine,
        "unowned_total": sum(i["unowned"] for i in per_inbox.values()), "open": sum(per_state.values())}
    cache.set(key, result, COUNTS_CACHE_SECONDS)
    return result


def _automation_name(m: Message) -> str | None:
    source = (m.meta or {}).get("automation") if isinstance(m.meta, dict) else None
    return str(source.get("name") or "")[:100] or None if isinstance(source, dict) else None


def message_item(m: Message, versions: list[dict[str, object]] | None = None) -> dict[str, object]:
    """One message as a timeline item (the page's template and the realtime event share this shape). `versions`:
    the earlier texts of an edited or deleted message (versions_of), read when not given."""

    author = m.author if m.author_id else None
    if versions is None:
        versions = versions_of([m]).get(m.pk, [])
    return {"type": "message", "kind": m.kind, "id": m.pk, "at": m.created_at,
            "author": author.username if author else None, "author_name": author.display_name if author else None,
            # written by the system: the automation rule's name (the page says «Automatización · name»), or the
            # bot flow's (inbox.message_choices: «Bot · name») with the options its question offered
            "automation": _automation_name(m) if author is None else None,
            "bot": bot_name(m.meta) if author is None else None,
            "choices": [{"id": c["id"], "title": c["title"]} for c in offered_choices(m.meta)]
            if m.kind == MessageKind.OUTBOUND else [],
            "body": m.body, "cycle": m.cycle, "delivery_status": m.delivery_status,
            "delivery_error": m.delivery_error, "attachments": m.attachments, "meta": m.meta,
            "edited_at": m.edited_at, "deleted_at": m.deleted_at, "versions": versions}


def event_item(e: ConversationEvent) -> dict[str, object]:
    actor = e.actor if e.actor_id else None
    return {"type": "event", "kind": e.kind, "id": e.pk, "at": e.created_at,
            "author": actor.username if actor else None, "data": e.data, "comment": e.comment, "cycle": e.cycle}


def timeline(c: Conversation, *, limit: int = 100, before: datetime | None = None,
             since: datetime | None = None, messages: list[Message] | None = None) -> list[dict[str, object]]:
    """The newest `limit` messages and events (older than `before`, or from `since` on, when given) merged by
    time: two queries and the same work whatever the conversation's length. `messages`: every message of the
    conversation when the caller holds them all (the one that started a conversation it just created): one query."""
    message_qs = Message.objects.filter(conversation=c)
    event_qs = ConversationEvent.objects.filter(conversation=c)
    if before is not None:
        message_qs, event_qs = message_qs.filter(created_at__lt=before), event_qs.filter(created_at__lt=before)
    if since is not None:
        message_qs, event_qs = message_qs.filter(created_at__gte=since), event_qs.filter(created_at__gte=since)
    if messages is None:
        messages = list(message_qs.select_related("author").order_by("-created_at", "-id")[:limit])
    else:
        messages = sorted((m for m in messages if (before is None or m.created_at < before)
                           and (since is None or m.created_at >= since)),
                          key=lambda m: (m.created_at, m.pk), reverse=True)[:limit]
    events = list(event_qs.select_related("actor").order_by("-created_at", "-id")[:limit])

    versions = versions_of(messages)  # one more query only when an edited or deleted message is on the page
    items = [message_item(m, versions.get(m.pk, [])) for m in messages] + [event_item(e) for e in events]
    items.sort(key=lambda i: (i["at"], i["type"] == "message", i["id"]))
    return items[-limit:]


R = MessageRevision.Kind


def versions_of(messages: list[Message]) -> dict[int, list[dict[str, Any]]]:
    """The earlier texts of each edited or deleted message, oldest first ({"body", "at"}), in one query (none when
    nothing in the list was changed): what the timeline's "(editado)" and supervisors' deleted text show."""
    changed = [m.pk for m in messages if m.edited_at or m.deleted_at]
    found: dict[int, list[dict[str, Any]]] = {pk: [] for pk in changed}
    if not changed:
        return found
    rows = sorted(MessageRevision.objects.filter(message_id__in=changed, kind__in=[R.ORIGINAL, R.EDIT])
                  .values_list("message_id", "body", "at", "kind", "id"),
                  key=lambda row: (row[2], row[3] != R.ORIGINAL, row[4]))  # as inbox.revision_actions applies them
    for message_id, body, at, _kind, _pk in rows:
        found[message_id].append({"body": body, "at": at})
    deleted = {m.pk for m in messages if m.deleted_at}
    for pk, versions in found.items():  # the newest text is the body itself, not history (unless deleted)
        if versions and pk not in deleted:
            versions.pop()
    return found
