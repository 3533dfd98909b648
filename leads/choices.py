from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from django.db import models
from django.utils.translation import gettext_lazy as _

from customers.choices import LeadState

# The lead's status in the call center, derived from its notes and whether it was closed. Declared in customers
# (the customer list filters customers by their latest lead's state, and customers sits below leads).
WorkStatus = LeadState


W = WorkStatus
WORK_STATUS_TRANSITIONS: Final[Mapping[WorkStatus, frozenset[WorkStatus]]] = {
    W.NONE: frozenset({W.IN_PROGRESS, W.DONE}),  # first note / closed with a final note
    W.IN_PROGRESS: frozenset({W.DONE}),
    W.DONE: frozenset({W.IN_PROGRESS}),  # reopened by a supervisor, or back in "Para Llamar" in Kommo
}


class Outcome(models.TextChoices):
    POSITIVE = "positivo", _("Positivo")
    NEGATIVE = "negativo", _("Negativo")
    PARTIAL = "parcial", _("Parcial")
    UNCLASSIFIED = "no_clasificado", _("No clasificado")


class LeadEventKind(models.TextChoices):
    ARRIVED = "arrived", _("Llegó a la cola")
    UPDATED = "updated", _("Actualizado desde Kommo")
    LEFT_QUEUE = "left_queue", _("Salió de la cola")
    NOTE = "note", _("Nota")
    HELD = "held", _("Reservado")
    RELEASED = "released", _("Liberado")
    REASSIGNED = "reassigned", _("Reasignado")
    STATUS = "status", _("Cambio de estado")
    DELETED = "deleted", _("Eliminado en Kommo")
