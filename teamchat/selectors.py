"""Reads of the team chat: the reader's channels with unread counts (one query), a channel's history by keyset, a
thread, people to write to. Every read goes through teamchat.actions' access rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.safestring import SafeString, mark_safe

from accounts.models import User
from accounts.roles import Perm
from teamchat.actions import OPEN_KINDS
from teamchat.choices import ChannelKind, ChannelState
from teamchat.models import Channel, Membership, Message, Reaction
from teamchat.render import render_chat

PAGE_SIZE: Final = 50
PAGE_MAX: Final = 100


def unread_counts(user: User) -> dict[int, int]:
    """{channel id: unread top-level messages of others} for every active channel the user is a member of, in one
    query (an index range scan per channel: chat_message_top)."""
    unread = (Message.objects.filter(channel_id=OuterRef("channel_id"), parent__isnull=True,
                                     id__gt=OuterRef("last_read_id"), deleted_at__isnull=True)
              .exclude(author_id=user.pk).order_by().values("channel_id").annotate(n=Count("id")).values("n"))
    rows = (Membership.objects.filter(user=user, channel__state=ChannelState.ACTIVE)
            .annotate(unread=Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)))
            .values_list("channel_id", "unread"))
    return dict(rows)


def total_unread(user: User) -> int:
    """The menu's badge: unread messages across the user's channels."""
    if not user.is_authenticated or not user.has_perm_code(Perm.CHAT_USE):
        return 0
    return sum(unread_counts(user).values())


@dataclass(frozen=True)
class SidebarEntry:
    channel: Channel
    title: str  # a direct message is named by its other members
    unread: int
    others: list[User]  # direct messages: the other people (their availability dots)
    is_member: bool


def display_title(channel: Channel, others: list[User]) -> str:
    if not channel.is_direct:
        return channel.name
    if not others:
        return ""
    return ", ".join(u.display_name for u in others)


def sidebar(user: User, *, include_archived: bool = False) -> list[SidebarEntry]:
    """The reader's channels (named ones by name, then direct messages by their latest message) with unread counts."""
    counts = unread_counts(user)
    states = [ChannelState.ACTIVE, ChannelState.ARCHIVED] if include_archived else [ChannelState.ACTIVE]
    # Only direct messages need their people (a team channel's hundreds of members are not read here).
    others_qs = (Membership.objects.filter(channel__kind__in=[ChannelKind.DIRECT, ChannelKind.GROUP])
                 .exclude(user=user).select_related("user").order_by("user__full_name", "user__username"))
    channels = list(Channel.objects.filter(memberships__user=user, state__in=states)
                    .prefetch_related(Prefetch("memberships", queryset=others_qs, to_attr="other_memberships")))
    entries = []
    for ch in channels:
        others = [m.user for m in ch.other_memberships] if ch.is_direct else []
        entries.append(SidebarEntry(ch, display_title(ch, others) or user.display_name, counts.get(ch.pk, 0),
                                    others, True))
    named = sorted((e for e in entries if not e.channel.is_direct), key=lambda e: e.title.lower())
    direct = sorted((e for e in entries if e.channel.is_direct),
                    key=lambda e: (e.channel.last_message_at or e.channel.created_at), reverse=True)
    return named + direct


def browsable_channels(user: User) -> QuerySet[Channel]:
    """Channels the user may read without being a member (team and public), to find and join."""
    return (Channel.objects.filter(kind__in=OPEN_KINDS, state=ChannelState.ACTIVE)
            .exclude(memberships__user=user).annotate(members=Count("memberships")).order_by("name"))


def _with_details(qs: QuerySet[Message]) -> QuerySet[Message]:
    return qs.select_related("author").prefetch_related(
        Prefetch("reactions", queryset=Reaction.objects.select_related("user").order_by("id")))


def with_details(message: Message) -> Message:
    """The message again with its author and reactions (their people) loaded, to render its row in 3 queries."""
    return _with_details(Message.objects.filter(pk=message.pk)).get()


