"""Closing with a documented reason, classification, state changes asked by people, escalation."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.choices import Availability
from accounts.models import User
from core import audit
from core.errors import ActionError, ConflictError
from inbox.actions.assignment import (
    _assign,
    open_load,
)
from inbox.actions.base import (
    MIN_COMMENT,
    S,
    _descriptive,
    _emit,
    _event,
    _may_act,
    _updated,
    access_conversation,
    do_transition_conversation,
)
from inbox.choices import (
    MANUAL_CLOSE_REASONS,
    OPEN_STATES,
    CloseReason,
    ConversationOutcome,
    ConversationState,
    CustomerState,
    MessageKind,
    TaskStatus,
)
from inbox.models import AUTOMATIC, Conversation, ConversationEvent, Message, Task
from inbox.people import supervisors_of

# --- closing -------------------------------------------------------------------------------------------


def satisfied_reasons(c: Conversation, comment: str = "") -> list[str]:
    """Closure reasons that hold right now for the conversation's current cycle."""
    reasons = []
    if Message.objects.filter(conversation=c, cycle=c.cycle, kind=MessageKind.OUTBOUND).exclude(AUTOMATIC).exists():
        reasons.append(CloseReason.ANSWERED.value)
    documented = ConversationEvent.objects.filter(conversation=c, cycle=c.cycle, kind="handled_outside").exists()
    if documented or len(comment.strip()) >= MIN_COMMENT:
        reasons.append(CloseReason.DERIVED_DOCUMENTED.value)
    if c.ticket_ref or Task.objects.filter(conversation=c, cycle=c.cycle).exclude(status=TaskStatus.CANCELLED).exists():
        reasons.append(CloseReason.TASK_CREATED.value)
    if comment.strip():
        reasons.append(CloseReason.CUSTOMER_CONFIRMED.value)
    return reasons


def check_close_conversation(acting_user: User, conversation_id: int, *, reason: str,
                             comment: str = "", outcome: str = "", customer_state: str = "") -> Conversation:
    """Resolves a conversation only for one of the four documented reasons, so closing "to clean the inbox" is
    impossible: `answered` needs an outbound message in this cycle; `derived_documented` a descriptive comment (or
    a documented external handling); `task_created` a linked task or ticket; `customer_confirmed` a comment saying
    what the customer confirmed. A refusal (409) lists the reasons that would be accepted now."""
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        _may_act(acting_user, c)
        possible = satisfied_reasons(c, comment)
        if reason not in MANUAL_CLOSE_REASONS or reason not in possible:
            labels = ", ".join(f"{r} ({CloseReason(r).label})" for r in possible) or _("ninguno todavía: responda al "
                                                                                     "cliente, cree una tarea o "
                                                                                     "documente la atención")
            raise ConflictError("close_needs_reason", _("No se puede cerrar con ese motivo. Motivos posibles ahora: "
                                                        "%s.") % labels, accepted_reasons=possible,
                                all_reasons=[r.value for r in MANUAL_CLOSE_REASONS])
        _set_classification(c, outcome=outcome, customer_state=customer_state, acting_user=acting_user)
        do_transition_conversation(c, to=S.RESOLVED, acting_user=acting_user, comment=comment.strip(), reason=reason)
        audit.record(actor=acting_user, action="conversation.closed", target=c,
                     changes={"reason": reason, "cycle": c.cycle, "outcome": c.outcome})
    return c


def _set_classification(c: Conversation, *, outcome: str | None, customer_state: str | None,
                        acting_user: User | None) -> None:
    """The result of the conversation and the customer's state, for the performance dashboard."""
    if outcome and outcome not in ConversationOutcome.values:
        raise ActionError("invalid_outcome", _("Resultado inválido. Use: %s.") % ", ".join(ConversationOutcome.values),
                          field="outcome")
    if customer_state and customer_state not in CustomerState.values:
        raise ActionError("invalid_customer_state", _("Estado del cliente inválido. Use: %s.")
                          % ", ".join(CustomerState.values), field="customer_state")
    fields = []
    if outcome and outcome != c.outcome:
        c.outcome = outcome
        fields.append("outcome")
    if customer_state and customer_state != c.customer_state:
        c.customer_state = customer_state
        fields.append("customer_state")
    if fields:
        c.save(update_fields=fields)
        _updated(c, "classification", acting_user=acting_user)


