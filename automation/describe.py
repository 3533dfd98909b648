"""The sentences automation's lines read as in a conversation's history (registered with inbox.describe)."""

from __future__ import annotations

from django.utils.translation import gettext as _

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


KINDS = {"scheduled": scheduled, "scheduled_edited": scheduled_edited, "scheduled_cancelled": scheduled_cancelled,
         "scheduled_failed": scheduled_failed}
USER_KEYS = {"scheduled_failed": ("author",)}
