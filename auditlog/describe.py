"""The audit log as sentences people read instead of codes (STYLE §17): one sentence per action code, with names
for the ids and codes stored in each entry's changes. It knows every app's vocabulary (roles, inboxes, lists, close
reasons…), so it lives in the top layer; the helpers every app's `describe` module shares stay in core.describe.

Strings are Spanish sources inside gettext. Every function here runs in the current active language and does no
database work unless it says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Q
from django.utils import formats, timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.choices import Weekday
from accounts.models import Skill, Team, User
from accounts.roles import Role
from core.describe import money, quote, system_actor, yes_no
from core.models import AuditLog
from customers.choices import ConsentChannel, ConsentStatus
from customers.models import Consent, MarketingList
from inbox.choices import Channel, CloseReason
from inbox.models import ClosureReview, Inbox
from leads.choices import Outcome

logger = logging.getLogger(__name__)

# --- the audit log ---------------------------------------------------------------------------------

# Keys of `changes` that are not model fields (or whose model field has no useful label).
def _field_labels() -> dict[str, str]:
    return {
        "reason": _("motivo"), "cycle": _("ciclo"), "outcome": _("resultado"), "verdict": _("veredicto"),
        "teams": _("equipos"), "members": _("miembros"), "skills": _("habilidades"), "skill": _("habilidad"),
        "phones": _("teléfonos"), "emails": _("correos"), "marketing_lists": _("listas de marketing"),
        "queue_lists": _("listas de la cola"), "reservation_roles": _("roles con reserva"),
        "extra_customer_fields": _("datos extra del cliente"), "held_by": _("tomado por"),
        "category": _("categoría"), "hours": _("horario"), "template": _("nota predefinida"), "tags": _("etiquetas"),
        "on_hand": _("existencias"), "set_aside": _("apartadas"), "quantity": _("cantidad"), "total": _("total"),
        "state": _("estado"), "work_status": _("estado"), "auto_assign": _("asignación automática"),
        "name": _("nombre"), "code": _("código"), "events": _("eventos"), "active": _("activo"), "url": _("URL"),
        "price": _("precio"), "message_template": _("mensaje"), "inbox": _("bandeja"), "language": _("idioma"),
        "availability": _("disponibilidad"), "role": _("rol"), "approved": _("plantillas aprobadas"),
    }


_LOOKUP_KINDS: Mapping[str, str] = {
    "members": "user", "held_by": "user", "user": "user", "users": "user", "author": "user", "teams": "team",
    "skills": "skill", "skill": "skill",
    "inbox": "inbox", "marketing_lists": "list", "queue_lists": "list",
}
_SECRET = "***"  # noqa: S105 - the mask actions store instead of a secret's value (connectors.mail)


@dataclass
class AuditLookups:
    """Names for the ids and codes stored in audit changes (user ids/usernames, team ids/codes, skill codes,
    inbox codes, marketing list ids). Built once per page by `audit_lookups`."""

    user: dict[object, str] = field(default_factory=dict)
    team: dict[object, str] = field(default_factory=dict)
    skill: dict[object, str] = field(default_factory=dict)
    inbox: dict[object, str] = field(default_factory=dict)
    list: dict[object, str] = field(default_factory=dict)

    def name(self, kind: str, key: object) -> str | None:
        found: dict[object, str] = getattr(self, kind)
        return found.get(key)


def _normalized_changes(entry: AuditLog) -> dict[str, Any]:
    """`changes` as {field: value or [before, after]}; lead settings store {"before": {…}, "after": {…}}."""
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    before, after = changes.get("before"), changes.get("after")
    if isinstance(before, dict) and isinstance(after, dict):
        keys = list(dict.fromkeys([*before, *after]))
        return {k: [before.get(k), after.get(k)] for k in keys if before.get(k) != after.get(k)}
    return dict(changes)


def _walk_lookup_values(changes: Mapping[str, Any]) -> Iterable[tuple[str, object]]:
    for key, value in changes.items():
        kind = _LOOKUP_KINDS.get(key)
        if kind is None:
            continue
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, int | str) and not isinstance(item, bool) and item != "":
                yield kind, item


def audit_lookups(entries: Iterable[AuditLog]) -> AuditLookups:
    """Resolves every id and code the entries' changes mention: at most one query per kind (users, teams,
    skills, inboxes, marketing lists), none for a kind nothing mentions."""

    wanted: dict[str, set[object]] = {}
    for entry in entries:
        for kind, key in _walk_lookup_values(_normalized_changes(entry)):
            wanted.setdefault(kind, set()).add(key)
    found = AuditLookups()

    def ints(keys: set[object]) -> list[int]:
        return [int(str(k)) for k in keys if isinstance(k, int) or (isinstance(k, str) and k.isdigit())]

    def strs(keys: set[object]) -> list[str]:
        return [k for k in keys if isinstance(k, str)]

    if wanted.get("user"):
        keys = wanted["user"]
        for pk, username, full_name in User.objects.filter(
                Q(pk__in=ints(keys)) | Q(username__in=strs(keys))).values_list("pk", "username", "full_name"):
            found.user[pk] = found.user[username] = full_name or username
    if wanted.get("team"):
        keys = wanted["team"]
        for pk, code, name in Team.objects.filter(Q(pk__in=ints(keys)) | Q(code__in=strs(keys))).values_list(
                "pk", "code", "name"):
            found.team[pk] = found.team[code] = name
    if wanted.get("skill"):
        for pk, code, name in Skill.objects.filter(code__in=strs(wanted["skill"])).values_list("pk", "code", "name"):
            found.skill[pk] = found.skill[code] = name
    if wanted.get("inbox"):
        for code, name in Inbox.objects.filter(code__in=strs(wanted["inbox"])).values_list("code", "name"):
            found.inbox[code] = name
    if wanted.get("list"):
        for pk, name in MarketingList.objects.filter(pk__in=ints(wanted["list"])).values_list("pk", "name"):
            found.list[pk] = name
    return found


def _model(entry: AuditLog) -> type[models.Model] | None:
    if not entry.target_type:
        return None
    try:
        return apps.get_model(entry.target_type)
    except (LookupError, ValueError):
        return None


def _model_field(model: type[models.Model] | None, key: str) -> models.Field[Any, Any] | None:
    if model is None:
        return None
    try:
        found = model._meta.get_field(key)
    except FieldDoesNotExist:
        return None
    return found if isinstance(found, models.Field) else None


class _Formatter:
    """Turns one entry's changes into "campo: antes → después" text, in the current language."""

    def __init__(self, entry: AuditLog, lookups: AuditLookups) -> None:
        self.entry, self.lookups, self.model = entry, lookups, _model(entry)
        self.labels = _field_labels()
        # Whether two-item lists are [before, after]: true for the actions that store a diff, a guess for
        # actions this module does not know (a created object's two tags would otherwise read as a change).
        self.pairs = entry.action not in SNAPSHOT_ACTIONS

    def label(self, key: str) -> str:
        model_field = _model_field(self.model, key)
        if model_field is not None and model_field.verbose_name and key not in ("state", "work_status"):
            return str(model_field.verbose_name)
        return self.labels.get(key) or key.replace("_", " ")

    def value(self, key: str, value: object) -> str:  # noqa: PLR0911 - one return per kind of value
        if value is None or value == "":
            return "—"
        if value == _SECRET:
            return _("(oculto)")
        if isinstance(value, bool):
            return yes_no(value)
        if isinstance(value, list):
            return ", ".join(self.value(key, v) for v in value) if value else "—"
        if isinstance(value, dict):
            return ", ".join(f"{self.label(str(k))}: {self.value(str(k), v)}" for k, v in value.items())
        kind = _LOOKUP_KINDS.get(key)
        if kind is not None:
            name = self.lookups.name(kind, value)
            if name is None and isinstance(value, str) and value.isdigit():
                name = self.lookups.name(kind, int(value))
            return name or (_("(eliminado)") if isinstance(value, int) else str(value))
        if key in ("price", "total", "unit_price") and isinstance(value, str | int | float):
            return money(value)
        choice = _choice_label(self.model, key, value)
        if choice is not None:
            return choice
        model_field = _model_field(self.model, key)
        if isinstance(model_field, models.BooleanField) and value in ("True", "False"):
            return yes_no(value == "True")
        return str(value)

    def change(self, key: str, value: object) -> str:
        if self.pairs and isinstance(value, list) and len(value) == 2:
            before, after = value
            if key == "hours":
                return f"{self.label(key)}: {_hours(after)}"
            if before == _SECRET and after == _SECRET:
                return _("%(field)s: se cambió") % {"field": self.label(key)}
            return f"{self.label(key)}: {self.value(key, before)} → {self.value(key, after)}"
        return f"{self.label(key)}: {self.value(key, value)}"

    def changes(self, changes: Mapping[str, Any], *, skip: Iterable[str] = ()) -> str:
        skipped = set(skip)
        return "; ".join(self.change(k, v) for k, v in sorted(changes.items(), key=lambda kv: self.order(kv[0]))
                         if k not in skipped)

    def order(self, key: str) -> tuple[int, str]:
        """The model's own field order, then the rest by name: the same sentence whatever order the database kept
        the JSON keys in (PostgreSQL's jsonb reorders them)."""
        meta = self.model._meta if self.model is not None else None
        fields = ([f.name for f in meta.concrete_fields] + [f.name for f in meta.many_to_many]
                  + [f.name for f in meta.get_fields()]) if meta is not None else []
        return (fields.index(key), "") if key in fields else (len(fields), key)