def sale_conversation(customer_id: int) -> Conversation | None:
    """The conversation a sale to this customer belongs to (orders.actions.do_record_sales)."""
    open_one = (Conversation.objects.filter(customer_id=customer_id, state__in=[s.value for s in OPEN_STATES])
                .order_by("-last_activity_at", "-id").first())
    if open_one is not None:
        return open_one
    since = timezone.now() - timedelta(days=settings.SALE_CONVERSATION_DAYS)
    return (Conversation.objects.filter(customer_id=customer_id, state=S.RESOLVED, closed_at__gte=since)
            .order_by("-closed_at", "-id").first())


def do_note_sale(c: Conversation, *, acting_user: User | None = None, decisive: bool = False) -> None:
    """A sale came out of this conversation: unless an agent classified it already, its result is "generó
    venta" and the customer "convertido". Emits conversation.updated (`sale`), which tells reports to recount it
    with the new sales."""
    if decisive:  # a call's sale is its result, whatever its note said before the order was confirmed
        c.outcome, c.customer_state = ConversationOutcome.SALE, CustomerState.CONVERTED
    c.outcome = c.outcome or ConversationOutcome.SALE
    c.customer_state = c.customer_state or CustomerState.CONVERTED
    c.save(update_fields=["outcome", "customer_state"])
    _updated(c, "sale", acting_user=acting_user)


def check_classify_conversation(acting_user: User, conversation_id: int, *, outcome: str = "",
                                customer_state: str = "") -> Conversation:
    """Sets the conversation's result and the customer's state (sidebar of the conversation page)."""
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        _may_act(acting_user, c)
        before = (c.outcome, c.customer_state)
        _set_classification(c, outcome=outcome, customer_state=customer_state, acting_user=acting_user)
        if before != (c.outcome, c.customer_state):
            _event(c, "classified", actor=acting_user, outcome=c.outcome, customer_state=c.customer_state)
            _emit(c, "classified")
    return c


def check_transition(acting_user: User, conversation_id: int, *, to: str, reason: str = "", comment: str = "",
                     waiting_until: datetime | None = None, outcome: str = "",
                     customer_state: str = "") -> Conversation:
    """The generic state change (API `transition`): closing and escalating go through their own rules."""
    try:
        target = ConversationState(to)
    except ValueError as exc:
        raise ActionError("invalid_state", _("Estado desconocido: %s") % to, field="to") from exc
    if target == S.RESOLVED:
        return check_close_conversation(acting_user, conversation_id, reason=reason, comment=comment,
                                        outcome=outcome, customer_state=customer_state)
    if target == S.ESCALATED:
        return check_escalate(acting_user, conversation_id, comment=comment)
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        _may_act(acting_user, c)
        do_transition_conversation(c, to=target, acting_user=acting_user, comment=comment,
                                   waiting_until=waiting_until)
    return c


def check_escalate(acting_user: User, conversation_id: int, *, comment: str) -> Conversation:
    """Hands the conversation to a supervisor (the least loaded available one) with the required comment."""
    comment = _descriptive(comment)
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        _may_act(acting_user, c)
        do_escalate(c, acting_user=acting_user, comment=comment)
    return c


def do_escalate(c: Conversation, *, acting_user: User | None, comment: str, reason: str = "escalated") -> User | None:
    """Moves a locked open conversation to Escalada and hands it to the least loaded of its inbox's supervisors
    (inbox.people.supervisors_of; available ones first); returns that supervisor (None when there is none: it stays
    with its agent, escalated). `reason` names why on the history (a person, or "sla_escalation")."""
    load = open_load()
    supervisor = min(supervisors_of(c.inbox), key=lambda u: (u.availability != Availability.AVAILABLE,
                                                            load.get(u.pk, 0), u.pk), default=None)
    do_transition_conversation(c, to=S.ESCALATED, acting_user=acting_user, comment=comment, reason=reason)
    if supervisor is not None and supervisor.pk != c.assignee_id:
        _assign(c, supervisor, acting_user=acting_user, comment=comment, kind="escalated")
    return supervisor
