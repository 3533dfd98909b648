"""The sentences automation's lines read as in a conversation's history (registered with inbox.describe)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from automation.choices import SlaTarget
from core.describe import moment, quote
from inbox.describe import EventContext


def scheduled(e: EventContext) -> str:
    return _("%(actor)s programó un mensaje para el %(when)s") % {"actor": e.who, "when": moment(e.data.get("send_at"))}


def scheduled_cancelled(e: EventContext) -> str:
    return _("%(actor)s canceló el mensaje programado para el %(when)s") % {
        "actor": e.who, "when": moment(e.data.get("send_at"))}


def scheduled_failed(e: EventContext) -> str:
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


KINDS = {"scheduled": scheduled, "scheduled_edited": scheduled_edited, "scheduled_cancelled": scheduled_cancelled,
         "scheduled_failed": scheduled_failed, "sla_breached": sla_breached, "sla_escalated": sla_escalated}
USER_KEYS = {"scheduled_failed": ("author",), "sla_breached": ("assignee",), "sla_escalated": ("agent", "supervisor")}
