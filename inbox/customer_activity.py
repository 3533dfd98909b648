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
from core.choices import display
from core.events import DomainEvent
from customers.activity import refresh_on_commit
from customers.models import Customer
from customers.panels import SECTION_PAGE, section_page_url
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
    """A conversation opened, a message came or went, a conversation changed state: its customer's activity moves.
    An automatic answer (an automation rule's, the chatbot's) is left to the nightly rebuild: it moves nothing but
    "last contact" by the moments since the customer's own message that triggered it (refreshed then), and the
    refresh — nine queries — would double the cost of each bot step (docs/customers.md)."""
    if getattr(event, "automatic", False):
        return
    refresh_on_commit(getattr(event, "customer_id", None))


# --- the customer profile: its conversations section and timeline entries ----------------------------------------

def _visible(user: User | None) -> QuerySet[Conversation]:
    return Conversation.objects.all() if user is None else visible(user)


def _may_see(user: User) -> bool:
    return user.has_perm_code(Perm.INBOX_WORK) or user.has_perm_code(Perm.INBOX_SUPERVISE)


def conversation_page(user: User, customer: Customer, offset: int) -> dict[str, Any] | None:
    """The customer's conversations the user may open, in every channel, newest activity first, from `offset` on,
    SECTION_PAGE at a time, with the next page's URL when there are more."""
    if not _may_see(user):
        return None
    page = list(_visible(user).filter(customer=customer).select_related("inbox", "assignee")
                .order_by("-last_activity_at", "-id")[offset:offset + SECTION_PAGE + 1])
    more = len(page) > SECTION_PAGE
    return {"conversations": page[:SECTION_PAGE],
            "more_url": section_page_url(customer, "inbox", offset + SECTION_PAGE) if more else ""}


def profile_section(user: User, customer: Customer) -> dict[str, Any] | None:
    """The first page of the customer's conversations, with the open tasks of those the user may open and how many
    more are in inboxes the user does not work (a constant number of queries)."""
    first = conversation_page(user, customer, 0)
    if first is None:
        return None
    mine = _visible(user).filter(customer=customer)
    hidden = customer.conversations_count - mine.count() if customer.conversations_count else 0
    tasks = list(Task.objects.filter(conversation__in=mine, status=TaskStatus.OPEN)
                 .select_related("responsible", "conversation").order_by("due_at", "id")[:50])
    return {**first, "customer": customer, "hidden": max(hidden, 0), "tasks": tasks, "now": timezone.now()}


def timeline_entries(user: User | None, customer: Customer, before: datetime | None, limit: int) -> list[Entry]:
    """A conversation opened, and closed with its reason (each as one entry), for those who work the inbox."""
    if user is not None and not _may_see(user):
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
    channel, ref = display(c, "channel"), {"conversation_id": c.pk, "uuid": str(c.uuid)}
    url = reverse("inbox:detail", args=[c.pk])
    if not closing:
        text = _("Conversación por %(channel)s en la bandeja «%(inbox)s»") % {"channel": channel, "inbox": c.inbox.name}
        if c.subject:
            text = _("%(opened)s: %(subject)s") % {"opened": text, "subject": c.subject}
        return Entry(at=c.created_at, kind="conversation.opened", channel=c.channel, text=text, url=url, ref=ref)
    text = (_("Conversación por %(channel)s cerrada: %(reason)s") % {"channel": channel,
                                                                    "reason": display(c, "close_reason")}
            if c.close_reason else _("Conversación por %(channel)s cerrada") % {"channel": channel})
    return Entry(at=c.closed_at or c.last_activity_at, kind="conversation.closed", channel=c.channel, text=text,
                 url=url, ref=ref)
