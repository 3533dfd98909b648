"""The declared vocabulary of automation rules: which conditions and actions exist, what each takes, and how a
stored rule is validated (check_save_rule) and read back as sentences (the rule page, the runs, the test box).

A condition is {"field", "op", "value"}: `value` is a list of strings for the list fields, a regular expression for
`text` with `matches`, and empty when the operator says it all (`business_hours` inside/outside). An action is
{"type", …} with the keys its ActionSpec names. Everything a rule stores passes through `clean_rule`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from automation.models import Sequence
from core.errors import ActionError
from core.text import fold
from core.validators import text_problem
from customers.choices import Language
from customers.models import Segment
from inbox.choices import Channel, ConversationState, Priority

# --- conditions -----------------------------------------------------------------------------------------------

OP_LABELS: dict[str, Promise] = {
    "is": gettext_lazy("es"), "is_not": gettext_lazy("no es"),
    "contains": gettext_lazy("contiene alguna de"), "not_contains": gettext_lazy("no contiene ninguna de"),
    "matches": gettext_lazy("coincide con la expresión"),
    "inside": gettext_lazy("dentro del horario de atención"), "outside": gettext_lazy("fuera del horario de atención"),
    "has": gettext_lazy("tiene alguna de"), "has_not": gettext_lazy("no tiene ninguna de"),
    "yes": gettext_lazy("sí"), "no": gettext_lazy("no"),
    "customer": gettext_lazy("el cliente"), "agent": gettext_lazy("el equipo"),
    "at_least": gettext_lazy("al menos"), "less_than": gettext_lazy("menos de"),
}


@dataclass(frozen=True)
class ConditionSpec:
    label: Promise
    ops: tuple[str, ...]
    # "list": a list of codes or words; "regex" for the op "matches"; "hours": a whole number of hours; "" when the
    # operator needs no value
    value: str = "list"
    hint: Promise | str = ""


CONDITIONS: dict[str, ConditionSpec] = {
    "channel": ConditionSpec(gettext_lazy("Canal"), ("is", "is_not"),
                             hint=gettext_lazy("whatsapp, email, webchat, api")),
    "inbox": ConditionSpec(gettext_lazy("Bandeja"), ("is", "is_not"),
                           hint=gettext_lazy("códigos de bandeja, separados por comas")),
    "text": ConditionSpec(gettext_lazy("Texto del mensaje"), ("contains", "not_contains", "matches"),
                          hint=gettext_lazy("palabras o frases separadas por comas; sin importar tildes ni "
                                            "mayúsculas")),
    "business_hours": ConditionSpec(gettext_lazy("Horario de atención"), ("inside", "outside"), value=""),
    "customer_tag": ConditionSpec(gettext_lazy("Etiqueta del cliente"), ("has", "has_not"),
                                  hint=gettext_lazy("etiquetas separadas por comas")),
    "conversation_tag": ConditionSpec(gettext_lazy("Etiqueta de la conversación"), ("has", "has_not"),
                                      hint=gettext_lazy("etiquetas separadas por comas")),
    "priority": ConditionSpec(gettext_lazy("Prioridad"), ("is", "is_not"),
                              hint=gettext_lazy("baja, normal, alta, urgente")),
    "state": ConditionSpec(gettext_lazy("Estado de la conversación"), ("is", "is_not"),
                           hint=gettext_lazy("nueva, pendiente, en_espera, escalada, resuelta")),
    "first_message": ConditionSpec(gettext_lazy("Primer mensaje del cliente"), ("yes", "no"), value=""),
    "started_by": ConditionSpec(gettext_lazy("Conversación iniciada por"), ("customer", "agent"), value=""),
    "idle_hours": ConditionSpec(gettext_lazy("Horas sin actividad"), ("at_least", "less_than"), value="hours",
                                hint=gettext_lazy("horas desde el último mensaje o cambio, p. ej. 48")),
    "customer_segment": ConditionSpec(gettext_lazy("Segmento del cliente"), ("has", "has_not"),
                                      hint=gettext_lazy("códigos de segmento, p. ej. vip, inactivo")),
    "customer_language": ConditionSpec(gettext_lazy("Idioma del cliente"), ("is", "is_not"),
                                       hint=gettext_lazy("es, en")),
}
IDLE_HOURS_MAX = 24 * 365
REGEX_MAX = 300
# The fields whose values are codes: anything else would never match (a typo is refused when the rule is saved).
CODES: dict[str, tuple[str, ...]] = {"channel": tuple(Channel.values), "priority": tuple(Priority.values),
                                     "state": tuple(ConversationState.values),
                                     "customer_language": tuple(Language.values)}
CODE_LABELS: dict[str, dict[str, Any]] = {"channel": dict(Channel.choices), "priority": dict(Priority.choices),
                                          "state": dict(ConversationState.choices),
                                          "customer_language": dict(Language.choices)}
VALUE_MAX = 50  # words or codes in one condition


def _words(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        raise ValueError
    words = list(dict.fromkeys(str(v).strip()[:100] for v in value if str(v).strip()))
    if any(text_problem(w) or "," in w for w in words):  # a comma separates words on the page: never inside one
        raise ValueError
    return words


def _safe(raw: Any, where: str, field: str) -> None:
    """Refuses text that cannot be stored (a NUL, lone surrogates…) anywhere in a rule's part, with a 400."""
    texts = [raw] if isinstance(raw, str) else [v for v in (raw.values() if isinstance(raw, dict) else [])
                                               if isinstance(v, str)]
    texts += [k for k in raw if isinstance(k, str)] if isinstance(raw, dict) else []
    nested = [v for v in raw.values() if isinstance(v, dict)] if isinstance(raw, dict) else []
    for text in texts:
        problem = text_problem(text)
        if problem:
            raise ActionError("invalid_text", _("%(where)s: el texto %(problem)s.") % {"where": where,
                                                                                        "problem": problem},
                              field=field)
    for inner in nested:
        _safe(inner, where, field)


