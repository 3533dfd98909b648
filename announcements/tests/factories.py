from __future__ import annotations

from typing import Any

import factory

from accounts.models import User
from announcements import actions
from announcements.choices import AnnouncementCategory, AnnouncementState
from announcements.models import Announcement

# The smallest valid PNG (1×1, transparent): what a browser would upload.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8ffff"
                    "3f0005fe02fea7d6a4b70000000049454e44ae426082")


class AnnouncementFactory(factory.django.DjangoModelFactory[Announcement]):
    """A draft for everyone (publish it through the actions: `publish(...)`)."""

    class Meta:
        model = Announcement

    title = factory.Sequence(lambda n: f"Anuncio {n}")
    body = "Texto del anuncio."
    category = AnnouncementCategory.NEWS
    state = AnnouncementState.DRAFT


def publish(author: User, **fields: Any) -> Announcement:
    """An announcement written and published by `author` through the actions (the audience's snapshot taken)."""
    fields.setdefault("title", "Nueva política de devoluciones")
    fields.setdefault("body", "Desde el lunes, **45 días**.")
    return actions.check_save_announcement(author, announcement_id=None, publish=True,
                                           data=actions.AnnouncementInput(**fields))
