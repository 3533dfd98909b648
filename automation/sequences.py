"""Sequences (issue 16): an ordered list of messages with delays (D+1, D+3, D+7…), started on a conversation by an
automation rule's action (a tag added, an order confirmed) and stopped when the customer replies or the conversation
is resolved.

Each step is a ScheduledMessage written when the sequence starts (automatic: no author; the rule's text and, on
WhatsApp, its template for after the 24-hour window), so the scheduled messages' worker sends it once at its time,
the conversation lists it under «Mensajes programados», and an agent may cancel one step. The enrollment's state
moves only through `do_transition_enrollment` (declared table, a line on the conversation's history, a domain event);
stopping cancels the steps still waiting. The customer's reply and the resolution stop it inside their own
transaction (subscribed in the emitting transaction), so a step due a second later is never sent after them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.roles import Perm
from automation import actions as automation_actions
from automation.choices import ENROLLMENT_TRANSITIONS, EnrollmentState, ScheduledState
from automation.events import SequenceEnded, SequenceStarted
from automation.models import AutomationRule, ScheduledMessage, Sequence, SequenceEnrollment
from automation.rule_spec import DELAY_MAX_MINUTES, TEXT_MAX
from core import audit
from core.errors import ActionError, InvalidTransition, NotFoundError
from core.events import DomainEvent, emit
from core.perms import require_perm
from core.validators import check_text, text_problem
from inbox.actions import do_record_event
from inbox.choices import ConversationState
from inbox.models import Conversation

E = EnrollmentState
STEPS_MAX = 10
# Why an enrollment ended (its history line and the API's `reason`).
STOP_REASONS = ("customer_replied", "resolved", "stopped", "steps_cancelled", "steps_failed", "sequence_deleted")


# --- keeping sequences ---------------------------------------------------------------------------------------


def clean_steps(raw: Any) -> list[dict[str, Any]]:
    """Steps as stored: each with its delay from the start (1 minute to 90 days, each later than the one before),
    a text and/or a WhatsApp template with its variables. 400 naming the step otherwise."""
    if not isinstance(raw, list) or not raw or len(raw) > STEPS_MAX:
        raise ActionError("invalid_steps", _("Indique entre 1 y 10 mensajes."), field="steps")
    steps: list[dict[str, Any]] = []
    previous = 0
    for index, step in enumerate(raw):
        where = _("Mensaje %d") % (index + 1)
        if not isinstance(step, dict):
            raise ActionError("invalid_steps", _("%s: no es un mensaje.") % where, field="steps")
        delay = step.get("delay_minutes")
        if not isinstance(delay, int) or isinstance(delay, bool) or not previous < delay <= DELAY_MAX_MINUTES:
            raise ActionError("invalid_steps", _("%s: el tiempo debe ser mayor que el del mensaje anterior (hasta 90 "
                                                 "días).") % where, field="steps")
        body = step.get("body") or ""
        template = step.get("template") or ""
        variables = step.get("variables") or {}
        if not isinstance(body, str) or not isinstance(template, str) or not isinstance(variables, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in variables.items()):
            raise ActionError("invalid_steps", _("%s: el texto, la plantilla y sus variables deben ser textos.")
                              % where, field="steps")
        body, template = body.strip(), template.strip()[:512]
        for text in (body, template, *variables, *variables.values()):
            problem = text_problem(text)
            if problem:
                raise ActionError("invalid_text", _("%(where)s: el texto %(problem)s.")
                                  % {"where": where, "problem": problem}, field="steps")
        if len(body) > TEXT_MAX:
            raise ActionError("invalid_steps", _("%s: el texto es demasiado largo.") % where, field="steps")
        if not body and not template:
            raise ActionError("invalid_steps", _("%s: escriba el texto (o una plantilla de WhatsApp).") % where,
                              field="steps")
        steps.append({"delay_minutes": delay, "body": body, "template": template,
                      "variables": {k.strip()[:30]: v.strip()[:1024] for k, v in list(variables.items())[:20]}})
        previous = delay
    return steps


@dataclass
class SequenceInput:
    name: str
    steps: list[Any]
    description: str = ""
    stop_on_reply: bool = True
    stop_on_close: bool = True
    active: bool = True


def access_sequence(acting_user: User, sequence_id: int, *, lock: bool = False) -> Sequence:
    require_perm(acting_user, Perm.INBOX_SUPERVISE)
    qs = Sequence.objects.select_for_update() if lock else Sequence.objects.all()
    found = qs.filter(pk=sequence_id).first()
    if found is None:
        raise NotFoundError("sequence_not_found", _("La secuencia no existe."))
    return found


def check_save_sequence(acting_user: User, data: SequenceInput, *, sequence_id: int | None = None) -> Sequence:
    """Creates or replaces a sequence (supervisors). New steps apply to conversations that start it afterwards;
    those already on their way keep the messages they have."""
    require_perm(acting_user, Perm.INBOX_SUPERVISE)
    name = check_text(data.name.strip(), field="name", label=_("El nombre"), max_length=100)
    if not name:
        raise ActionError("missing_fields", _("Escriba un nombre para la secuencia."), field="name")
    description = check_text(data.description.strip(), field="description", label=_("La descripción"),
                             max_length=300)
    steps = clean_steps(data.steps)
    values = {"name": name, "description": description, "steps": steps,
              "stop_on_reply": bool(data.stop_on_reply), "stop_on_close": bool(data.stop_on_close),
              "active": bool(data.active)}
    with transaction.atomic():
        if sequence_id is None:
            sequence = Sequence.objects.create(**values, created_by=acting_user)
            audit.record(actor=acting_user, action="sequence.created", target=sequence,
                         changes={"steps": len(steps)})
            return sequence
        sequence = access_sequence(acting_user, sequence_id, lock=True)
        changed = [key for key, value in values.items() if getattr(sequence, key) != value]
        for key, value in values.items():
            setattr(sequence, key, value)
        sequence.updated_at = timezone.now()
        sequence.save()
        if changed:
            audit.record(actor=acting_user, action="sequence.updated", target=sequence,
                         changes=dict.fromkeys(changed, True))
    return sequence


def check_delete_sequence(acting_user: User, sequence_id: int) -> None:
    """Deletes a sequence; conversations on their way through it stop (their waiting messages are cancelled)."""
    with transaction.atomic():
        sequence = access_sequence(acting_user, sequence_id)
        # the conversations first, in order (as a send, a reply or a resolution takes them), then the sequence
        running = list(SequenceEnrollment.objects.filter(sequence=sequence, state=E.ACTIVE)
                       .values_list("conversation_id", flat=True))
        list(Conversation.objects.select_for_update().filter(pk__in=running).order_by("pk").values_list("pk"))
        sequence = access_sequence(acting_user, sequence_id, lock=True)
        for enrollment in (SequenceEnrollment.objects.select_related("sequence", "conversation")
                           .filter(sequence=sequence, state=E.ACTIVE).order_by("pk")):
            _stop(enrollment, reason="sequence_deleted", acting_user=acting_user)
        audit.record(actor=acting_user, action="sequence.deleted", target=sequence, changes={"name": sequence.name})
        sequence.delete()


# --- running ---------------------------------------------------------------------------------------------------


def do_transition_enrollment(enrollment: SequenceEnrollment, *, to: EnrollmentState, reason: str = "",
                             acting_user: User | None = None) -> bool:
    """The one transition function of an enrollment (the caller holds the conversation's lock): the declared table,
    the line on the conversation's history, the domain event after commit."""
    current = EnrollmentState(enrollment.state)
    if current == to:
        return False
    if to not in ENROLLMENT_TRANSITIONS[current]:
        raise InvalidTransition("invalid_transition", _("Una secuencia %(a)s no puede pasar a %(b)s.")
                                % {"a": current.label, "b": to.label})
    ended = timezone.now()
    # compare-and-set: two paths ending it at once (the last step sent, a reply) end it once
    if not SequenceEnrollment.objects.filter(pk=enrollment.pk, state=current).update(
            state=to.value, reason=reason, ended_at=ended):
        return False
    enrollment.state, enrollment.reason, enrollment.ended_at = to.value, reason, ended
    c = enrollment.conversation
    do_record_event(c, "sequence_ended", actor=acting_user, sequence=enrollment.sequence.name, state=to.value,
                    reason=reason)
    emit(SequenceEnded(enrollment_id=enrollment.pk, sequence_id=enrollment.sequence_id,
                       sequence=enrollment.sequence.name, conversation_id=c.pk, customer_id=c.customer_id,
                       state=to.value, reason=reason), actor=acting_user)
    return True


def do_enroll(sequence: Sequence, c: Conversation, *, rule: AutomationRule | None) -> SequenceEnrollment | None:
    """Starts `sequence` on the locked conversation `c` (None when it is already on its way there); the caller
    writes its steps (automation.rules.schedule_automatic) and then calls `started`."""
    if SequenceEnrollment.objects.filter(sequence=sequence, conversation=c, state=E.ACTIVE).exists():
        return None
    return SequenceEnrollment.objects.create(sequence=sequence, conversation=c, customer_id=c.customer_id, rule=rule)


def started(enrollment: SequenceEnrollment, *, steps: int) -> None:
    c = enrollment.conversation
    do_record_event(c, "sequence_started", actor=None, sequence=enrollment.sequence.name, steps=steps,
                    rule=enrollment.rule.name if enrollment.rule else "")
    emit(SequenceStarted(enrollment_id=enrollment.pk, sequence_id=enrollment.sequence_id,
                         sequence=enrollment.sequence.name, conversation_id=c.pk, customer_id=c.customer_id,
                         steps=steps))


def _stop(enrollment: SequenceEnrollment, *, reason: str, acting_user: User | None) -> None:
    """Stops it first (so the cancellations below are not read as "every step cancelled"), then cancels what
    still waits."""
    if not do_transition_enrollment(enrollment, to=E.STOPPED, reason=reason, acting_user=acting_user):
        return
    waiting = ScheduledMessage.objects.select_for_update(of=("self",)).filter(
        enrollment=enrollment, state=ScheduledState.SCHEDULED).order_by("pk")
    for scheduled in waiting:
        automation_actions.do_transition_scheduled(scheduled, to=ScheduledState.CANCELLED, acting_user=acting_user,
                                data={"reason": reason})


def _stop_all(enrollments: Any, *, reason: str, flag: str, locked: int) -> None:
    """Stops the active enrollments of `enrollments` (a queryset) whose sequence says so. `locked`: the conversation
    the caller holds; the others are locked first, in order, as a send of theirs would (conversation, then its
    scheduled rows), so a step being sent elsewhere finishes before it is cancelled."""
    active = enrollments.filter(state=E.ACTIVE)
    if not active.exists():  # the intake's path: one indexed lookup when nothing runs
        return
    active = list(active.filter(**{f"sequence__{flag}": True}).select_related("sequence", "conversation")
                  .order_by("pk"))
    others = sorted({e.conversation_id for e in active} - {locked})
    list(Conversation.objects.select_for_update().filter(pk__in=others).order_by("pk").values_list("pk"))
    for enrollment in active:
        _stop(enrollment, reason=reason, acting_user=None)


def on_message_received(event: DomainEvent) -> None:
    """In the transaction that stored the customer's message (their row and the conversation's are locked): their
    reply stops the sequences that say so — on any of their conversations (they may answer a WhatsApp follow-up by
    email, or a week later in a new conversation)."""
    _stop_all(SequenceEnrollment.objects.filter(customer_id=event.customer_id),  # type: ignore[attr-defined]
              reason="customer_replied", flag="stop_on_reply", locked=event.conversation_id)  # type: ignore[attr-defined]


def on_state_changed(event: DomainEvent) -> None:
    if event.to_state == ConversationState.RESOLVED:  # type: ignore[attr-defined]
        conversation_id = event.conversation_id  # type: ignore[attr-defined]
        _stop_all(SequenceEnrollment.objects.filter(conversation_id=conversation_id), reason="resolved",
                  flag="stop_on_close", locked=conversation_id)


def on_step_done(event: DomainEvent) -> None:
    """A step was sent, failed or was cancelled (scheduled_message.*, in its transaction): the enrollment ends when
    none waits — completed when its steps went out, stopped when someone cancelled the rest."""
    enrollment_id = (ScheduledMessage.objects.filter(pk=event.scheduled_message_id)  # type: ignore[attr-defined]
                     .values_list("enrollment_id", flat=True).first())
    if enrollment_id is None:
        return
    enrollment = (SequenceEnrollment.objects.select_related("sequence", "conversation")
                  .filter(pk=enrollment_id, state=E.ACTIVE).first())
    if enrollment is None or ScheduledMessage.objects.filter(enrollment=enrollment,
                                                             state=ScheduledState.SCHEDULED).exists():
        return
    last = (ScheduledMessage.objects.filter(enrollment=enrollment).order_by("-step", "-pk")
            .values_list("state", flat=True).first())
    if last == ScheduledState.SENT:  # its last message went out (an earlier one may have failed: the history says)
        do_transition_enrollment(enrollment, to=E.COMPLETED)
    else:
        do_transition_enrollment(enrollment, to=E.STOPPED,
                                 reason="steps_cancelled" if last == ScheduledState.CANCELLED else "steps_failed")


def check_stop_enrollment(acting_user: User, enrollment_id: int) -> SequenceEnrollment:
    """A supervisor stops a conversation's sequence (its waiting messages are cancelled)."""
    require_perm(acting_user, Perm.INBOX_SUPERVISE)
    with transaction.atomic():
        conversation_id = (SequenceEnrollment.objects.filter(pk=enrollment_id)
                           .values_list("conversation_id", flat=True).first())
        if conversation_id is None:
            raise NotFoundError("enrollment_not_found", _("La conversación no está en esa secuencia."))
        Conversation.objects.select_for_update().filter(pk=conversation_id).first()
        enrollment = SequenceEnrollment.objects.select_related("sequence", "conversation").get(pk=enrollment_id)
        if enrollment.state == E.ACTIVE:
            _stop(enrollment, reason="stopped", acting_user=acting_user)
    return enrollment