def _choice_label(model: type[models.Model] | None, key: str, value: object) -> str | None:
    if key == "reason" and isinstance(value, str) and value in CloseReason.values:
        return str(CloseReason(value).label)
    if key == "verdict" and isinstance(value, str) and value in ClosureReview.Verdict.values:
        return str(ClosureReview.Verdict(value).label)
    if key == "reservation_roles" and isinstance(value, str):
        return str(Role(value).label) if value in Role.values else None
    model_field = _model_field(model, key)
    if model_field is not None and model_field.choices:
        return next((str(label) for v, label in model_field.flatchoices if v == value), None)
    if key == "outcome" and isinstance(value, str):  # a lead note's outcome (the lead has no such field)

        return str(Outcome(value).label) if value in Outcome.values else None
    return None


def _hours(rows: object) -> str:
    """Business hours stored as "weekday:HH:MM-HH:MM", read as day names and times ("Lunes 08:00 a 17:00")."""

    if not isinstance(rows, list) or not rows:
        return _("sin horario")
    parts = []
    for row in rows:
        day, _sep, span = str(row).partition(":")
        label = str(Weekday(int(day)).label) if day.isdigit() and int(day) in Weekday.values else day
        parts.append(f"{label} {span.replace('-', '–')}")
    return ", ".join(parts)


def _target(entry: AuditLog) -> str:
    """How the entry's object reads in a sentence: a conversation by its number, others by their name."""
    if entry.target_type == "inbox.conversation":
        return f"#{entry.target_id}"
    if entry.target_type in ("crm.webhookdelivery", "whatsapp.webhookdelivery", "sms.webhookdelivery",
                             "reports.importjob"):
        return f"#{entry.target_id}"
    return entry.target_repr or (f"#{entry.target_id}" if entry.target_id else "")


# Actions whose changes are a snapshot of values, not {field: [before, after]}.
SNAPSHOT_ACTIONS: frozenset[str] = frozenset({
    "user.created", "inbox.created", "note_template.saved", "webchat.site_created", "product.created",
    "stock.received", "stock.adjusted", "demo.catalog_seeded", "demo.seeded", "kommo.sync_retried",
    "kommo.connected", "webhook_endpoint.saved", "webhook.retried", "history.import_started",
    "conversation.closed", "conversation.closure_reviewed", "whatsapp.connected", "whatsapp.templates_synced",
    "sms.connected", "sms.updated",
    "lead.note_added", "api_token.created", "auth.login_failed", "customer.merged", "message.delivery_retried",
})
_COMMAND_ACTORS = frozenset({"", "manage.py", "seed_demo", "manage.py seed_demo", "mail_connect"})


def _actor(entry: AuditLog) -> str:
    if entry.actor_id is not None and entry.actor is not None:
        return entry.actor.display_name
    name = entry.actor_username
    if name in _COMMAND_ACTORS or name.startswith("manage.py"):
        return system_actor()
    return name  # a person whose account was deleted: the name they had