def unread_window(channel: Channel, first_unread: int, *, limit: int = PAGE_MAX) -> tuple[list[Message], bool]:
    """The page a channel opens at when its first unread message is older than the latest page: from that message
    on, `limit` messages; and whether later ones exist (the page fetches them as the reader scrolls)."""
    page = list(_with_details(Message.objects.filter(channel=channel, parent__isnull=True, id__gte=first_unread)
                              .order_by("id"))[:limit + 1])
    return page[:limit], len(page) > limit


def history(channel: Channel, *, before: int | None = None, after: int | None = None,
            limit: int = PAGE_SIZE) -> list[Message]:
    """A page of the channel's top-level messages in time order: the latest `limit`, those before id `before`
    (scrolling up), or those after id `after` (new ones). Keyset on the id (chat_message_top)."""
    limit = max(1, min(int(limit), PAGE_MAX))
    qs = Message.objects.filter(channel=channel, parent__isnull=True)
    if after is not None:
        return list(_with_details(qs.filter(id__gt=after).order_by("id"))[:limit])
    if before is not None:
        qs = qs.filter(id__lt=before)
    page = list(_with_details(qs.order_by("-id"))[:limit])
    page.reverse()
    return page


def thread(root: Message, *, after: int | None = None) -> list[Message]:
    qs = Message.objects.filter(parent=root)
    if after is not None:
        qs = qs.filter(id__gt=after)
    return list(_with_details(qs.order_by("id"))[:500])


def first_unread_id(channel: Channel, membership: Membership | None, *, reader: User) -> int | None:
    if membership is None:
        return None
    return (Message.objects.filter(channel=channel, parent__isnull=True, id__gt=membership.last_read_id)
            .exclude(author=reader).order_by("id").values_list("id", flat=True).first())


def members(channel: Channel) -> list[Membership]:
    return list(Membership.objects.filter(channel=channel, user__is_active=True).select_related("user")
                .order_by("user__full_name", "user__username"))


def chat_people(*, exclude: User | None = None, q: str = "") -> list[User]:
    """Active people who use the chat, to start a direct message with or add to a channel."""
    qs = User.objects.filter(is_active=True).order_by("full_name", "username")
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    if q:
        qs = qs.filter(Q(full_name__icontains=q) | Q(username__icontains=q))
    return [u for u in qs[:500] if u.has_perm_code(Perm.CHAT_USE)]


def bodies_html(channel: Channel, messages: list[Message]) -> dict[int, SafeString]:
    """Each live message's body as safe HTML: as stored when it was written; a row stored without it (written by a
    bulk load) is rendered here, with the channel's members' mentions marked (one more query, only then)."""
    out: dict[int, SafeString] = {}
    names: set[str] | None = None
    for m in messages:
        if m.deleted_at is not None:
            continue
        if m.html or not m.body:
            out[m.pk] = mark_safe(m.html)  # noqa: S308 - rendered and sanitized by render_chat when written
            continue
        if names is None:
            names = set(Membership.objects.filter(channel=channel).values_list("user__username", flat=True))
        out[m.pk] = render_chat(m.body, mention_names=names)
    return out


def grouped_reactions(message: Message, reader: User) -> list[dict[str, object]]:
    """[{emoji, count, mine, names}] in the order each emoji was first used."""
    groups: dict[str, dict[str, object]] = {}
    for r in message.reactions.all():
        g = groups.setdefault(r.emoji, {"emoji": r.emoji, "count": 0, "mine": False, "names": []})
        g["count"] = int(g["count"]) + 1  # type: ignore[call-overload]
        g["mine"] = bool(g["mine"]) or r.user_id == reader.pk
        g["names"].append(r.user.display_name)  # type: ignore[attr-defined]
    return list(groups.values())


def is_direct_kind(kind: str) -> bool:
    return kind in (ChannelKind.DIRECT, ChannelKind.GROUP)
