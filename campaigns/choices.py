"""The campaigns' vocabulary: objectives, channels, the campaign's and each recipient's states with their declared
transition tables, and why a customer is left out of an audience."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from django.db import models
from django.utils.translation import gettext_lazy as _


class Objective(models.TextChoices):
    SALES = "ventas", _("Ventas")
    AWARENESS = "reconocimiento", _("Reconocimiento")
    LOYALTY = "fidelizacion", _("Fidelización")
    REACTIVATION = "reactivacion", _("Reactivación")


class CampaignChannel(models.TextChoices):
    WHATSAPP = "whatsapp", _("WhatsApp")
    EMAIL = "email", _("Correo")
    SMS = "sms", _("SMS")


class ScheduleMode(models.TextChoices):
    NOW = "now", _("Al lanzarla")
    AT = "at", _("En una fecha y hora")
    LOCAL = "local", _("En la hora local de cada cliente, dentro del horario permitido")


class CampaignState(models.TextChoices):
    DRAFT = "borrador", _("Borrador")
    SCHEDULED = "programada", _("Programada")
    SENDING = "enviando", _("Enviando")
    PAUSED = "pausada", _("Pausada")
    FINISHED = "terminada", _("Terminada")
    CANCELLED = "cancelada", _("Cancelada")


_C = CampaignState
# The one state machine of a campaign (campaigns.actions.do_transition). A launch prepares the audience and moves a
# draft to scheduled (a later start) or straight to sending; a scheduled campaign starts on time or goes back to
# draft; sending can pause and resume; it finishes when no recipient is left to send, or is cancelled (what was
# sent stays sent, the rest is never sent).
CAMPAIGN_TRANSITIONS: Final[Mapping[CampaignState, frozenset[CampaignState]]] = {
    _C.DRAFT: frozenset({_C.SCHEDULED, _C.SENDING, _C.CANCELLED}),
    _C.SCHEDULED: frozenset({_C.SENDING, _C.DRAFT, _C.CANCELLED}),
    _C.SENDING: frozenset({_C.PAUSED, _C.FINISHED, _C.CANCELLED}),
    _C.PAUSED: frozenset({_C.SENDING, _C.CANCELLED}),
    _C.FINISHED: frozenset(),
    _C.CANCELLED: frozenset(),
}
EDITABLE = (_C.DRAFT,)
LIVE = (_C.SENDING, _C.PAUSED)


class RecipientState(models.TextChoices):
    PENDING = "pendiente", _("En cola")
    SENDING = "enviando", _("Enviándose")
    SENT = "enviado", _("Enviado")
    DELIVERED = "entregado", _("Entregado")
    READ = "leido", _("Leído")
    FAILED = "fallido", _("Falló")
    SKIPPED = "omitido", _("Omitido")
    CANCELLED = "cancelado", _("No enviado (campaña cancelada)")


_R = RecipientState
# Delivery only moves forward (a late "sent" never undoes "delivered"); a failure reported after "sent" is final.
RECIPIENT_TRANSITIONS: Final[Mapping[RecipientState, frozenset[RecipientState]]] = {
    _R.PENDING: frozenset({_R.SENDING, _R.SENT, _R.FAILED, _R.CANCELLED, _R.SKIPPED}),  # skipped: opted out
    _R.SENDING: frozenset({_R.PENDING, _R.SENT, _R.DELIVERED, _R.READ, _R.FAILED, _R.CANCELLED}),
    _R.SENT: frozenset({_R.DELIVERED, _R.READ, _R.FAILED}),
    _R.DELIVERED: frozenset({_R.READ}),
    _R.READ: frozenset(),
    _R.FAILED: frozenset(),
    _R.SKIPPED: frozenset(),
    _R.CANCELLED: frozenset(),
}
DELIVERY_RANK: Final[Mapping[str, int]] = {_R.SENT: 1, _R.DELIVERED: 2, _R.READ: 3}
REACHED = (_R.SENT, _R.DELIVERED, _R.READ)


class SkipReason(models.TextChoices):
    NO_CONSENT = "sin_consentimiento", _("No aceptó recibir campañas por este canal")
    OPTED_OUT = "dado_de_baja", _("Se dio de baja")
    NO_ADDRESS = "sin_dato", _("Sin teléfono o correo para este canal")


def skip_reasons(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Left-out counts by reason as (label, how many), the reasons with nobody dropped (the preview, the results,
    the launch's refusal)."""
    return [(str(SkipReason(reason).label), n) for reason, n in counts.items() if n and reason]


class ClickTarget(models.TextChoices):
    BUTTON = "button", _("Botón")
    LINK = "link", _("Enlace")