_Sentence = Callable[["_Context"], str]


@dataclass
class _Context:
    entry: AuditLog
    actor: str
    target: str
    changes: dict[str, Any]
    fmt: _Formatter

    def get(self, key: str) -> Any:
        return self.changes.get(key)

    def pair(self, key: str) -> tuple[Any, Any]:
        value = self.changes.get(key)
        if isinstance(value, list) and len(value) == 2:
            return value[0], value[1]
        return None, value

    def rest(self, *consumed: str) -> str:
        return self.fmt.changes(self.changes, skip=consumed)

    def with_rest(self, sentence: str, *consumed: str) -> str:
        rest = self.rest(*consumed)
        return f"{sentence}: {rest}" if rest else sentence

    @property
    def self_target(self) -> bool:
        return self.entry.actor_id is not None and self.entry.target_type == "accounts.user" \
            and self.entry.target_id == str(self.entry.actor_id)


def _args(c: _Context, **extra: object) -> dict[str, object]:
    return {"actor": c.actor, "target": c.target, **extra}


def _count(value: object) -> int:
    return len(value) if isinstance(value, list) else 0


def _day(value: object) -> str:
    """An ISO date stored in changes ("2026-12-31") as the reader writes dates; as stored if it is not one."""
    parsed = parse_date(str(value or ""))
    return formats.date_format(parsed, "SHORT_DATE_FORMAT") if parsed else str(value or "")


def _moment(value: object) -> str:
    """An ISO instant stored in changes, in the local time zone as the reader writes it; as stored if it is not one."""
    parsed = parse_datetime(str(value or ""))
    if parsed is None:
        return str(value or "")
    return formats.date_format(timezone.localtime(parsed) if timezone.is_aware(parsed) else parsed,
                               "SHORT_DATETIME_FORMAT")


def _lead_reason(reason: object) -> str:
    reasons = {"note": _("al registrar una nota"), "closed": _("al cerrar el lead"),
               "reopened": _("al reabrir el lead"),
               "back in the to-call stage in Kommo": _("porque volvió a la etapa «Para Llamar» en Kommo")}
    return reasons.get(str(reason or ""), "")


