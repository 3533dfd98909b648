"""A conversation's history as sentences with names (STYLE §17): "Fernanda Cárdenas transfirió la conversación
a Raúl Mendoza: «El cliente pide factura»". One function per event kind; codes and ids stay in the API.

`describe_conversation_event` is pure (names come in as mappings); `annotate_timeline` resolves the names of a
whole timeline in at most two queries; `event_texts` renders one event in every language for realtime payloads
that reach people reading in different languages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.models import User
from core.describe import join_names, quote, system_actor
from inbox.choices import Channel, CloseReason, ConversationOutcome, ConversationState, CustomerState, Priority
from inbox.models import ClosureReview, ConversationEvent, Inbox

logger = logging.getLogger(__name__)

S = ConversationState
# Kinds whose data["from"] / data["to"] are user ids (inbox.actions._assign, inbox.task_actions).
USER_ID_KINDS = frozenset({"assigned", "transferred", "escalated", "returned_to_pool", "task_reassigned"})


@dataclass(frozen=True)
class EventContext:
    """What one sentence of the history gets: the row and the names it mentions (resolved in bulk)."""

    kind: str
    data: Mapping[str, Any]
    actor: str | None  # display name; None: the system
    comment: str
    names: Mapping[int, str]
    inboxes: Mapping[str, str]
    usernames: Mapping[str, str]

    @property
    def who(self) -> str:
        return self.actor or system_actor()

    def user(self, key: str) -> str | None:
        """The display name of the user id stored under `key`, None when there is none."""
        value = self.data.get(key)
        if value is None or value == "":
            return None
        pk = _as_int(value)
        if pk is None:
            return _("un usuario desconocido")
        return self.names.get(pk) or _("un usuario desconocido")

    def person(self, username: object) -> str:
        """The display name of a username stored in data (mentions, task owners)."""
        return self.usernames.get(str(username)) or str(username)

    def inbox(self, key: str) -> str:
        code = str(self.data.get(key) or "")
        return self.inboxes.get(code) or code or _("una bandeja desconocida")

    def with_comment(self, sentence: str) -> str:
        comment = (self.comment or "").strip()
        return f"{sentence}: {quote(comment)}" if comment else sentence


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _state(value: object) -> str:
    return str(S(value).label) if value in S.values else _("otro estado")


def _label(choices: Any, value: object) -> str:
    return str(choices(value).label) if value in choices.values else str(value or "—")


# --- one sentence per kind ------------------------------------------------------------------------


def _created(e: EventContext) -> str:
    channel = e.data.get("channel")
    if channel in Channel.values:
        return _("El cliente escribió por %(channel)s y empezó la conversación") % {
            "channel": Channel(channel).label}
    return _("El cliente escribió y empezó la conversación")


def _call_started(e: EventContext) -> str:
    return _("%(actor)s llamó al cliente") % {"actor": e.who}


def _state_change(e: EventContext) -> str:  # noqa: PLR0911 - one sentence per reason
    frm, to, reason = e.data.get("from"), e.data.get("to"), str(e.data.get("reason") or "")
    args = {"actor": e.who, "from": _state(frm), "to": _state(to)}
    if to == S.RESOLVED:
        if reason in CloseReason.values:
            return e.with_comment(_("%(actor)s cerró la conversación (motivo: %(reason)s)") % {
                **args, "reason": CloseReason(reason).label})
        return e.with_comment(_("%(actor)s cerró la conversación") % args)
    if reason == "customer_wrote_again":
        return _("La conversación se reabrió porque el cliente volvió a escribir")
    if reason == "customer_replied":
        return _("La conversación volvió a %(to)s porque el cliente respondió") % args
    if reason == "agent_wrote_again":
        return _("%(actor)s reabrió la conversación al escribirle de nuevo al cliente") % args
    if reason == "replied":
        return _("La conversación pasó a %(to)s porque %(actor)s respondió al cliente") % args
    if reason == "assigned":
        return _("La conversación pasó a %(to)s al asignarse") % args
    if reason == "automation":
        return e.with_comment(_("Una regla de automatización escaló la conversación"))
    if reason == "sla_escalation":
        return _("El sistema escaló la conversación porque no se resolvió a tiempo (nivel de servicio)")
    if reason == "escalated" or to == S.ESCALATED:
        return e.with_comment(_("%(actor)s escaló la conversación") % args)
    if frm == S.RESOLVED:
        return e.with_comment(_("%(actor)s reabrió la conversación") % args)
    return e.with_comment(_("%(actor)s cambió el estado de la conversación de %(from)s a %(to)s") % args)


def _assigned(e: EventContext) -> str:
    to = e.user("to")
    if to is None:
        if e.actor is None:
            return _("La conversación quedó sin responsable")
        return _("%(actor)s quitó el responsable de la conversación") % {"actor": e.who}
    if e.actor is None:
        return _("El sistema asignó la conversación a %(to)s") % {"to": to}
    if e.actor == to:
        return _("%(actor)s tomó la conversación") % {"actor": e.who}
    return _("%(actor)s asignó la conversación a %(to)s") % {"actor": e.who, "to": to}


def _transferred(e: EventContext) -> str:
    to = e.user("to")
    if to is None:
        return e.with_comment(_("%(actor)s dejó la conversación sin responsable") % {"actor": e.who})
    return e.with_comment(_("%(actor)s transfirió la conversación a %(to)s") % {"actor": e.who, "to": to})


def _escalated(e: EventContext) -> str:
    # The state change just before it ("… escaló la conversación: «comment»") carries who and why; repeating the
    # comment here would show it twice in a row.
    to = e.user("to")
    if to is None:
        return _("La conversación escalada quedó sin responsable")
    return _("%(actor)s pasó la conversación escalada a %(to)s") % {"actor": e.who, "to": to}


def _returned_to_pool(e: EventContext) -> str:
    previous = e.user("from")
    if previous is None:
        return _("La conversación volvió a la cola para asignarse de nuevo")
    return _("La conversación volvió a la cola: %(agent)s no respondió a tiempo o se desconectó") % {
        "agent": previous}


def _moved(e: EventContext) -> str:
    args = {"actor": e.who, "from": e.inbox("from"), "to": e.inbox("to")}
    category = e.data.get("category")
    if category:
        return e.with_comment(_("%(actor)s movió la conversación de %(from)s a %(to)s (categoría %(category)s)")
                              % {**args, "category": quote(category)})
    return e.with_comment(_("%(actor)s movió la conversación de %(from)s a %(to)s") % args)


def _mention(e: EventContext) -> str:
    users = e.data.get("users")
    people = [e.person(u) for u in users] if isinstance(users, list) else []
    if not people:
        return _("%(actor)s mencionó a alguien en una nota interna") % {"actor": e.who}
    return _("%(actor)s mencionó a %(people)s en una nota interna") % {"actor": e.who, "people": join_names(people)}


def _handled_outside(e: EventContext) -> str:
    channel = str(e.data.get("channel") or "").strip()
    if channel:
        return e.with_comment(_("%(actor)s atendió al cliente fuera del CRM (%(channel)s)") % {
            "actor": e.who, "channel": channel})
    return e.with_comment(_("%(actor)s atendió al cliente fuera del CRM") % {"actor": e.who})


def _delivery_retried(e: EventContext) -> str:
    error = str(e.data.get("error") or "").strip()
    if error:
        return _("%(actor)s reintentó el envío de una respuesta que había fallado (%(error)s)") % {
            "actor": e.who, "error": quote(error)}
    return _("%(actor)s reintentó el envío de una respuesta que había fallado") % {"actor": e.who}


def _classified(e: EventContext) -> str:
    parts = []
    if e.data.get("outcome"):
        parts.append(_("resultado: %s") % _label(ConversationOutcome, e.data.get("outcome")))
    if e.data.get("customer_state"):
        parts.append(_("estado del cliente: %s") % _label(CustomerState, e.data.get("customer_state")))
    if not parts:
        return _("%(actor)s quitó la clasificación de la conversación") % {"actor": e.who}
    return _("%(actor)s clasificó la conversación (%(what)s)") % {"actor": e.who, "what": "; ".join(parts)}


def _task(e: EventContext) -> str:
    title = _task_title(e)
    owner = e.data.get("responsible")
    if owner:
        return _("%(actor)s creó la tarea %(title)s para %(owner)s") % {
            "actor": e.who, "title": title, "owner": e.person(owner)}
    return _("%(actor)s creó la tarea %(title)s") % {"actor": e.who, "title": title}


def _task_title(e: EventContext) -> str:
    return quote(e.data.get("title") or _("sin título"))


def _task_done(e: EventContext) -> str:
    return _("%(actor)s completó la tarea %(title)s") % {"actor": e.who, "title": _task_title(e)}


def _task_reopened(e: EventContext) -> str:
    return _("%(actor)s reabrió la tarea %(title)s") % {"actor": e.who, "title": _task_title(e)}


def _task_reassigned(e: EventContext) -> str:
    before, after = e.user("from"), e.user("to") or _("un usuario desconocido")
    if before is None:
        return _("%(actor)s asignó la tarea %(title)s a %(after)s") % {
            "actor": e.who, "title": _task_title(e), "after": after}
    return _("%(actor)s reasignó la tarea %(title)s de %(before)s a %(after)s") % {
        "actor": e.who, "title": _task_title(e), "before": before, "after": after}


def _updated(e: EventContext) -> str:
    labels = {"company": _("empresa"), "ticket_ref": _("referencia de ticket"), "priority": _("prioridad")}
    parts = []
    for key, label in labels.items():
        value = e.data.get(key)
        if isinstance(value, list) and len(value) == 2:
            before, after = (_label(Priority, v) if key == "priority" else (str(v) if v else "—") for v in value)
            parts.append(f"{label}: {before} → {after}")
    if not parts:
        return _("%(actor)s actualizó los datos de la conversación") % {"actor": e.who}
    return _("%(actor)s actualizó la conversación: %(changes)s") % {"actor": e.who, "changes": "; ".join(parts)}


def _merged(e: EventContext) -> str:
    other = _as_int(e.data.get("merged"))
    if other is None:
        return _("%(actor)s fusionó aquí una conversación duplicada") % {"actor": e.who}
    return _("%(actor)s fusionó aquí la conversación duplicada #%(other)d") % {"actor": e.who, "other": other}


def _merged_into(e: EventContext) -> str:
    other = _as_int(e.data.get("into"))
    if other is None:
        return _("%(actor)s fusionó esta conversación en otra por estar duplicada") % {"actor": e.who}
    return _("%(actor)s fusionó esta conversación en la #%(other)d por estar duplicada") % {
        "actor": e.who, "other": other}


def _reviewed(e: EventContext) -> str:
    verdict = _label(ClosureReview.Verdict, e.data.get("verdict"))
    cycle = _as_int(e.data.get("reviewed_cycle"))
    if cycle is not None:
        return e.with_comment(_("%(actor)s revisó el cierre del ciclo %(cycle)d: %(verdict)s") % {
            "actor": e.who, "cycle": cycle, "verdict": verdict})
    return e.with_comment(_("%(actor)s revisó el cierre: %(verdict)s") % {"actor": e.who, "verdict": verdict})


_KINDS: Mapping[str, Callable[[EventContext], str]] = {
    "created": _created, "call_started": _call_started, "state": _state_change, "assigned": _assigned,
    "transferred": _transferred,
    "escalated": _escalated, "returned_to_pool": _returned_to_pool, "moved": _moved, "mention": _mention,
    "handled_outside": _handled_outside,
    "delivery_retried": _delivery_retried, "classified": _classified, "task": _task, "task_done": _task_done,
    "task_reopened": _task_reopened, "task_reassigned": _task_reassigned, "updated": _updated,
    "merged": _merged, "merged_into": _merged_into, "reviewed": _reviewed,
}
DESCRIBED_KINDS = frozenset(_KINDS)
# Kinds other apps write into a conversation's history (inbox.actions.do_record_event), with their sentences and
# the data keys holding user ids to resolve: registered from their AppConfig.ready().
_REGISTERED: dict[str, Callable[[EventContext], str]] = {}
_REGISTERED_USER_KEYS: dict[str, tuple[str, ...]] = {}


def register_kind(kind: str, describe: Callable[[EventContext], str], *, user_keys: tuple[str, ...] = ()) -> None:
    if kind in _KINDS:
        raise ValueError(f"conversation event kind {kind!r} is the inbox's own")
    _REGISTERED[kind] = describe
    _REGISTERED_USER_KEYS[kind] = user_keys


def describe_conversation_event(kind: str, data: Mapping[str, Any], *, actor: str | None, comment: str,
                                names: Mapping[int, str], inboxes: Mapping[str, str],
                                usernames: Mapping[str, str] | None = None) -> str:
    """One history row as a sentence in the current language. Pure: `actor` is the actor's display name (None
    for the system), `names` maps the user ids stored in `data` to display names, `inboxes` inbox codes to
    names, `usernames` the usernames stored in `data` (mentions, task owners) to display names. An unknown
    kind still reads as a sentence ("Cambio registrado"), never as its code."""
    event = EventContext(kind=kind, data=data if isinstance(data, Mapping) else {}, actor=actor, comment=comment or "",
                   names=names, inboxes=inboxes, usernames=usernames or {})
    describe = _KINDS.get(kind) or _REGISTERED.get(kind)
    if describe is not None:
        try:
            return describe(event)
        except (TypeError, ValueError, KeyError, AttributeError):
            # A row whose data does not have the expected shape: the generic sentence below. Only the kind is
            # logged, never data or comment (they hold customer text).
            logger.warning("conversation event of kind %s did not fit its sentence", kind)
    else:
        logger.info("no sentence for conversation event kind %s", kind)
    if actor:
        return _("%(actor)s registró un cambio") % {"actor": actor}
    return _("Cambio registrado")


# --- resolving names -----------------------------------------------------------------------------------


def _wanted(kind: str, data: Mapping[str, Any]) -> tuple[set[int], set[str], set[str]]:
    """(user ids, usernames, inbox codes) one event's sentence needs."""
    ids: set[int] = set()
    usernames: set[str] = set()
    codes: set[str] = set()
    if kind in USER_ID_KINDS:
        ids.update(pk for pk in (_as_int(data.get("from")), _as_int(data.get("to"))) if pk is not None)
    elif kind == "moved":
        codes.update(str(data[k]) for k in ("from", "to") if data.get(k))
    elif kind == "mention" and isinstance(data.get("users"), list):
        usernames.update(str(u) for u in data["users"])
    elif kind == "task" and data.get("responsible"):
        usernames.add(str(data["responsible"]))
    ids.update(pk for key in _REGISTERED_USER_KEYS.get(kind, ()) if (pk := _as_int(data.get(key))) is not None)
    return ids, usernames, codes


