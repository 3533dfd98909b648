"""Broadcast topics: events every holder of a permission receives. A connection joins the topics of its user's
permissions when it opens; a role change takes effect on the next connection (pages reconnect on reload)."""

from __future__ import annotations

from typing import Final

from accounts.models import User
from accounts.roles import Perm

LEADS: Final = "leads"  # the call queue: lead upserts, holds, statuses
STOCK: Final = "stock"  # live availability on product search and order builders

TOPIC_PERMISSIONS: Final[dict[str, Perm]] = {LEADS: Perm.LEADS_VIEW, STOCK: Perm.CATALOG_VIEW}


def topics_for(user: User) -> list[str]:
    return [topic for topic, perm in TOPIC_PERMISSIONS.items() if user.has_perm_code(perm)]
