"""Automation's part of the conversation page: the quick-reply picker under the composer, and the check that no
quick-reply variable without a value reaches a customer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.roles import Perm
from automation.choices import ScheduledState, SlaTarget
from automation.models import ScheduledMessage, SlaTimer
from automation.scheduling import suggestions
from automation.sla import policy_label
from automation.variables import variables_in
from core.errors import ActionError
from inbox.actions import can_reply, check_may_act
from inbox.models import Conversation


def may_answer(user: User, conversation: Conversation) -> bool:
    """Whoever may answer in it (its responsible agent or a supervisor), on a conversation that takes written
    answers (a call takes notes only)."""
    if not user.has_perm_code(Perm.INBOX_WORK) or not can_reply(conversation):
        return False
    try:
        check_may_act(user, conversation)
    except ActionError:
        return False
    return True


def composer_panel(user: User, conversation: Conversation) -> dict[str, Any] | None:
    """Quick replies and "Enviar más tarde" under the text box."""
    return {"c": conversation, "suggestions": suggestions(conversation)} if may_answer(user, conversation) else None


def scheduled_panel(user: User, conversation: Conversation) -> dict[str, Any] | None:
    """The side panel's "Mensajes programados": those waiting and those that could not be sent (sent ones are in
    the timeline)."""
    return {"c": conversation, "scheduled": pending_scheduled(conversation)} if may_answer(user, conversation) \
        else None


FAILED_SHOWN = timedelta(days=7)


def pending_scheduled(conversation: Conversation) -> list[ScheduledMessage]:
    """Those waiting, and those that could not be sent in the last week (the history keeps them all)."""
    recent = timezone.now() - FAILED_SHOWN
    return list(ScheduledMessage.objects.filter(
        Q(state=ScheduledState.SCHEDULED) | Q(state=ScheduledState.FAILED, send_at__gte=recent),
        conversation=conversation).select_related("author", "template").order_by("send_at", "pk")[:50])


def refuse_unfilled_variables(conversation: Conversation, body: str, meta: dict[str, Any]) -> None:
    """inbox.outbound body check: `{{cliente.nombre}}` with no value was left in the text (400 `unfilled_variable`)."""
    left = variables_in(body)
    if left:
        names = ", ".join(dict.fromkeys(left))
        raise ActionError("unfilled_variable", _("Complete o borre antes de enviar: %s") % names, field="body",
                          variables=left)


def sla_panel(user: User, conversation: Conversation) -> dict[str, Any] | None:
    """The side panel's "Nivel de servicio": the policy, each target of this cycle with its due time and whether
    it was met, is running, paused or breached, and the escalation rule (one query)."""
    timer = SlaTimer.objects.select_related("policy__inbox").filter(pk=conversation.pk).first()
    if timer is None or timer.cycle != conversation.cycle or not timer.targets:
        return None
    rows = []
    for target in SlaTarget:
        entry = timer.targets.get(target.value)
        if not entry:
            continue
        due = _when(entry.get("due"))
        at = date_format(timezone.localtime(due), "SHORT_DATETIME_FORMAT") if due else ""
        if entry.get("breached_at"):
            status, text = "late", _("Incumplido: vencía el %s") % at if at else _("Incumplido")
        elif entry.get("met_at"):
            status, text = "met", _("Cumplido")
        elif entry.get("stopped_at"):
            status, text = "stopped", _("Detenido")
        elif "remaining" in entry:
            status, text = "paused", _("En pausa mientras espera al cliente")
        else:
            status, text = "running", _("Vence el %s") % at
        rows.append({"label": target.label, "due": due, "status": status, "text": text,
                     "escalation": target == SlaTarget.ESCALATION})
    return {"c": conversation, "policy": policy_label(timer.policy), "rows": rows,
            "escalated_at": timer.escalated_at}


def _when(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None