@dataclass
class _Names:
    by_id: dict[int, str]
    by_username: dict[str, str]
    inboxes: dict[str, str]


def _resolve(ids: set[int], usernames: set[str], codes: set[str]) -> _Names:
    """At most two queries: the users (by id or username) and the inboxes; none for what nothing needs."""

    names = _Names({}, {}, {})
    if ids or usernames:
        for pk, username, full_name in User.objects.filter(Q(pk__in=ids) | Q(username__in=usernames)).values_list(
                "pk", "username", "full_name"):
            names.by_id[pk] = names.by_username[username] = full_name or username
    if codes:
        names.inboxes = dict(Inbox.objects.filter(code__in=codes).values_list("code", "name"))
    return names


def _data(item_data: object) -> Mapping[str, Any]:
    return item_data if isinstance(item_data, Mapping) else {}


def annotate_timeline(items: list[dict[str, object]]) -> None:
    """Sets `item["text"]`, the sentence in the current language, on every event item of a timeline
    (`inbox.selectors.timeline`). Actors (`author`, a username) and every id or code in the events' data are
    resolved together: at most two queries whatever the number of items, none when nothing needs a name."""
    events = [item for item in items if item.get("type") == "event"]
    ids: set[int] = set()
    usernames: set[str] = set()
    codes: set[str] = set()
    for item in events:
        more_ids, more_usernames, more_codes = _wanted(str(item.get("kind") or ""), _data(item.get("data")))
        ids |= more_ids
        usernames |= more_usernames
        codes |= more_codes
        if item.get("author"):
            usernames.add(str(item["author"]))
    names = _resolve(ids, usernames, codes)
    for item in events:
        author = item.get("author")
        actor = (names.by_username.get(str(author)) or str(author)) if author else None
        item["text"] = describe_conversation_event(
            str(item.get("kind") or ""), _data(item.get("data")), actor=actor, comment=str(item.get("comment") or ""),
            names=names.by_id, inboxes=names.inboxes, usernames=names.by_username)


def event_texts(e: ConversationEvent) -> dict[str, str]:
    """The event's sentence in every language of settings.LANGUAGES ({"es": …, "en": …}), for realtime payloads
    whose recipients read in different languages. Names are resolved once (at most two queries)."""
    data = _data(e.data)
    ids, usernames, codes = _wanted(e.kind, data)
    names = _resolve(ids, usernames, codes)
    actor = e.actor.display_name if e.actor_id is not None and e.actor is not None else None
    texts = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            texts[code] = describe_conversation_event(e.kind, data, actor=actor, comment=e.comment,
                                                      names=names.by_id, inboxes=names.inboxes,
                                                      usernames=names.by_username)
    return texts