def clean_condition(raw: Any, index: int) -> dict[str, Any]:
    where = _("Condición %d") % (index + 1)
    if not isinstance(raw, dict):
        raise ActionError("invalid_condition", _("%s: no es una condición.") % where, field="conditions")
    _safe(raw, where, "conditions")
    field, op = str(raw.get("field") or ""), str(raw.get("op") or "")
    spec = CONDITIONS.get(field)
    if spec is None:
        raise ActionError("invalid_condition", _("%(where)s: campo desconocido «%(field)s».")
                          % {"where": where, "field": field[:40]}, field="conditions")
    if op not in spec.ops:
        raise ActionError("invalid_condition", _("%(where)s: «%(op)s» no se usa con %(field)s.")
                          % {"where": where, "op": op[:40], "field": spec.label}, field="conditions")
    if not spec.value:
        return {"field": field, "op": op, "value": ""}
    if spec.value == "hours":
        raw_hours = raw.get("value")
        hours = raw_hours if isinstance(raw_hours, int) and not isinstance(raw_hours, bool) else (
            int(raw_hours.strip()) if isinstance(raw_hours, str) and re.fullmatch(r"[0-9]{1,5}", raw_hours.strip())
            else None)
        if hours is None or not 1 <= hours <= IDLE_HOURS_MAX:
            raise ActionError("invalid_condition", _("%(where)s: indique un número entero de horas, de 1 a %(max)d.")
                              % {"where": where, "max": IDLE_HOURS_MAX}, field="conditions")
        return {"field": field, "op": op, "value": hours}
    if field == "text" and op == "matches":
        pattern = str(raw.get("value") or "")
        if not pattern.strip() or len(pattern) > REGEX_MAX:
            raise ActionError("invalid_condition", _("%s: escriba una expresión regular (hasta 300 caracteres).")
                              % where, field="conditions")
        try:
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError) as exc:
            raise ActionError("invalid_condition", _("%(where)s: la expresión regular no es válida (%(error)s).")
                              % {"where": where, "error": str(exc)[:100]}, field="conditions") from exc
        return {"field": field, "op": op, "value": pattern}
    try:
        words = _words(raw.get("value"))
    except ValueError:
        raise ActionError("invalid_condition", _("%s: el valor debe ser una lista de textos.") % where,
                          field="conditions") from None
    if not words or len(words) > VALUE_MAX:
        raise ActionError("invalid_condition", _("%s: indique al menos un valor (hasta 50).") % where,
                          field="conditions")
    known = CODES.get(field)
    if field == "customer_segment":  # a segment's code, among those that exist now (a typo never matches anyone)
        known = tuple(Segment.objects.values_list("code", flat=True))
    if known is not None:
        words = [fold(w).replace(" ", "_") for w in words]
        unknown = [w for w in words if w not in known]
        if unknown:
            raise ActionError("invalid_condition", _("%(where)s: %(values)s no es un valor de %(field)s (use: "
                                                     "%(known)s).") % {"where": where, "values": ", ".join(unknown),
                                                                      "field": spec.label, "known": ", ".join(known)},
                              field="conditions")
    return {"field": field, "op": op, "value": words}


