"""Domain events of the chatbot (core.events)."""

from __future__ import annotations

import dataclasses

from django.utils.translation import gettext_lazy as _

from core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class BotFlowPublished(DomainEvent):
    """A flow's draft was published as a new version (new conversations start on it)."""

    type = "bot_flow.published"
    label = _("Flujo del bot publicado")
    flow_id: int
    name: str
    version_number: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class BotRunStarted(DomainEvent):
    """The bot started talking with a customer in a conversation."""

    type = "bot_run.started"
    label = _("El bot empezó una conversación")
    run_id: int
    flow_id: int
    version_number: int
    conversation_id: int
    customer_id: int | None
    started_by: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class BotRunStateChanged(DomainEvent):
    """A run paused, resumed or ended (`to_state`: completado, derivado, expirado, detenido, fallido…), with the
    variables it had collected when it ended."""

    type = "bot_run.state_changed"
    label = _("Conversación con el bot pausada, reanudada o terminada")
    run_id: int
    flow_id: int
    conversation_id: int
    from_state: str
    to_state: str
    reason: str
    variables: dict[str, str]