def _sentences() -> dict[str, _Sentence]:
    def login(c: _Context) -> str:
        return _("%(actor)s inició sesión") % _args(c)

    def logout(c: _Context) -> str:
        return _("%(actor)s cerró sesión") % _args(c)

    def login_failed(c: _Context) -> str:
        return _("Intento fallido de inicio de sesión con el usuario %(username)s") % {
            "username": quote(c.get("username") or c.entry.actor_username)}

    def user_created(c: _Context) -> str:
        return c.with_rest(_("%(actor)s creó el usuario %(target)s") % _args(c))

    def user_updated(c: _Context) -> str:
        return c.with_rest(_("%(actor)s actualizó el usuario %(target)s") % _args(c))

    def role_changed(c: _Context) -> str:
        before, after = c.pair("role")
        return _("%(actor)s cambió el rol de %(target)s de %(before)s a %(after)s") % _args(
            c, before=c.fmt.value("role", before), after=c.fmt.value("role", after))

    def password_set(c: _Context) -> str:
        if c.self_target:
            return _("%(actor)s cambió su contraseña") % _args(c)
        return _("%(actor)s cambió la contraseña de %(target)s") % _args(c)

    def language_changed(c: _Context) -> str:
        before, after = c.pair("language")
        values = {"before": c.fmt.value("language", before), "after": c.fmt.value("language", after)}
        if c.self_target:
            return _("%(actor)s cambió su idioma de %(before)s a %(after)s") % _args(c, **values)
        return _("%(actor)s cambió el idioma de %(target)s de %(before)s a %(after)s") % _args(c, **values)

    def availability_changed(c: _Context) -> str:
        before, after = c.pair("availability")
        values = {"before": c.fmt.value("availability", before), "after": c.fmt.value("availability", after)}
        if c.self_target:
            return _("%(actor)s pasó de %(before)s a %(after)s") % _args(c, **values)
        return _("%(actor)s cambió la disponibilidad de %(target)s de %(before)s a %(after)s") % _args(c, **values)

    def notifications_changed(c: _Context) -> str:
        if c.self_target:
            return c.with_rest(_("%(actor)s cambió sus avisos") % _args(c))
        return c.with_rest(_("%(actor)s cambió los avisos de %(target)s") % _args(c))

    def team_created(c: _Context) -> str:
        return _("%(actor)s creó el equipo %(target)s") % _args(c)

    def team_updated(c: _Context) -> str:
        return c.with_rest(_("%(actor)s actualizó el equipo %(target)s") % _args(c))

    def hours_set(c: _Context) -> str:
        _before, after = c.pair("hours")
        return _("%(actor)s cambió el horario del equipo %(target)s: %(hours)s") % _args(c, hours=_hours(after))

    def holiday_created(c: _Context) -> str:
        return _("%(actor)s agregó el feriado %(target)s") % _args(c)

    def holiday_deleted(c: _Context) -> str:
        return _("%(actor)s eliminó el feriado %(target)s") % _args(c)

    def skill_created(c: _Context) -> str:
        return _("%(actor)s creó la habilidad %(target)s") % _args(c)

    def token_created(c: _Context) -> str:
        owner = c.fmt.value("user", c.get("user")) if c.get("user") else ""
        if owner:
            return _("%(actor)s creó el token de API %(target)s para %(owner)s") % _args(c, owner=owner)
        return _("%(actor)s creó el token de API %(target)s") % _args(c)

    def token_revoked(c: _Context) -> str:
        return _("%(actor)s revocó el token de API %(target)s") % _args(c)

    def process_dismissed(c: _Context) -> str:
        return _("%(actor)s descartó el aviso del proceso de fondo %(process)s") % _args(
            c, process=quote(str(c.get("process") or c.target)))

    def settings_updated(c: _Context) -> str:
        return c.with_rest(_("%(actor)s cambió la configuración de la organización") % _args(c))

    def product_created(c: _Context) -> str:
        return _("%(actor)s creó el producto %(target)s (precio: %(price)s)") % _args(c, price=money(c.get("price")))

    def product_updated(c: _Context) -> str:
        return c.with_rest(_("%(actor)s actualizó el producto %(target)s") % _args(c))

    def stock_received(c: _Context) -> str:
        n = int(c.get("quantity") or 0)
        text = ngettext("%(actor)s recibió %(n)d unidad de %(target)s",
                        "%(actor)s recibió %(n)d unidades de %(target)s", n) % _args(c, n=n)
        reason = c.get("reason")
        return _("%(text)s (motivo: %(reason)s)") % {"text": text, "reason": quote(reason)} if reason else text

    def stock_adjusted(c: _Context) -> str:
        text = _("%(actor)s ajustó el stock de %(target)s: existencias %(on_hand)+d, apartadas %(set_aside)+d") % _args(
            c, on_hand=int(c.get("on_hand") or 0), set_aside=int(c.get("set_aside") or 0))
        reason = c.get("reason")
        return _("%(text)s (motivo: %(reason)s)") % {"text": text, "reason": quote(reason)} if reason else text

    def catalog_seeded(c: _Context) -> str:
        n = int(c.get("products") or 0)
        return ngettext("%(actor)s cargó el catálogo de demostración (%(n)d producto)",
                        "%(actor)s cargó el catálogo de demostración (%(n)d productos)", n) % _args(c, n=n)

    def demo_seeded(c: _Context) -> str:
        return _("%(actor)s cargó los datos de demostración") % _args(c)

    def kommo_sync_retried(c: _Context) -> str:
        n = _count(c.get("ids"))
        return ngettext("%(actor)s reintentó %(n)d sincronización con Kommo",
                        "%(actor)s reintentó %(n)d sincronizaciones con Kommo", n) % _args(c, n=n)

    def kommo_connected(c: _Context) -> str:
        return _("%(actor)s conectó la cuenta de Kommo %(target)s (etapa para llamar: %(to_call)s; etapa de venta "
                 "confirmada: %(confirmed)s)") % _args(c, to_call=quote(c.get("to_call") or "—"),
                                                     confirmed=quote(c.get("confirmed") or "—"))

    def kommo_secret_rotated(c: _Context) -> str:
        return _("%(actor)s cambió la clave secreta del webhook de Kommo") % _args(c)

    def kommo_webhook_retried(c: _Context) -> str:
        return _("%(actor)s volvió a procesar el webhook de Kommo %(target)s") % _args(c)

    def order_created(c: _Context) -> str:
        return _("%(actor)s creó el pedido %(target)s") % _args(c)

    def order_confirmed(c: _Context) -> str:
        total = c.get("total")
        if total is None:
            return _("%(actor)s confirmó el pedido %(target)s") % _args(c)
        return _("%(actor)s confirmó el pedido %(target)s por %(total)s") % _args(c, total=money(total))

    def order_cancelled(c: _Context) -> str:
        reason = c.get("reason")
        if reason:
            return _("%(actor)s canceló el pedido %(target)s (motivo: %(reason)s)") % _args(c, reason=quote(reason))
        return _("%(actor)s canceló el pedido %(target)s") % _args(c)

    def order_dispatched(c: _Context) -> str:
        return _("%(actor)s marcó como despachado el pedido %(target)s") % _args(c)

    def customer_updated(c: _Context) -> str:
        return c.with_rest(_("%(actor)s actualizó el cliente %(target)s") % _args(c))

    def quick_reply_created(c: _Context) -> str:
        return _("%(actor)s creó la respuesta rápida %(target)s") % _args(c)

    def quick_reply_updated(c: _Context) -> str:
        return c.with_rest(_("%(actor)s cambió la respuesta rápida %(target)s") % _args(c))

    def quick_reply_deleted(c: _Context) -> str:
        return _("%(actor)s borró la respuesta rápida %(target)s") % _args(c)

    def sla_policies_updated(c: _Context) -> str:
        channels = dict(Channel.choices)
        names = []
        for key, value in c.changes.items():
            channel, _sep, inbox = str(key).partition("/")  # the inbox's name when it changed
            name = str(channels.get(channel, channel))
            name = f"{name} · {inbox}" if inbox else name
            names.append(_("%s (borrada)") % name if isinstance(value, dict) and value.get("deleted") else name)
        return _("%(actor)s cambió los niveles de servicio de %(what)s") % _args(c, what=", ".join(names))

    def automation_rule_created(c: _Context) -> str:
        if c.get("active"):
            return _("%(actor)s creó la regla de automatización %(target)s, activa") % _args(c)
        return _("%(actor)s creó la regla de automatización %(target)s") % _args(c)

    def automation_rule_updated(c: _Context) -> str:
        active = c.changes.get("active")
        if isinstance(active, list) and len(active) == 2 and len(c.changes) == 1:
            if active[1]:
                return _("%(actor)s activó la regla de automatización %(target)s") % _args(c)
            return _("%(actor)s desactivó la regla de automatización %(target)s") % _args(c)
        return _("%(actor)s cambió la regla de automatización %(target)s") % _args(c)

    def automation_rule_deleted(c: _Context) -> str:
        return _("%(actor)s borró la regla de automatización %(target)s") % _args(c)

    def sequence_created(c: _Context) -> str:
        return _("%(actor)s creó la secuencia %(target)s") % _args(c)

    def sequence_updated(c: _Context) -> str:
        return _("%(actor)s cambió la secuencia %(target)s") % _args(c)

    def sequence_deleted(c: _Context) -> str:
        return _("%(actor)s borró la secuencia %(target)s") % _args(c)

    def list_created(c: _Context) -> str:
        return _("%(actor)s creó la lista de marketing %(target)s") % _args(c)

    def customer_created(c: _Context) -> str:
        return _("%(actor)s creó el cliente %(target)s") % _args(c)

    def consent_changed(c: _Context) -> str:
        channel = str(dict(ConsentChannel.choices).get(str(c.get("channel")), c.get("channel") or ""))
        status = c.changes.get("status")
        accepted = isinstance(status, list) and status[-1] == ConsentStatus.OPTED_IN
        if accepted:
            source = c.get("source")
            if source:
                return (_("%(actor)s registró que %(target)s acepta campañas por %(channel)s (origen: %(source)s)")
                        % _args(c, channel=channel, source=quote(str(source))))
            return _("%(actor)s registró que %(target)s acepta campañas por %(channel)s") % _args(c, channel=channel)
        method = dict(Consent.Method.choices).get(str(c.get("method")), "")
        if method:
            return (_("%(actor)s registró la baja de %(target)s de las campañas por %(channel)s (%(method)s)")
                    % _args(c, channel=channel, method=str(method)))
        return _("%(actor)s registró la baja de %(target)s de las campañas por %(channel)s") % _args(c, channel=channel)

    def segment_created(c: _Context) -> str:
        return _("%(actor)s creó el segmento de clientes %(target)s") % _args(c)

    def segment_updated(c: _Context) -> str:
        return _("%(actor)s cambió el segmento de clientes %(target)s") % _args(c)

    def segment_deleted(c: _Context) -> str:
        return _("%(actor)s borró el segmento de clientes %(target)s") % _args(c)

    def campaign_created(c: _Context) -> str:
        return _("%(actor)s creó la campaña %(target)s") % _args(c)

    def campaign_updated(c: _Context) -> str:
        return _("%(actor)s editó la campaña %(target)s") % _args(c)

    def campaign_launched(c: _Context) -> str:
        recipients = c.get("recipients")
        if isinstance(recipients, int):
            return _("%(actor)s lanzó la campaña %(target)s para %(n)s clientes") % _args(c, n=recipients)
        return _("%(actor)s lanzó la campaña %(target)s") % _args(c)

    def campaign_tested(c: _Context) -> str:
        return _("%(actor)s envió una prueba de la campaña %(target)s") % _args(c)

    def campaign_paused(c: _Context) -> str:
        return _("%(actor)s pausó la campaña %(target)s") % _args(c)

    def campaign_resumed(c: _Context) -> str:
        return _("%(actor)s reanudó la campaña %(target)s") % _args(c)

    def campaign_cancelled(c: _Context) -> str:
        return _("%(actor)s canceló la campaña %(target)s") % _args(c)

    def campaign_unscheduled(c: _Context) -> str:
        return _("%(actor)s devolvió a borrador la campaña programada %(target)s") % _args(c)

    def campaign_settings(c: _Context) -> str:
        return _("%(actor)s cambió la configuración de campañas") % _args(c)

    def chat_channel_created(c: _Context) -> str:
        return c.with_rest(_("%(actor)s creó el canal del chat %(target)s") % _args(c), "name", "kind")

    def chat_channel_updated(c: _Context) -> str:
        return c.with_rest(_("%(actor)s cambió el canal del chat %(target)s") % _args(c))

    def chat_channel_archived(c: _Context) -> str:
        return _("%(actor)s archivó el canal del chat %(target)s") % _args(c)

    def chat_channel_unarchived(c: _Context) -> str:
        return _("%(actor)s reactivó el canal del chat %(target)s") % _args(c)

    def chat_member_added(c: _Context) -> str:
        names = c.fmt.value("users", c.get("users") or [])
        reason = c.get("reason")
        if reason == "joined":
            return _("%(actor)s se unió al canal del chat %(target)s") % _args(c)
        if reason == "team":
            return _("%(names)s entró al canal del chat %(target)s con su equipo") % _args(c, names=names)
        return _("%(actor)s agregó a %(names)s al canal del chat %(target)s") % _args(c, names=names)

    def chat_member_removed(c: _Context) -> str:
        names = c.fmt.value("users", c.get("users") or [])
        reason = c.get("reason")
        if reason == "left":
            return _("%(actor)s salió del canal del chat %(target)s") % _args(c)
        if reason == "team":
            return _("%(names)s salió del canal del chat %(target)s al dejar su equipo") % _args(c, names=names)
        return _("%(actor)s quitó a %(names)s del canal del chat %(target)s") % _args(c, names=names)

    def chat_member_role(c: _Context) -> str:
        name = c.fmt.value("user", c.get("user"))
        if c.get("role") == "propietario":
            return _("%(actor)s hizo a %(name)s propietario del canal del chat %(target)s") % _args(c, name=name)
        return _("%(actor)s quitó a %(name)s como propietario del canal del chat %(target)s") % _args(c, name=name)

    def chat_message_deleted(c: _Context) -> str:
        author = c.get("author")
        if author is not None and c.entry.actor_id == author:
            return _("%(actor)s borró un mensaje suyo en el chat %(target)s") % _args(c)
        return _("%(actor)s borró un mensaje de %(author)s en el chat %(target)s") % _args(
            c, author=c.fmt.value("author", author))

    def chat_messages_purged(c: _Context) -> str:
        return ngettext("%(actor)s borró %(n)d mensaje del chat con más de %(days)s días (plazo de conservación)",
                        "%(actor)s borró %(n)d mensajes del chat con más de %(days)s días (plazo de conservación)",
                        int(c.get("messages") or 0)) % _args(c, n=int(c.get("messages") or 0),
                                                             days=c.get("retention_days"))

    def chat_retention(c: _Context) -> str:
        before, after = c.pair("retention_days")
        return _("%(actor)s cambió el plazo de conservación de los mensajes del chat de %(before)s a %(after)s días "
                 "(0: siempre)") % _args(c, before=before, after=after)

    def article_created(c: _Context) -> str:
        return _("%(actor)s escribió el artículo de ayuda %(target)s") % _args(c)

    def article_updated(c: _Context) -> str:
        return _("%(actor)s editó el artículo de ayuda %(target)s") % _args(c)

    def article_published(c: _Context) -> str:
        return _("%(actor)s publicó el artículo de ayuda %(target)s") % _args(c)

    def article_unpublished(c: _Context) -> str:
        return _("%(actor)s devolvió a borrador el artículo de ayuda %(target)s") % _args(c)

    def article_deleted(c: _Context) -> str:
        return _("%(actor)s borró el artículo de ayuda %(target)s") % _args(c)

    def article_category_saved(c: _Context) -> str:
        before, after = c.pair("name")
        if before and after and before != after:
            return _("%(actor)s renombró la categoría de artículos %(before)s a %(after)s") % _args(
                c, before=quote(before), after=quote(after))
        if not before and after:
            return _("%(actor)s creó la categoría de artículos %(target)s") % _args(c)
        return _("%(actor)s cambió la categoría de artículos %(target)s") % _args(c)

    def article_category_deleted(c: _Context) -> str:
        return _("%(actor)s borró la categoría de artículos %(target)s") % _args(c)

    def announcement_created(c: _Context) -> str:
        return _("%(actor)s escribió el anuncio %(target)s") % _args(c)

    def announcement_updated(c: _Context) -> str:
        _before, after = c.pair("pinned_until")
        if set(c.changes) == {"pinned_until"} and after:
            return _("%(actor)s fijó el anuncio %(target)s hasta el %(date)s") % _args(c, date=_day(after))
        if set(c.changes) == {"pinned_until"}:
            return _("%(actor)s dejó de fijar el anuncio %(target)s") % _args(c)
        return _("%(actor)s editó el anuncio %(target)s") % _args(c)

    def announcement_scheduled(c: _Context) -> str:
        return _("%(actor)s programó el anuncio %(target)s para el %(when)s") % _args(
            c, when=_moment(c.get("publish_at")))

    def announcement_unscheduled(c: _Context) -> str:
        return _("%(actor)s devolvió a borrador el anuncio programado %(target)s") % _args(c)

    def announcement_published(c: _Context) -> str:
        n = int(c.get("recipients") or 0)
        if c.get("scheduled"):
            return ngettext("El anuncio %(target)s se publicó a la hora programada para %(n)d persona",
                            "El anuncio %(target)s se publicó a la hora programada para %(n)d personas",
                            n) % _args(c, n=n)
        return ngettext("%(actor)s publicó el anuncio %(target)s para %(n)d persona",
                        "%(actor)s publicó el anuncio %(target)s para %(n)d personas", n) % _args(c, n=n)

    def announcement_archived(c: _Context) -> str:
        return _("%(actor)s archivó el anuncio %(target)s") % _args(c)

    def announcement_deleted(c: _Context) -> str:
        return _("%(actor)s borró el anuncio %(target)s") % _args(c)

    def announcement_reminded(c: _Context) -> str:
        n = int(c.get("recipients") or 0)
        return ngettext("%(actor)s recordó el anuncio %(target)s a %(n)d persona que no lo había confirmado",
                        "%(actor)s recordó el anuncio %(target)s a %(n)d personas que no lo habían confirmado",
                        n) % _args(c, n=n)

    def bot_flow_created(c: _Context) -> str:
        return _("%(actor)s creó el flujo del bot %(target)s") % _args(c)

    def bot_flow_saved(c: _Context) -> str:
        return _("%(actor)s editó el flujo del bot %(target)s") % _args(c)

    def bot_flow_published(c: _Context) -> str:
        _before, after = c.pair("version")
        return _("%(actor)s publicó la versión %(version)s del flujo del bot %(target)s") % _args(
            c, version=after or "?")

    def bot_flow_deleted(c: _Context) -> str:
        return _("%(actor)s borró el flujo del bot %(target)s") % _args(c)

    def customer_merged(c: _Context) -> str:
        merged = c.get("merged")
        name = merged[1] if isinstance(merged, list) and len(merged) == 2 else ""
        if name:
            return _("%(actor)s fusionó el cliente duplicado %(name)s en %(target)s") % _args(c, name=quote(name))
        return _("%(actor)s fusionó un cliente duplicado en %(target)s") % _args(c)

    def lead_status(c: _Context) -> str:
        before, after = c.pair("work_status")
        why = _lead_reason(c.get("reason"))
        text = _("%(actor)s cambió el estado del lead %(target)s de %(before)s a %(after)s") % _args(
            c, before=c.fmt.value("work_status", before), after=c.fmt.value("work_status", after))
        return f"{text} {why}" if why else text

    def lead_note(c: _Context) -> str:
        outcome = c.fmt.value("outcome", c.get("outcome")) if c.get("outcome") else ""
        text = _("%(actor)s agregó una nota al lead %(target)s") % _args(c)
        if outcome:
            text = _("%(text)s (resultado: %(outcome)s)") % {"text": text, "outcome": outcome}
        if c.get("template"):
            text = _("%(text)s con la nota predefinida %(template)s") % {"text": text,
                                                                         "template": quote(c.get("template"))}
        return text

    def lead_released(c: _Context) -> str:
        before, _after = c.pair("held_by")
        if before:
            return _("%(actor)s liberó el lead %(target)s, que tenía %(holder)s") % _args(
                c, holder=c.fmt.value("held_by", before))
        return _("%(actor)s liberó el lead %(target)s") % _args(c)

    def lead_reassigned(c: _Context) -> str:
        before, after = c.pair("held_by")
        to = c.fmt.value("held_by", after)
        if before:
            return _("%(actor)s reasignó el lead %(target)s de %(before)s a %(after)s") % _args(
                c, before=c.fmt.value("held_by", before), after=to)
        return _("%(actor)s asignó el lead %(target)s a %(after)s") % _args(c, after=to)

    def lead_taken(c: _Context) -> str:
        return _("%(actor)s tomó el lead %(target)s") % _args(c)

    def template_saved(c: _Context) -> str:
        return c.with_rest(_("%(actor)s guardó la nota predefinida %(target)s") % _args(c))

    def lead_settings(c: _Context) -> str:
        return c.with_rest(_("%(actor)s cambió la configuración de la cola de leads") % _args(c))

    def mailbox_created(c: _Context) -> str:
        return _("%(actor)s agregó el buzón de correo %(target)s") % _args(c)

    def mailbox_updated(c: _Context) -> str:
        return c.with_rest(_("%(actor)s cambió el buzón de correo %(target)s") % _args(c))

    def mail_token_rotated(c: _Context) -> str:
        return _("%(actor)s cambió el token del webhook del buzón %(target)s") % _args(c)

    def site_created(c: _Context) -> str:
        return _("%(actor)s creó el chat web %(target)s") % _args(c)

    def site_updated(c: _Context) -> str:
        return c.with_rest(_("%(actor)s cambió el chat web %(target)s") % _args(c))

    def site_token_rotated(c: _Context) -> str:
        return _("%(actor)s cambió el token del chat web %(target)s") % _args(c)

    def wa_template_updated(c: _Context) -> str:
        return _("%(actor)s cambió el mensaje del enlace de WhatsApp") % _args(c)

    def wa_connected(c: _Context) -> str:
        inbox = c.get("inbox")
        if inbox:
            return _("%(actor)s conectó el número de WhatsApp %(target)s a la bandeja %(inbox)s") % _args(
                c, inbox=c.fmt.value("inbox", inbox))
        return _("%(actor)s conectó el número de WhatsApp %(target)s") % _args(c)

    def wa_activated(c: _Context) -> str:
        return _("%(actor)s activó el número de WhatsApp %(target)s") % _args(c)

    def wa_deactivated(c: _Context) -> str:
        return _("%(actor)s desactivó el número de WhatsApp %(target)s") % _args(c)

    def wa_templates_synced(c: _Context) -> str:
        n = int(c.get("approved") or 0)
        return ngettext("%(actor)s sincronizó las plantillas de WhatsApp de %(target)s (%(n)d aprobada)",
                        "%(actor)s sincronizó las plantillas de WhatsApp de %(target)s (%(n)d aprobadas)",
                        n) % _args(c, n=n)

    def wa_webhook_retried(c: _Context) -> str:
        return _("%(actor)s volvió a procesar el webhook de WhatsApp %(target)s") % _args(c)

    def sms_connected(c: _Context) -> str:
        inbox = c.get("inbox")
        if inbox:
            return _("%(actor)s conectó la cuenta de SMS %(target)s a la bandeja %(inbox)s") % _args(
                c, inbox=c.fmt.value("inbox", inbox))
        return _("%(actor)s conectó la cuenta de SMS %(target)s") % _args(c)

    def sms_updated(c: _Context) -> str:
        return _("%(actor)s editó la cuenta de SMS %(target)s") % _args(c)

    def sms_activated(c: _Context) -> str:
        return _("%(actor)s activó la cuenta de SMS %(target)s") % _args(c)

    def sms_deactivated(c: _Context) -> str:
        return _("%(actor)s desactivó la cuenta de SMS %(target)s") % _args(c)

    def sms_webhook_retried(c: _Context) -> str:
        return _("%(actor)s volvió a procesar el webhook de SMS %(target)s") % _args(c)

    def endpoint_saved(c: _Context) -> str:
        n = _count(c.get("events"))
        active = _("activo") if c.get("active") else _("inactivo")
        return ngettext("%(actor)s guardó el webhook saliente %(target)s (%(n)d evento, %(active)s)",
                        "%(actor)s guardó el webhook saliente %(target)s (%(n)d eventos, %(active)s)",
                        n) % _args(c, n=n, active=active)

    def webhook_retried(c: _Context) -> str:
        n = _count(c.get("ids"))
        return ngettext("%(actor)s reintentó %(n)d envío de webhook", "%(actor)s reintentó %(n)d envíos de webhook",
                        n) % _args(c, n=n)

    def import_started(c: _Context) -> str:
        return _("%(actor)s inició la importación del historial %(target)s (archivo %(file)s)") % _args(
            c, file=quote(str(c.get("conversations") or "").rsplit("/", 1)[-1] or "—"))

    def conversation_closed(c: _Context) -> str:
        text = _("%(actor)s cerró la conversación %(target)s (motivo: %(reason)s)") % _args(
            c, reason=c.fmt.value("reason", c.get("reason")))
        if c.get("outcome"):
            text = _("%(text)s; resultado: %(outcome)s") % {"text": text,
                                                            "outcome": c.fmt.value("outcome", c.get("outcome"))}
        return text

    def delivery_retried(c: _Context) -> str:
        error = str(c.get("error") or "").strip()
        if error:
            return _("%(actor)s reintentó el envío fallido de una respuesta en la conversación %(target)s "
                     "(%(error)s)") % _args(c, error=quote(error))
        return _("%(actor)s reintentó el envío fallido de una respuesta en la conversación %(target)s") % _args(c)

    def closure_reviewed(c: _Context) -> str:
        return _("%(actor)s revisó el cierre de la conversación %(target)s (ciclo %(cycle)s): %(verdict)s") % _args(
            c, cycle=c.get("cycle") or 1, verdict=c.fmt.value("verdict", c.get("verdict")))

    def inbox_created(c: _Context) -> str:
        return c.with_rest(_("%(actor)s creó la bandeja %(target)s") % _args(c), "name", "code")

    def inbox_updated(c: _Context) -> str:
        return c.with_rest(_("%(actor)s cambió la bandeja %(target)s") % _args(c))

    def category_created(c: _Context) -> str:
        _before, name = c.pair("category")
        return _("%(actor)s agregó la categoría %(name)s a la bandeja %(target)s") % _args(c, name=quote(name))

    def category_renamed(c: _Context) -> str:
        before, after = c.pair("category")
        return _("%(actor)s renombró la categoría %(before)s de la bandeja %(target)s a %(after)s") % _args(
            c, before=quote(before), after=quote(after))

    def category_deleted(c: _Context) -> str:
        name, _after = c.pair("category")
        return _("%(actor)s eliminó la categoría %(name)s de la bandeja %(target)s") % _args(c, name=quote(name))

    return {
        "auth.login": login, "auth.logout": logout, "auth.login_failed": login_failed,
        "user.created": user_created, "user.updated": user_updated, "user.role_changed": role_changed,
        "user.password_set": password_set, "user.language_changed": language_changed,
        "user.availability_changed": availability_changed, "user.notifications_changed": notifications_changed,
        "team.created": team_created, "team.updated": team_updated, "team.hours_set": hours_set,
        "holiday.created": holiday_created, "holiday.deleted": holiday_deleted, "skill.created": skill_created,
        "api_token.created": token_created, "api_token.revoked": token_revoked, "settings.updated": settings_updated,
        "system.process_dismissed": process_dismissed,
        "product.created": product_created, "product.updated": product_updated, "stock.received": stock_received,
        "stock.adjusted": stock_adjusted, "demo.catalog_seeded": catalog_seeded, "demo.seeded": demo_seeded,
        "kommo.sync_retried": kommo_sync_retried, "kommo.connected": kommo_connected,
        "kommo.webhook_secret_rotated": kommo_secret_rotated, "kommo.webhook_retried": kommo_webhook_retried,
        "order.created": order_created, "order.confirmado": order_confirmed, "order.cancelado": order_cancelled,
        "order.despachado": order_dispatched, "customer.updated": customer_updated,
        "marketing_list.created": list_created, "customer.merged": customer_merged,
        "customer.created": customer_created, "customer.consent_changed": consent_changed,
        "segment.created": segment_created, "segment.updated": segment_updated, "segment.deleted": segment_deleted,
        "campaign.created": campaign_created, "campaign.updated": campaign_updated,
        "campaign.launched": campaign_launched, "campaign.tested": campaign_tested, "campaign.paused": campaign_paused,
        "campaign.resumed": campaign_resumed, "campaign.cancelled": campaign_cancelled,
        "campaign.unscheduled": campaign_unscheduled, "campaign.settings_updated": campaign_settings,
        "chat_channel.created": chat_channel_created, "chat_channel.updated": chat_channel_updated,
        "chat_channel.archived": chat_channel_archived, "chat_channel.unarchived": chat_channel_unarchived,
        "chat_member.added": chat_member_added, "chat_member.removed": chat_member_removed,
        "chat_member.role_changed": chat_member_role, "chat_message.deleted": chat_message_deleted,
        "chat_message.purged": chat_messages_purged, "chat_settings.retention": chat_retention,
        "article.created": article_created, "article.updated": article_updated,
        "article.published": article_published, "article.unpublished": article_unpublished,
        "article.deleted": article_deleted, "article_category.saved": article_category_saved,
        "article_category.deleted": article_category_deleted,
        "announcement.created": announcement_created, "announcement.updated": announcement_updated,
        "announcement.scheduled": announcement_scheduled, "announcement.unscheduled": announcement_unscheduled,
        "announcement.published": announcement_published, "announcement.archived": announcement_archived,
        "announcement.deleted": announcement_deleted, "announcement.reminded": announcement_reminded,
        "bot_flow.created": bot_flow_created, "bot_flow.saved": bot_flow_saved,
        "bot_flow.published": bot_flow_published, "bot_flow.deleted": bot_flow_deleted,
        "quick_reply.created": quick_reply_created, "quick_reply.updated": quick_reply_updated,
        "quick_reply.deleted": quick_reply_deleted, "sla_policies.updated": sla_policies_updated,
        "automation_rule.created": automation_rule_created, "automation_rule.updated": automation_rule_updated,
        "automation_rule.deleted": automation_rule_deleted, "sequence.created": sequence_created,
        "sequence.updated": sequence_updated, "sequence.deleted": sequence_deleted,
        "lead.status_changed": lead_status, "lead.note_added": lead_note, "lead.released": lead_released,
        "lead.reassigned": lead_reassigned, "lead.taken": lead_taken, "note_template.saved": template_saved,
        "lead_settings.updated": lead_settings, "mail.mailbox_created": mailbox_created,
        "mail.mailbox_updated": mailbox_updated, "mail.webhook_token_rotated": mail_token_rotated,
        "webchat.site_created": site_created, "webchat.site_updated": site_updated,
        "webchat.site_token_rotated": site_token_rotated, "webchat.whatsapp_template_updated": wa_template_updated,
        "whatsapp.connected": wa_connected, "whatsapp.activated": wa_activated, "whatsapp.deactivated": wa_deactivated,
        "whatsapp.templates_synced": wa_templates_synced, "whatsapp.webhook_retried": wa_webhook_retried,
        "sms.connected": sms_connected, "sms.updated": sms_updated, "sms.activated": sms_activated,
        "sms.deactivated": sms_deactivated, "sms.webhook_retried": sms_webhook_retried,
        "webhook_endpoint.saved": endpoint_saved, "webhook.retried": webhook_retried,
        "history.import_started": import_started, "conversation.closed": conversation_closed,
        "conversation.closure_reviewed": closure_reviewed, "message.delivery_retried": delivery_retried,
        "inbox.created": inbox_created,
        "inbox.updated": inbox_updated, "inbox.category_created": category_created,
        "inbox.category_renamed": category_renamed, "inbox.category_deleted": category_deleted,
    }


