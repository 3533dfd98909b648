"""Domain events of accounts (core.events), emitted by accounts.actions."""

from __future__ import annotations

import dataclasses

from django.utils.translation import gettext_lazy as _

from core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class AvailabilityChanged(DomainEvent):
    """A user's availability changed (Disponible, Ocupado, Ausente, Desconectado) through its transition function:
    by themselves, a supervisor, login/logout or the idle timeout."""

    type = "user.availability_changed"
    label = _("Cambio de disponibilidad")
    user_id: int
    username: str
    from_state: str
    to_state: str
    changed_at: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class AccessChanged(DomainEvent):
    """A user's account was deactivated or reactivated, or their role changed: what they may see changed, so their
    open pages reconnect (realtime closes their sockets; a deactivated account's reconnection is refused)."""

    type = "user.access_changed"
    label = _("Cambio de acceso de un usuario")
    user_id: int
    username: str
    is_active: bool
    role: str