def keyword_pattern(words: list[str]) -> re.Pattern[str]:
    """One compiled search for any of `words` in folded text (accents and case ignored), where a word starts: "envío"
    finds "¿Hacen ENVÍOS?" (plurals and other endings count, as people write them) but "hora" does not find
    "ahora"."""
    alternatives = "|".join(re.escape(fold(w)) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})")


# --- actions --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionSpec:
    label: Promise
    text: str = ""  # the key of its long text (body, comment, title), if any
    value: str = ""  # the key of its short value (tag, priority, agent, inbox, endpoint, delay)
    text_required: bool = True
    sends: bool = False  # writes to the customer: never run by an event a rule caused (loop protection)
    template: bool = False  # may name a WhatsApp template (with variables) for when the window is closed
    needs_conversation: bool = True


ACTIONS: dict[str, ActionSpec] = {
    "send_message": ActionSpec(gettext_lazy("Enviar un mensaje al cliente"), text="body", sends=True, template=True,
                               text_required=False),
    "schedule_message": ActionSpec(gettext_lazy("Programar un mensaje"), text="body", value="delay_minutes", sends=True,
                                   template=True, text_required=False),
    "add_note": ActionSpec(gettext_lazy("Añadir una nota interna"), text="body"),
    "add_tag": ActionSpec(gettext_lazy("Etiquetar la conversación"), value="tag"),
    "remove_tag": ActionSpec(gettext_lazy("Quitar una etiqueta de la conversación"), value="tag"),
    "tag_customer": ActionSpec(gettext_lazy("Etiquetar al cliente"), value="tag", needs_conversation=False),
    "set_priority": ActionSpec(gettext_lazy("Cambiar la prioridad"), value="priority"),
    "assign": ActionSpec(gettext_lazy("Asignar a un agente"), value="agent"),
    "move_inbox": ActionSpec(gettext_lazy("Mover a otra bandeja"), value="inbox"),
    "escalate": ActionSpec(gettext_lazy("Escalar a un supervisor"), text="comment", text_required=False),
    "create_task": ActionSpec(gettext_lazy("Crear una tarea"), text="title"),
    "webhook": ActionSpec(gettext_lazy("Enviar un webhook"), value="endpoint", needs_conversation=False),
    "start_sequence": ActionSpec(gettext_lazy("Iniciar una secuencia de mensajes"), value="sequence", sends=True),
}
VALUE_HINTS: dict[str, Promise] = {
    "tag": gettext_lazy("etiqueta"), "priority": gettext_lazy("baja, normal, alta o urgente"),
    "agent": gettext_lazy("usuario del agente, o «auto» para el menos ocupado"),
    "inbox": gettext_lazy("código de la bandeja"), "endpoint": gettext_lazy("número del webhook saliente"),
    "delay_minutes": gettext_lazy("minutos después del evento"),
    "sequence": gettext_lazy("la secuencia (menú Secuencias)"),
}
TEXT_HINTS: dict[str, Promise] = {
    "body": gettext_lazy("Texto; admite variables como {{cliente.primer_nombre}}"),
    "comment": gettext_lazy("Comentario"),
    "title": gettext_lazy("Título de la tarea"),
}
ACTIONS_MAX = 10


@dataclass(frozen=True)
class NumberedValue:
    """An action's value that is the id of an object of an app above automation (the bot's flows): the options
    the rule editor suggests, and how a rule's sentence names it."""

    options: Callable[[], list[tuple[int, str]]]
    name_of: Callable[[int], str]


NUMBERED_VALUES: dict[str, NumberedValue] = {}
# What those actions do (automation.rules runs them): registered with the action by the app that owns it.
EXTRA_PERFORM: dict[str, Callable[..., str]] = {}


def register_action(kind: str, spec: ActionSpec, perform: Callable[..., str], *, value: NumberedValue | None = None,
                    hint: Promise | None = None) -> None:
    """An action of an app above automation (called from its AppConfig.ready): automation runs it without
    importing that app. `perform(rule, ctx, action) -> detail` raises rules.Skip to say why it did nothing."""
    ACTIONS[kind] = spec
    EXTRA_PERFORM[kind] = perform
    if value is not None and spec.value:
        NUMBERED_VALUES[spec.value] = value
    if hint is not None and spec.value:
        VALUE_HINTS[spec.value] = hint
