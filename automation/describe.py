"""The sentences automation's lines read as in a conversation's history (registered with inbox.describe)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from automation.choices import SlaTarget
from automation.rule_spec import ACTIONS, detail_text
from core.describe import moment, quote
from inbox.describe import EventContext


def scheduled(e: EventContext) -> str:
    return _("%(actor)s programó un mensaje para el %(when)s") % {"actor": e.who, "when": moment(e.data.get("send_at"))}


def scheduled_cancelled(e: EventContext) -> str:
    return _("%(actor)s canceló el mensaje programado para el %(when)s") % {
        "actor": e.who, "when": moment(e.data.get("send_at"))}


def scheduled_failed(e: EventContext) -> str:
    if e.data.get("rule") and not e.data.get("author"):
        return _("No se envió el mensaje que la regla %(rule)s programó para el %(when)s: %(reason)s") % {
            "rule": quote(e.data["rule"]), "when": moment(e.data.get("send_at")),
            "reason": quote(e.data.get("reason") or "")}
    return _("No se envió el mensaje que %(author)s programó para el %(when)s: %(reason)s") % {
        "author": e.user("author") or _("un usuario desconocido"), "when": moment(e.data.get("send_at")),
        "reason": quote(e.data.get("reason") or "")}


def scheduled_edited(e: EventContext) -> str:
    if e.data.get("rewritten"):
        return _("%(actor)s cambió el mensaje programado: ahora sale el %(when)s") % {
            "actor": e.who, "when": moment(e.data.get("send_at"))}
    return _("%(actor)s movió el mensaje programado del %(before)s al %(when)s") % {
        "actor": e.who, "before": moment(e.data.get("before")), "when": moment(e.data.get("send_at"))}


def sla_breached(e: EventContext) -> str:
    target = str(e.data.get("target") or "")
    label = SlaTarget(target).label.lower() if target in SlaTarget.values else _("un objetivo de servicio")
    sentence = _("Se venció el plazo de %(target)s: debía cumplirse antes del %(when)s") % {
        "target": label, "when": moment(e.data.get("due"))}
    agent = e.user("assignee")
    return _("%(sentence)s (a cargo de %(agent)s)") % {"sentence": sentence, "agent": agent} if agent else sentence


def sla_escalated(e: EventContext) -> str:
    minutes = max(1, round(int(e.data.get("after") or 0) / 60))
    args = {"n": minutes, "agent": e.user("agent") or _("nadie"),
            "supervisor": e.user("supervisor") or _("ningún supervisor")}
    return ngettext("Sin resolver %(n)d minuto después de su asignación a %(agent)s: pasó a %(supervisor)s",
                    "Sin resolver %(n)d minutos después de su asignación a %(agent)s: pasó a %(supervisor)s",
                    minutes) % args


def rule_applied(e: EventContext) -> str:
    name = quote(e.data.get("name") or "")
    if e.data.get("reason") == "loop":
        return _("La regla de automatización %(rule)s no se aplicó: protección contra bucles (el evento lo causó "
                 "una regla)") % {"rule": name}
    labels = {"done": _("hecho"), "skipped": _("omitido"), "failed": _("error")}
    parts = []
    for action in e.data.get("actions") or []:
        if not isinstance(action, dict):
            continue
        spec = ACTIONS.get(str(action.get("type")))
        label = str(spec.label) if spec else str(action.get("type"))
        result = labels.get(str(action.get("result")), "")
        detail = detail_text(action.get("detail")) if action.get("result") != "done" else ""
        parts.append(f"{label} ({result}: {detail})" if detail else f"{label} ({result})")
    return _("Regla de automatización %(rule)s: %(actions)s") % {"rule": name, "actions": "; ".join(parts) or "—"}


def sequence_started(e: EventContext) -> str:
    steps = int(e.data.get("steps") or 0)
    args = {"sequence": quote(e.data.get("sequence") or ""), "n": steps, "rule": quote(e.data.get("rule") or "")}
    if e.data.get("rule"):
        return ngettext("La regla %(rule)s inició la secuencia %(sequence)s (%(n)d mensaje programado)",
                        "La regla %(rule)s inició la secuencia %(sequence)s (%(n)d mensajes programados)", steps) % args
    return ngettext("Se inició la secuencia %(sequence)s (%(n)d mensaje programado)",
                    "Se inició la secuencia %(sequence)s (%(n)d mensajes programados)", steps) % args


def sequence_ended(e: EventContext) -> str:
    name = quote(e.data.get("sequence") or "")
    if e.data.get("state") == "completada":
        return _("La secuencia %s terminó: se enviaron sus mensajes") % name
    reason = str(e.data.get("reason") or "")
    if reason == "stopped":
        return _("%(actor)s detuvo la secuencia %(sequence)s") % {"actor": e.who, "sequence": name}
    why = {"customer_replied": _("el cliente respondió"), "resolved": _("la conversación se resolvió"),
           "steps_cancelled": _("se cancelaron sus mensajes"), "steps_failed": _("no se pudo enviar ningún mensaje"),
           "sequence_deleted": _("se borró la secuencia")}.get(reason, _("se detuvo"))
    return _("La secuencia %(sequence)s se detuvo: %(why)s") % {"sequence": name, "why": why}


KINDS = {"scheduled": scheduled, "scheduled_edited": scheduled_edited, "scheduled_cancelled": scheduled_cancelled,
         "scheduled_failed": scheduled_failed, "sla_breached": sla_breached, "sla_escalated": sla_escalated,
         "rule_applied": rule_applied, "sequence_started": sequence_started, "sequence_ended": sequence_ended}
USER_KEYS = {"scheduled_failed": ("author",), "sla_breached": ("assignee",), "sla_escalated": ("agent", "supervisor")}
