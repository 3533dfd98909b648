"""Choices of the team chat: kinds of channel, a member's role, and a channel's state machine
(teamchat.actions.do_transition_channel)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from django.db import models
from django.utils.translation import gettext_lazy as _


class ChannelKind(models.TextChoices):
    TEAM = "equipo", _("Canal de equipo")  # one per team, its members kept in step with the team's
    PUBLIC = "publico", _("Canal público")  # anyone may find and join it
    PRIVATE = "privado", _("Canal privado")  # members only, added by its owners
    DIRECT = "directo", _("Mensaje directo")  # two people (or one: notes to self)
    GROUP = "grupo", _("Mensaje directo en grupo")  # three to nine people, fixed when opened


NAMED_KINDS: Final = frozenset({ChannelKind.TEAM, ChannelKind.PUBLIC, ChannelKind.PRIVATE})
DIRECT_KINDS: Final = frozenset({ChannelKind.DIRECT, ChannelKind.GROUP})


class MemberRole(models.TextChoices):
    OWNER = "propietario", _("Propietario")  # adds and removes members, renames, archives
    MEMBER = "miembro", _("Miembro")


class ChannelState(models.TextChoices):
    ACTIVE = "activo", _("Activo")
    ARCHIVED = "archivado", _("Archivado")  # read-only: kept for its history, hidden from the sidebar


_S = ChannelState
# The one state machine of a channel: archived channels keep their history read-only and come back when unarchived.
CHANNEL_TRANSITIONS: Final[Mapping[ChannelState, frozenset[ChannelState]]] = {
    _S.ACTIVE: frozenset({_S.ARCHIVED}),
    _S.ARCHIVED: frozenset({_S.ACTIVE}),
}
