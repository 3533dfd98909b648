"""Domain events of announcements (core.events) and the typed payloads of their realtime events (realtime.events:
the browser gets them as the DOM event "centralita:announcement")."""

from __future__ import annotations

import dataclasses
from typing import Literal, TypedDict

from django.utils.translation import gettext_lazy as _

from core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class AnnouncementPublished(DomainEvent):
    """An announcement was published: at once by its publisher, or at its scheduled time by the scheduler
    (`scheduled`). `recipients` is the size of the audience's snapshot."""

    type = "announcement.published"
    label = _("Anuncio publicado")
    announcement_id: int
    title: str
    category: str
    requires_ack: bool
    everyone: bool
    team_ids: list[int]
    recipients: int
    scheduled: bool


@dataclasses.dataclass(frozen=True, kw_only=True)
class AnnouncementAcknowledged(DomainEvent):
    """A person pressed "Leído y entendido" on an announcement that asks for it (once: pressing again changes
    nothing)."""

    type = "announcement.acknowledged"
    label = _("Anuncio confirmado por una persona")
    announcement_id: int
    user_id: int
    username: str
    acked_at: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class AnnouncementReminded(DomainEvent):
    """A publisher reminded the people who had not confirmed an announcement yet (at most once an hour)."""

    type = "announcement.reminded"
    label = _("Recordatorio de un anuncio enviado")
    announcement_id: int
    reminded: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class AnnouncementArchived(DomainEvent):
    """An announcement was archived: out of every banner and of its readers' list."""

    type = "announcement.archived"
    label = _("Anuncio archivado")
    announcement_id: int
    title: str


# --- realtime payloads (STYLE §7): the action picks who gets each ------------------------------------------------

class AnnouncementPublishedEvent(TypedDict):
    """To the snapshot's people (their banner appears) and to the publishers (their lists)."""

    type: Literal["announcement"]
    op: Literal["published"]
    announcement_id: int
    title: str
    requires_ack: bool


class AnnouncementAckedEvent(TypedDict):
    """To the person (their banner goes in every tab) and to the publishers (the confirmation list). `op` "read"
    is the same for an announcement without confirmation that the person read or closed."""

    type: Literal["announcement"]
    op: Literal["acknowledged", "read"]
    announcement_id: int
    user_id: int


class AnnouncementRemindedEvent(TypedDict):
    """To the people reminded (their banner shows the reminder) and to the publishers."""

    type: Literal["announcement"]
    op: Literal["reminded"]
    announcement_id: int
    title: str


class AnnouncementArchivedEvent(TypedDict):
    """To the snapshot's people and the publishers: the banner and the list drop it."""

    type: Literal["announcement"]
    op: Literal["archived"]
    announcement_id: int
