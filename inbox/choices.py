from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from django.db import models
from django.utils.translation import gettext_lazy as _


class ConversationState(models.TextChoices):
    NEW = "nueva", _("Nueva")
    PENDING = "pendiente", _("Pendiente")
    ON_HOLD = "en_espera", _("En espera")
    RESOLVED = "resuelta", _("Resuelta")
    ESCALATED = "escalada", _("Escalada")


S = ConversationState
# From the team's guide: Nueva → Pendiente ⇄ En espera → Resuelta; Escalada from Nueva/Pendiente/En espera.
# Resolving straight from Nueva is allowed (e.g. the customer confirmed they need nothing more), but the closure
# rules in inbox.actions still apply. A resolved conversation reopens as Pendiente in a new cycle.
CONVERSATION_TRANSITIONS: Final[Mapping[ConversationState, frozenset[ConversationState]]] = {
    S.NEW: frozenset({S.PENDING, S.ESCALATED, S.RESOLVED}),
    S.PENDING: frozenset({S.ON_HOLD, S.ESCALATED, S.RESOLVED}),
    S.ON_HOLD: frozenset({S.PENDING, S.ESCALATED, S.RESOLVED}),
    S.ESCALATED: frozenset({S.PENDING, S.RESOLVED}),
    S.RESOLVED: frozenset({S.PENDING}),
}
OPEN_STATES: Final = frozenset({S.NEW, S.PENDING, S.ON_HOLD, S.ESCALATED})


class CloseReason(models.TextChoices):
    ANSWERED = "answered", _("El cliente recibió una respuesta clara")
    DERIVED_DOCUMENTED = "derived_documented", _("Derivada a otro canal y documentada")
    TASK_CREATED = "task_created", _("Se creó y vinculó una tarea o ticket")
    CUSTOMER_CONFIRMED = "customer_confirmed", _("El cliente confirmó que no necesita nada más")
    # Only calls close with these (inbox.actions.calls): never offered when closing by hand.
    CALL_NOTED = "call_noted", _("Llamada registrada con su nota")
    # A call nobody noted (its order was its result) ends on its own an hour after its last activity.
    CALL_ENDED = "call_ended", _("Llamada terminada sin nota")


# What a person may choose when closing (the dialog, the API's transition and bulk close).
MANUAL_CLOSE_REASONS: Final = tuple(r for r in CloseReason if r not in (CloseReason.CALL_NOTED, CloseReason.CALL_ENDED))


class Channel(models.TextChoices):
    WHATSAPP = "whatsapp", _("WhatsApp")
    EMAIL = "email", _("Correo")
    WEBCHAT = "webchat", _("Chat web")
    API = "api", _("API")
    PHONE = "phone", _("Teléfono")
    SMS = "sms", _("SMS")


class Priority(models.TextChoices):
    LOW = "baja", _("Baja")
    NORMAL = "normal", _("Normal")
    HIGH = "alta", _("Alta")
    URGENT = "urgente", _("Urgente")


PRIORITY_RANK: Final = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class MessageKind(models.TextChoices):
    INBOUND = "inbound", _("Mensaje del cliente")
    OUTBOUND = "outbound", _("Respuesta al cliente")
    NOTE = "note", _("Nota interna")


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("En cola")
    SENT = "sent", _("Enviado")
    DELIVERED = "delivered", _("Entregado")
    READ = "read", _("Leído")
    FAILED = "failed", _("Fallido")


class TaskStatus(models.TextChoices):
    OPEN = "abierta", _("Abierta")
    DONE = "completada", _("Completada")
    CANCELLED = "cancelada", _("Cancelada")


class ConversationOutcome(models.TextChoices):
    """How the conversation ended, for the performance dashboard (issue 7); success = sale or resolved."""

    SALE = "genero_venta", _("Generó venta")
    RESOLVED = "resuelta", _("Resuelta")
    ESCALATED = "escalada", _("Escalada")
    UNSOLVED = "cerrada_sin_solucion", _("Cerrada sin solución")


SUCCESSFUL_OUTCOMES: Final = frozenset({ConversationOutcome.SALE, ConversationOutcome.RESOLVED})


class CustomerState(models.TextChoices):
    """Where the customer stands after this conversation (the dashboard's "Estados de clientes y leads")."""

    INTERESTED = "interesado", _("Interesado")
    FOLLOW_UP = "en_seguimiento", _("En seguimiento")
    CONVERTED = "convertido", _("Convertido")
    NOT_INTERESTED = "no_interesado", _("No interesado")