def describe_audit(entry: AuditLog, *, lookups: AuditLookups | None = None) -> str:
    """One audit entry as a sentence in the current language, e.g. "Fernanda Cárdenas cerró la conversación
    #123 (motivo: El cliente recibió una respuesta clara)". Changes read "campo: antes → después" with the
    field's label; never a Python repr. Without `lookups` the ids in this entry's changes are resolved with
    a few queries; pages pass `audit_lookups(entries)` (or call `annotate_audit`) to resolve them once."""
    if lookups is None:
        lookups = audit_lookups([entry])
    context = _Context(entry=entry, actor=_actor(entry), target=_target(entry),
                       changes=_normalized_changes(entry), fmt=_Formatter(entry, lookups))
    # The table is built per call: gettext must run in the language active at this moment.
    sentence = _sentences().get(entry.action)
    if sentence is not None:
        try:
            return sentence(context)
        except (TypeError, ValueError, KeyError, AttributeError):
            # An entry written before its action's shape changed: fall back to the generic sentence. Only
            # the action code is logged (changes may hold personal data).
            logger.warning("audit entry %s (%s) did not fit its sentence", entry.pk, entry.action)
    else:
        logger.info("no sentence for audit action %s", entry.action)
    if context.target:
        text = _("%(actor)s registró un cambio en %(target)s") % _args(context)
    elif entry.actor_id is not None:
        text = _("%(actor)s registró un cambio") % _args(context)
    else:
        text = _("Cambio registrado")
    try:
        rest = context.rest()
    except (TypeError, ValueError, KeyError, AttributeError):
        rest = ""
    return f"{text}: {rest}" if rest else text


def origin_label(via: str) -> str:
    """Where an audited change came from (core.request_context.RequestOrigin.via), as people say it."""
    labels = {"web": _("Web"), "api": _("API"), "worker": _("Tarea en segundo plano"), "command": _("Comando"),
              "websocket": _("Tiempo real"), "system": _("Sistema")}
    return labels.get(via, via)


def annotate_audit(entries: Sequence[AuditLog]) -> None:
    """Sets `entry.text` (the sentence) and `entry.origin` (where it came from) on each entry, in the current
    language. Names are resolved in at most one query per kind of id; the entries' actors should come with
    `select_related("actor")`."""
    lookups = audit_lookups(entries)
    for entry in entries:
        entry.text = describe_audit(entry, lookups=lookups)  # type: ignore[attr-defined]
        entry.origin = origin_label(entry.via)  # type: ignore[attr-defined]


DESCRIBED_ACTIONS = frozenset(_sentences())
