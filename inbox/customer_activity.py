"""What the inbox tells customers: activity columns (first and last contact, last inbound message, channels,
conversations), the profile's conversations section and the timeline's conversation entries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.roles import Perm
from core.events import DomainEvent
from customers.activity import refresh_on_commit
from customers.models import Customer
from customers.timeline import Entry
from inbox.choices import OPEN_STATES, Channel, TaskStatus
from inbox.models import HISTORY_INBOX, Conversation, Task
from inbox.selectors import visible


def activity(customer_ids: Sequence[int], now: datetime) -> Mapping[int, Mapping[str, Any]]:
    def used(channel: str) -> Count:
        return Count("id", filter=Q(channel=channel))

    imported = ~Q(import_ref="")
    rows = (Conversation.objects.filter(customer_id__in=customer_ids).order_by().values("customer_id")
            .annotate(first=Min("created_at"), inbound=Max("last_customer_message_at"),
                      outbound=Max("last_agent_message_at"), n=Count("id"),
                      # imported history carries no message times: its conversations date a contact by their close,
                      # or their start; and none of them is open work (Conversation.objects.live())
                      past=Max(Coalesce("closed_at", "created_at"), filter=imported),
                      open=Count("id", filter=Q(state__in=OPEN_STATES) & ~imported & ~Q(inbox__code=HISTORY_INBOX)),
                      wa=used(Channel.WHATSAPP), mail=used(Channel.EMAIL), web=used(Channel.WEBCHAT),
                      phone=used(Channel.PHONE), sms=used(Channel.SMS)))
    return {row["customer_id"]: {
        "first_contact_at": row["first"],
        "last_contact_at": max((t for t in (row["inbound"], row["outbound"], row["past"]) if t is not None),
                               default=None),
        "last_inbound_at": row["inbound"], "conversations_count": row["n"], "open_conversations": row["open"],
        "on_whatsapp": row["wa"] > 0, "on_email": row["mail"] > 0, "on_webchat": row["web"] > 0,
        "on_phone": row["phone"] > 0, "on_sms": row["sms"] > 0,
    } for row in rows}


def on_customer_event(event: DomainEvent) -> None:
    """A conversation opened, a message came or went, a conversation changed state: its customer's activity moves."""
    refresh_on_commit(getattr(event, "customer_id", None))


# --- the customer profile: its conversations section and timeline entries ----------------------------------------

PROFILE_CONVERSATIONS = 100


def _visible(user: User | None) -> QuerySet[Conversation]:
    return Conversation.objects.all() if user is None else visible(user)


def profile_section(user: User, customer: Customer) -> dict[str, Any] | None:
    """Every conversation of the customer the user may open, in every channel, newest activity first, with the open
    tasks of those conversations (a constant number of queries)."""
    if not (user.has_perm_code(Perm.INBOX_WORK) or user.has_perm_code(Perm.INBOX_SUPERVISE)):
        return None
    mine = _visible(user).filter(customer=customer)
    conversations = list(mine.select_related("inbox", "assignee").order_by("-last_activity_at", "-id")
                         [:PROFILE_CONVERSATIONS])
    hidden = customer.conversations_count - len(conversations) if len(conversations) < PROFILE_CONVERSATIONS else 0
    tasks = list(Task.objects.filter(conversation__in=mine, status=TaskStatus.OPEN)
                 .select_related("responsible", "conversation").order_by("due_at", "id")[:50])
    return {"customer": customer, "conversations": conversations, "hidden": max(hidden, 0), "tasks": tasks,
            "now": timezone.now()}


def timeline_entries(user: User | None, customer: Customer, before: datetime | None, limit: int) -> list[Entry]:
    """A conversation opened, and closed with its reason (each as one entry), for those who work the inbox."""
    if user is not None and not (user.has_perm_code(Perm.INBOX_WORK) or user.has_perm_code(Perm.INBOX_SUPERVISE)):
        return []
    mine = _visible(user).filter(customer=customer).select_related("inbox")
    opened = mine.filter(created_at__lt=before) if before else mine
    closed = mine.filter(closed_at__isnull=False)
    closed = closed.filter(closed_at__lt=before) if before else closed
    entries = [_entry(c, closing=False) for c in opened.order_by("-created_at", "-id")[:limit]]
    entries += [_entry(c, closing=True) for c in closed.order_by("-closed_at", "-id")[:limit]]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


def _entry(c: Conversation, *, closing: bool) -> Entry:
    channel, ref = c.get_channel_display(), {"conversation_id": c.pk, "uuid": str(c.uuid)}
    url = reverse("inbox:detail", args=[c.pk])
    if not closing:
        text = _("Conversación por %(channel)s en la bandeja «%(inbox)s»") % {"channel": channel, "inbox": c.inbox.name}
        if c.subject:
            text = _("%(opened)s: %(subject)s") % {"opened": text, "subject": c.subject}
        return Entry(at=c.created_at, kind="conversation.opened", channel=c.channel, text=text, url=url, ref=ref)
    text = (_("Conversación por %(channel)s cerrada: %(reason)s") % {"channel": channel,
                                                                    "reason": c.get_close_reason_display()}
            if c.close_reason else _("Conversación por %(channel)s cerrada") % {"channel": channel})
    return Entry(at=c.closed_at or c.last_activity_at, kind="conversation.closed", channel=c.channel, text=text,
                 url=url, ref=ref)
