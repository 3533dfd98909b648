"""Broadcast topics: events every holder of a permission receives. A connection joins the topics of its user's
permissions when it opens; a role change closes the user's open connections (realtime.subscribers.on_access_changed),
and their pages reconnect with the new role's topics."""

from __future__ import annotations

from typing import Final

from accounts.models import User
from accounts.roles import Perm

LEADS: Final = "leads"  # the call queue: lead upserts, holds, statuses
STOCK: Final = "stock"  # live availability on product search and order builders
INBOX: Final = "inbox"  # conversations: messages, states, assignments (everyone who works or supervises the inbox)
PRESENCE: Final = "presence"  # agents' availability, for those who watch the team

# A connection joins a topic when its user holds any of the topic's permissions.
TOPIC_PERMISSIONS: Final[dict[str, tuple[Perm, ...]]] = {
    LEADS: (Perm.LEADS_VIEW,), STOCK: (Perm.CATALOG_VIEW,), INBOX: (Perm.INBOX_WORK, Perm.INBOX_SUPERVISE),
    PRESENCE: (Perm.PRESENCE_VIEW_ALL, Perm.CHAT_USE),  # the team chat shows everyone's availability
}


def in_topic(user: User, topic: str) -> bool:
    return any(user.has_perm_code(perm) for perm in TOPIC_PERMISSIONS[topic])


def topics_for(user: User) -> list[str]:
    return [topic for topic in TOPIC_PERMISSIONS if in_topic(user, topic)]
