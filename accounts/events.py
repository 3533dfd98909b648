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
