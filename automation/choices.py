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
SLA_CHANNELS = ("whatsapp", "email", "webchat", "sms", "api")


class RuleEvent(models.TextChoices):
    """What starts an automation rule: the domain events it subscribes to (core.events)."""

    MESSAGE_RECEIVED = "message.received", _("Mensaje recibido")
    CONVERSATION_CREATED = "conversation.created", _("Conversación creada")
    CONVERSATION_STATE_CHANGED = "conversation.state_changed", _("Cambio de estado de la conversación")
    CONVERSATION_ASSIGNED = "conversation.assigned", _("Conversación asignada")
    CUSTOMER_TAGGED = "customer.tagged", _("Cliente etiquetado")
    SEGMENT_ENTERED = "segment.entered", _("Cliente entró en un segmento")
    LEAD_NOTED = "lead.noted", _("Nota de llamada en un lead")
    ORDER_CONFIRMED = "order.confirmed", _("Pedido confirmado")
    SLA_BREACHED = "sla.breached", _("SLA incumplido")
    # Not a domain event: the clock. At each of the rule's times its conditions are checked on every open
    # conversation (automation.schedules).
    SCHEDULE = "schedule", _("A una hora programada")


# The rule events that are domain events (core.events): the rules subscribe to these.
DOMAIN_RULE_EVENTS = tuple(code for code in RuleEvent.values if code != RuleEvent.SCHEDULE)


class RuleMatch(models.TextChoices):
    ALL = "all", _("Todas las condiciones")
    ANY = "any", _("Cualquiera de las condiciones")


class RuleFrequency(models.TextChoices):
    """How often one rule may act: on every event, once per conversation, or once per customer."""

    EVERY_TIME = "every_time", _("Cada vez")
    CONVERSATION = "conversation", _("Una vez por conversación")
    CUSTOMER = "customer", _("Una vez por cliente")


class RunOutcome(models.TextChoices):
    APPLIED = "applied", _("Aplicada")
    SKIPPED = "skipped", _("Sin efecto")  # every action skipped (a missing value, the window…): not counted as done
    HELD = "held", _("No aplicada")
    FAILED = "failed", _("Con errores")


class EnrollmentState(models.TextChoices):
    ACTIVE = "activa", _("En curso")
    COMPLETED = "completada", _("Completada")
    STOPPED = "detenida", _("Detenida")


_E = EnrollmentState
# A conversation's run through a sequence: it goes on until its last message went out, or it is stopped (the
# customer replied, the conversation was resolved, someone stopped it); nothing comes back from an end.
ENROLLMENT_TRANSITIONS: dict[EnrollmentState, frozenset[EnrollmentState]] = {
    _E.ACTIVE: frozenset({_E.COMPLETED, _E.STOPPED}),
    _E.COMPLETED: frozenset(),
    _E.STOPPED: frozenset(),
}

# A conversation's automatic messages (rules, their follow-ups, sequences) in one hour: beyond, it is a bot on the
# other side answering ours (ping-pong); the next ones are skipped with the reason.
AUTOMATIC_PER_HOUR = 10
