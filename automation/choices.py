from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class QuickReplyScope(models.TextChoices):
    """Who sees a quick reply: its author only, the people of one inbox, or everyone who answers."""

    MINE = "mias", _("Solo yo")
    INBOX = "bandeja", _("Una bandeja")
    EVERYONE = "todos", _("Todo el equipo")


# Suggested categories (free text: an organization adds its own).
QUICK_REPLY_CATEGORIES = (_("ventas"), _("soporte"), _("reclamos"), _("pagos"), _("envíos"))


class ScheduledState(models.TextChoices):
    SCHEDULED = "programado", _("Programado")
    SENT = "enviado", _("Enviado")
    CANCELLED = "cancelado", _("Cancelado")
    FAILED = "fallido", _("No enviado")


_S = ScheduledState
# The one state machine of a scheduled message (automation.actions.do_transition_scheduled): it waits, then it is
# sent, cancelled, or could not be sent (the reason is kept); nothing comes back from an end.
SCHEDULED_TRANSITIONS: dict[ScheduledState, frozenset[ScheduledState]] = {
    _S.SCHEDULED: frozenset({_S.SENT, _S.CANCELLED, _S.FAILED}),
    _S.SENT: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.FAILED: frozenset(),
}


class SlaTarget(models.TextChoices):
    """What a service-level policy times. Response and resolution targets are the customer's; escalation is the
    team's own rule (a case not resolved in time goes to a supervisor)."""

    FIRST_RESPONSE = "first_response", _("Primera respuesta")
    NEXT_RESPONSE = "next_response", _("Siguiente respuesta")
    RESOLUTION = "resolution", _("Resolución")
    ESCALATION = "escalation", _("Escalamiento")


# The targets a customer waits on: the list's badge and "SLA due" show the nearest of these.
CUSTOMER_TARGETS = (SlaTarget.FIRST_RESPONSE, SlaTarget.NEXT_RESPONSE, SlaTarget.RESOLUTION)
# The channels a policy may cover (a phone call is answered live: the call queue has its own measures).
SLA_CHANNELS = ("whatsapp", "email", "webchat", "api")