CONDITIONS_MAX = 20
DELAY_MAX_MINUTES = 90 * 24 * 60
TEXT_MAX = 4096


def clean_action(raw: Any, index: int) -> dict[str, Any]:
    where = _("Acción %d") % (index + 1)
    if not isinstance(raw, dict):
        raise ActionError("invalid_action", _("%s: no es una acción.") % where, field="actions")
    _safe(raw, where, "actions")
    kind = str(raw.get("type") or "")
    spec = ACTIONS.get(kind)
    if spec is None:
        raise ActionError("invalid_action", _("%(where)s: acción desconocida «%(type)s».")
                          % {"where": where, "type": kind[:40]}, field="actions")
    action: dict[str, Any] = {"type": kind}
    if spec.text:
        text = raw.get(spec.text)
        text = text.strip() if isinstance(text, str) else ""
        if len(text) > TEXT_MAX or "\x00" in text:
            raise ActionError("invalid_action", _("%s: el texto es demasiado largo o no es válido.") % where,
                              field="actions")
        action[spec.text] = text
    if spec.template:
        template = raw.get("template")
        variables = raw.get("variables") or {}
        if not isinstance(template, str | type(None)) or not isinstance(variables, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and len(v) <= 1024 for k, v in variables.items()):
            raise ActionError("invalid_action", _("%s: la plantilla y sus variables deben ser textos.") % where,
                              field="actions")
        action["template"] = (template or "").strip()[:512]
        action["variables"] = {k[:30]: v for k, v in list(variables.items())[:20]}
    if (spec.text and spec.text_required and not action[spec.text]) or (
            spec.template and not action.get(spec.text) and not action.get("template")):
        raise ActionError("invalid_action", _("%(where)s: escriba %(what)s.")
                          % {"where": where, "what": str(TEXT_HINTS[spec.text]).lower()}, field="actions")
    if spec.value:
        value = raw.get(spec.value)
        if spec.value in ("endpoint", "delay_minutes", "sequence", *NUMBERED_VALUES):
            try:
                number = int(value) if not isinstance(value, bool | float) else 0  # type: ignore[arg-type]
            except (TypeError, ValueError, OverflowError):
                number = 0
            top = DELAY_MAX_MINUTES if spec.value == "delay_minutes" else 2**31 - 1
            if not 1 <= number <= top:
                raise ActionError("invalid_action", _("%(where)s: %(what)s no es válido.")
                                  % {"where": where, "what": VALUE_HINTS[spec.value]}, field="actions")
            action[spec.value] = number
        else:
            text = value.strip()[:60] if isinstance(value, str) else ""
            if not text:
                raise ActionError("invalid_action", _("%(where)s: indique %(what)s.")
                                  % {"where": where, "what": VALUE_HINTS[spec.value]}, field="actions")
            if spec.value == "priority":
                text = fold(text)
                if text not in Priority.values:
                    raise ActionError("invalid_action", _("%(where)s: %(what)s no es válido.")
                                      % {"where": where, "what": VALUE_HINTS["priority"]}, field="actions")
            action[spec.value] = text
    return action


