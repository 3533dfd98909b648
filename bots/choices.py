"""Choices of the chatbot: a flow's state, a run's state machine (bots.actions.do_transition_run), what a step
visit came to (the per-step analytics)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from django.db import models
from django.utils.translation import gettext_lazy as _


class RunState(models.TextChoices):
    ACTIVE = "activo", _("En curso")  # the bot is talking or waits for the customer's answer
    WAITING = "esperando", _("En pausa")  # a wait step: the sweep resumes it at `resume_at`
    COMPLETED = "completado", _("Completado")
    HANDED_OVER = "derivado", _("Derivado a una persona")
    EXPIRED = "expirado", _("Expirado por inactividad")
    STOPPED = "detenido", _("Detenido por un agente")
    FAILED = "fallido", _("Fallido")


_S = RunState
OPEN_STATES: Final = frozenset({_S.ACTIVE, _S.WAITING})
# The one state machine of a run. A run ends once; an ended run is history (a new one starts for a new cycle).
RUN_TRANSITIONS: Final[Mapping[RunState, frozenset[RunState]]] = {
    _S.ACTIVE: frozenset({_S.WAITING, _S.COMPLETED, _S.HANDED_OVER, _S.EXPIRED, _S.STOPPED, _S.FAILED}),
    _S.WAITING: frozenset({_S.ACTIVE, _S.COMPLETED, _S.HANDED_OVER, _S.STOPPED, _S.FAILED}),
    _S.COMPLETED: frozenset(),
    _S.HANDED_OVER: frozenset(),
    _S.EXPIRED: frozenset(),
    _S.STOPPED: frozenset(),
    _S.FAILED: frozenset(),
}


class VisitOutcome(models.TextChoices):
    PASSED = "paso", _("Pasó")  # a step that needs no answer ran and went on
    WAITING = "esperando", _("Esperando respuesta")
    ANSWERED = "respondido", _("Respondido")
    DROPPED = "abandonado", _("Abandonado")  # the customer stopped answering here (the run expired)
    HANDED_OVER = "derivado", _("Derivado")  # handed over here (a handoff step, the keyword, or too many retries)
    STOPPED = "detenido", _("Detenido")  # an agent took the conversation here


class HandoffReason(models.TextChoices):
    STEP = "paso", _("El flujo lo indica")
    KEYWORD = "palabra", _("El cliente pidió una persona")
    RETRIES = "reintentos", _("Respuestas no reconocidas")
    ERROR = "error", _("Error del flujo")
