"""A lead's history as sentences with names (STYLE §17): "Raúl Mendoza tomó el lead", "El lead pasó a En proceso",
"El lead salió de la cola: en Kommo pasó a «Ventas / Venta Confirmada»". One function per LeadEventKind."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _

from accounts.models import User
from core.describe import join_names, quote, system_actor
from leads.choices import LeadEventKind, Outcome, WorkStatus
from leads.models import LeadEvent

logger = logging.getLogger(__name__)
K = LeadEventKind


@dataclass(frozen=True)
class _Event:
    kind: str
    data: Mapping[str, Any]
    actor: str | None
    actor_username: str | None
    usernames: Mapping[str, str]

    @property
    def who(self) -> str:
        return self.actor or system_actor()

    def person(self, key: str) -> str | None:
        username = self.data.get(key)
        if not username:
            return None
        return self.usernames.get(str(username)) or str(username)

    def stage(self) -> str | None:
        stage = str(self.data.get("stage") or "").strip()
        return quote(stage) if stage else None


def _status(value: object) -> str:
    return str(WorkStatus(value).label) if value in WorkStatus.values else _("otro estado")


def _arrived(e: _Event) -> str:
    stage = e.stage()
    if stage:
        return _("El lead llegó a la cola desde la etapa %(stage)s de Kommo") % {"stage": stage}
    return _("El lead llegó a la cola")


def _updated(e: _Event) -> str:
    stage = e.stage()
    if stage:
        return _("El lead se actualizó desde Kommo (etapa %(stage)s)") % {"stage": stage}
    return _("El lead se actualizó desde Kommo")


def _left_queue(e: _Event) -> str:
    stage = e.stage()
    if stage:
        return _("El lead salió de la cola: en Kommo pasó a %(stage)s") % {"stage": stage}
    return _("El lead salió de la cola")


def _note(e: _Event) -> str:
    outcome = e.data.get("outcome")
    if outcome in Outcome.values and outcome != Outcome.UNCLASSIFIED:
        text = _("%(actor)s agregó una nota (resultado: %(outcome)s)") % {
            "actor": e.who, "outcome": Outcome(outcome).label}
    else:
        text = _("%(actor)s agregó una nota") % {"actor": e.who}
    if e.data.get("template"):
        text = _("%(text)s con la nota predefinida %(template)s") % {
            "text": text, "template": quote(e.data["template"])}
    tags = e.data.get("tags")
    if isinstance(tags, list) and tags:
        text = _("%(text)s y etiquetó al cliente con %(tags)s") % {
            "text": text, "tags": join_names([quote(t) for t in tags])}
    return text


def _held(e: _Event) -> str:
    if e.data.get("via") == "note":
        return _("%(actor)s tomó el lead al escribir la primera nota") % {"actor": e.who}
    return _("%(actor)s tomó el lead") % {"actor": e.who}


def _released(e: _Event) -> str:
    holder = e.person("from")
    if holder is None or str(e.data.get("from")) == e.actor_username:
        return _("%(actor)s liberó el lead") % {"actor": e.who}
    return _("%(actor)s liberó el lead, que tenía %(holder)s") % {"actor": e.who, "holder": holder}


def _reassigned(e: _Event) -> str:
    before, after = e.person("from"), e.person("to") or _("otra persona")
    if before is None:
        return _("%(actor)s asignó el lead a %(after)s") % {"actor": e.who, "after": after}
    return _("%(actor)s reasignó el lead de %(before)s a %(after)s") % {"actor": e.who, "before": before,
                                                                          "after": after}


def _status_change(e: _Event) -> str:
    to, reason = e.data.get("to"), str(e.data.get("reason") or "")
    args = {"actor": e.who, "to": _status(to), "from": _status(e.data.get("from"))}
    if reason == "closed" or (to == WorkStatus.DONE and e.actor):
        return _("%(actor)s cerró el lead") % args
    if reason == "reopened":
        return _("%(actor)s reabrió el lead") % args
    if reason == "back in the to-call stage in Kommo":
        return _("El lead volvió a %(to)s porque regresó a la etapa «Para Llamar» en Kommo") % args
    return _("El lead pasó a %(to)s") % args


def _deleted(e: _Event) -> str:
    return _("El lead se eliminó en Kommo")


_KINDS: Mapping[str, Callable[[_Event], str]] = {
    K.ARRIVED: _arrived, K.UPDATED: _updated, K.LEFT_QUEUE: _left_queue, K.NOTE: _note, K.HELD: _held,
    K.RELEASED: _released, K.REASSIGNED: _reassigned, K.STATUS: _status_change, K.DELETED: _deleted,
}


def describe_lead_event(kind: str, data: Mapping[str, Any], *, actor: str | None, actor_username: str | None = None,
                        usernames: Mapping[str, str] | None = None) -> str:
    """One lead history row as a sentence in the current language. Pure: `actor` is the actor's display name
    (None for Kommo or the system), `usernames` maps the usernames stored in data to display names."""
    event = _Event(kind=str(kind), data=data if isinstance(data, Mapping) else {}, actor=actor,
                   actor_username=actor_username, usernames=usernames or {})
    describe = _KINDS.get(str(kind))
    if describe is not None:
        try:
            return describe(event)
        except (TypeError, ValueError, KeyError, AttributeError):
            logger.warning("lead event of kind %s did not fit its sentence", kind)  # never the data: notes
    else:
        logger.info("no sentence for lead event kind %s", kind)
    if actor:
        return _("%(actor)s registró un cambio") % {"actor": actor}
    return _("Cambio registrado")


def annotate_lead_events(events: Sequence[LeadEvent]) -> None:
    """Sets `e.text` on each event (current language). Actors not loaded with `select_related("actor")` and
    the people named in the events' data (released from, reassigned to) come in one query, none if nothing
    needs a name."""

    actor_field = LeadEvent._meta.get_field("actor")
    missing_ids = {e.actor_id for e in events if e.actor_id is not None and not actor_field.is_cached(e)}
    usernames = {str(e.data[k]) for e in events if isinstance(e.data, dict)
                 for k in ("from", "to") if e.kind in (K.RELEASED, K.REASSIGNED) and e.data.get(k)}
    by_id: dict[int, tuple[str, str]] = {}
    by_username: dict[str, str] = {}
    if missing_ids or usernames:
        for pk, username, full_name in User.objects.filter(
                Q(pk__in=missing_ids) | Q(username__in=usernames)).values_list("pk", "username", "full_name"):
            by_id[pk] = (username, full_name or username)
            by_username[username] = full_name or username
    for e in events:
        actor: str | None = None
        actor_username: str | None = None
        if e.actor_id is not None:
            if actor_field.is_cached(e) and e.actor is not None:
                actor, actor_username = e.actor.display_name, e.actor.username
            elif e.actor_id in by_id:
                actor_username, actor = by_id[e.actor_id]
        e.text = describe_lead_event(  # type: ignore[attr-defined]
            e.kind, e.data, actor=actor, actor_username=actor_username, usernames=by_username)