def clean_rule_parts(conditions: Any, actions: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if not isinstance(conditions, list) or len(conditions) > CONDITIONS_MAX:
        raise ActionError("invalid_condition", _("Las condiciones deben ser una lista (hasta 20)."),
                          field="conditions")
    if not isinstance(actions, list) or not actions or len(actions) > ACTIONS_MAX:
        raise ActionError("invalid_action", _("Indique al menos una acción (hasta 10)."), field="actions")
    return ([clean_condition(c, i) for i, c in enumerate(conditions)],
            [clean_action(a, i) for i, a in enumerate(actions)])


# --- sentences ------------------------------------------------------------------------------------------------


def condition_text(condition: dict[str, Any]) -> str:
    spec = CONDITIONS.get(condition.get("field", ""))
    if spec is None:
        return str(condition.get("field", ""))
    value = condition.get("value")
    labels = CODE_LABELS.get(condition.get("field", ""))
    if labels is not None and isinstance(value, list):  # codes read as their names: «En espera», not «en_espera»
        value = [str(labels.get(v, v)) for v in value]
    if spec.value == "hours" and isinstance(value, int):
        return _("Sin actividad hace %(op)s %(hours)s") % {
            "op": OP_LABELS.get(condition.get("op", ""), ""), "hours": ngettext("%d hora", "%d horas", value) % value}
    shown = ", ".join(f"«{v}»" for v in value) if isinstance(value, list) else (f"«{value}»" if value else "")
    return " ".join(str(p) for p in (spec.label, OP_LABELS.get(condition.get("op", ""), ""), shown) if p)


def action_text(action: dict[str, Any]) -> str:
    spec = ACTIONS.get(action.get("type", ""))
    if spec is None:
        return str(action.get("type", ""))
    parts = [str(spec.label)]
    if spec.value and action.get(spec.value) not in (None, ""):
        value = action[spec.value]
        if spec.value == "delay_minutes":
            parts.append(_("en %s") % minutes_text(int(value)))
        elif spec.value == "sequence":  # named, never numbered, for people
            name = Sequence.objects.filter(pk=int(value)).values_list("name", flat=True).first()
            parts.append(f"«{name}»" if name else _("(la secuencia ya no existe)"))
        elif spec.value in NUMBERED_VALUES:
            parts.append(NUMBERED_VALUES[spec.value].name_of(int(value)))
        else:
            parts.append(f"«{value}»")
    if spec.text and action.get(spec.text):
        text = str(action[spec.text])
        parts.append(f"«{text[:80]}{'…' if len(text) > 80 else ''}»")
    if action.get("template"):
        parts.append(_("(plantilla «%s» si la ventana de WhatsApp está cerrada)") % action["template"])
    return parts[0] + (": " + " ".join(parts[1:]) if parts[1:] else "")


def minutes_text(minutes: int) -> str:
    if minutes % 1440 == 0:
        days = minutes // 1440
        return ngettext("%d día", "%d días", days) % days
    if minutes % 60 == 0:
        hours = minutes // 60
        return ngettext("%d hora", "%d horas", hours) % hours
    return ngettext("%d minuto", "%d minutos", minutes) % minutes


def detail_text(detail: Any) -> str:
    """A run's note on an action in the reader's language (stored in every language; an inbox refusal as said)."""
    if isinstance(detail, dict):
        language = translation.get_language() or settings.LANGUAGE_CODE
        return str(detail.get(language) or detail.get(language.split("-")[0]) or next(iter(detail.values()), ""))
    return str(detail or "")


# --- the schedule of a rule "at a scheduled time" ----------------------------------------------------------------

WEEKDAYS: tuple[Promise, ...] = (gettext_lazy("lunes"), gettext_lazy("martes"), gettext_lazy("miércoles"),
                                 gettext_lazy("jueves"), gettext_lazy("viernes"), gettext_lazy("sábado"),
                                 gettext_lazy("domingo"))
_HHMM = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])\Z")


def clean_schedule(raw: Any, event: str) -> dict[str, Any]:
    """{"days": [0-6, Monday = 0], "time": "HH:MM"} for a rule at a scheduled time (400 `invalid_schedule`); {} for
    every other event (a schedule sent with another event is dropped)."""
    if event != "schedule":
        return {}
    raw = raw if isinstance(raw, dict) else {}
    days = raw.get("days")
    if (not isinstance(days, list) or not days
            or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in days)):
        raise ActionError("invalid_schedule", _("Elija al menos un día de la semana."), field="schedule")
    match = _HHMM.match(str(raw.get("time") or "").strip())
    if match is None:
        raise ActionError("invalid_schedule", _("Indique la hora como HH:MM (de 00:00 a 23:59)."), field="schedule")
    return {"days": sorted(set(days)), "time": f"{int(match.group(1)):02d}:{match.group(2)}"}


def schedule_text(schedule: dict[str, Any]) -> str:
    """"De lunes a viernes a las 09:00", "Todos los días a las 18:30", "Lunes y jueves a las 10:00"."""
    days = sorted(d for d in schedule.get("days") or [] if isinstance(d, int) and 0 <= d <= 6)
    at = str(schedule.get("time") or "")
    if not days or not at:
        return ""
    if days == list(range(7)):
        when = _("Todos los días")
    elif days == list(range(5)):
        when = _("De lunes a viernes")
    elif len(days) == 1:
        when = str(WEEKDAYS[days[0]])
    else:
        names = [str(WEEKDAYS[d]) for d in days]
        when = _("%(days)s y %(last)s") % {"days": ", ".join(names[:-1]), "last": names[-1]}
    return _("%(when)s a las %(time)s") % {"when": when[:1].upper() + when[1:], "time": at}
