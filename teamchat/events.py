"""Domain events of the team chat (core.events): a channel's creation, its state and its members. Messages are not
domain events: they are people's words, read by the people in the channel, not changes other systems act on (and a
direct message must never reach an outgoing webhook)."""

from __future__ import annotations

import dataclasses

from django.utils.translation import gettext_lazy as _

from core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class ChannelCreated(DomainEvent):
    """A channel of the team chat was created (a team's, or one a person created). Direct messages are not
    announced."""

    type = "chat_channel.created"
    label = _("Canal del chat creado")
    channel_id: int
    name: str
    kind: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ChannelStateChanged(DomainEvent):
    """A channel was archived or brought back."""

    type = "chat_channel.state_changed"
    label = _("Canal del chat archivado o reactivado")
    channel_id: int
    name: str
    from_state: str
    to_state: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class MembershipChanged(DomainEvent):
    """People joined or left a channel (`reason`: joined, left, added, removed, team)."""

    type = "chat_channel.members_changed"
    label = _("Miembros de un canal del chat cambiados")
    channel_id: int
    name: str
    added: list[int]
    removed: list[int]
    reason: str
