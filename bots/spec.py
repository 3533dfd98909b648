"""A flow's graph: what each step type holds (`clean_graph`, refusing malformed documents with a sentence), which
ports leave each step (`ports`) and what keeps a flow from being published (`problems`). docs/bots.md describes the
document; the editor, the API and import/export all go through `clean_graph`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bots.models import STEP_ID_MAX
from connectors.whatsapp.outbound import BUTTON_TITLE_MAX, BUTTONS_MAX, ROW_TITLE_MAX
from core.errors import ActionError
from core.validators import text_problem
from inbox.choices import Priority

STEPS_MAX: Final = 200
TEXT_MAX: Final = 1000
CHOICES_MAX: Final = 10
BRANCHES_MAX: Final = 10
CHOICE_TITLE_MAX: Final = 60
VAR_MAX: Final = 40
WAIT_MAX: Final = 7 * 24 * 3600
HTTP_TIMEOUT_MAX: Final = 10
MAP_MAX: Final = 10
# WhatsApp's interactive limits, as its sender applies them: up to 3 reply buttons, else a list.
WA_BUTTONS: Final = BUTTONS_MAX
WA_BUTTON_TITLE: Final = BUTTON_TITLE_MAX
WA_ROW_TITLE: Final = ROW_TITLE_MAX
STEP_ID = re.compile(rf"^[a-z0-9_-]{{1,{STEP_ID_MAX}}}\Z")
VAR_NAME = re.compile(rf"^[a-z][a-z0-9_]{{0,{VAR_MAX - 1}}}\Z")
PATH = re.compile(r"^[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+){0,9}\Z")

INPUTS: Final = ("text", "name", "email", "phone", "document", "number", "date", "choice")
CONDITION_OPS: Final = ("eq", "neq", "contains", "gt", "lt", "empty", "not_empty")
LOOKUPS: Final = ("order", "last_order", "product")
CREATES: Final = ("lead", "task", "order_draft")
SET_TARGETS: Final = ("var", "customer", "tag")
CUSTOMER_FIELDS: Final = ("name", "city", "document", "language")

TYPE_LABELS: Final[dict[str, Promise]] = {
    "send": gettext_lazy("Enviar mensaje"), "ask": gettext_lazy("Preguntar"), "condition": gettext_lazy("Condición"),
    "set": gettext_lazy("Guardar dato"), "lookup": gettext_lazy("Consultar datos"), "create": gettext_lazy("Crear"),
    "knowledge": gettext_lazy("Respuesta de la base de conocimiento"),
    "http": gettext_lazy("Petición HTTP"), "wait": gettext_lazy("Esperar"),
    "handoff": gettext_lazy("Derivar a una persona"), "end": gettext_lazy("Fin"),
}
OP_LABELS: Final[dict[str, Promise]] = {
    "eq": gettext_lazy("es igual a"), "neq": gettext_lazy("es distinto de"), "contains": gettext_lazy("contiene"),
    "gt": gettext_lazy("es mayor que"), "lt": gettext_lazy("es menor que"), "empty": gettext_lazy("está vacío"),
    "not_empty": gettext_lazy("no está vacío"),
}
PORT_LABELS: Final[dict[str, Promise]] = {
    "next": gettext_lazy("siguiente"), "found": gettext_lazy("encontrado"), "not_found": gettext_lazy("no encontrado"),
    "helped": gettext_lazy("le sirvió"), "not_helped": gettext_lazy("no le sirvió"),
    "none": gettext_lazy("sin artículos"), "ok": gettext_lazy("correcto"), "error": gettext_lazy("error"),
    "else": gettext_lazy("si no"),
}


def _fail(where: str, message: str) -> ActionError:
    return ActionError("invalid_flow", f"{where}: {message}", field="graph")


def _text(raw: dict[str, Any], key: str, where: str, *, required: bool = False, max_length: int = TEXT_MAX) -> str:
    value = raw.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _fail(where, _("«%s» debe ser un texto.") % key)
    value = value.strip()
    problem = text_problem(value) if value else None
    if problem is not None:
        raise _fail(where, _("«%(key)s» %(problem)s.") % {"key": key, "problem": problem})
    if len(value) > max_length:
        raise _fail(where, _("«%(key)s» supera %(max)d caracteres.") % {"key": key, "max": max_length})
    if required and not value:
        raise _fail(where, _("escriba «%s».") % key)
    return value


def _int(raw: dict[str, Any], key: str, where: str, *, low: int, high: int, default: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(where, _("«%(key)s» debe ser un número entre %(low)d y %(high)d.")
                    % {"key": key, "low": low, "high": high})
    return value


def _choice(raw: dict[str, Any], key: str, where: str, options: tuple[str, ...], default: str | None = None) -> str:
    value = raw.get(key, default)
    if value not in options:
        raise _fail(where, _("«%(key)s» debe ser uno de: %(options)s.") % {"key": key, "options": ", ".join(options)})
    return str(value)


def _var(raw: dict[str, Any], key: str, where: str, *, required: bool) -> str:
    value = raw.get(key) or ""
    if not isinstance(value, str) or (value and not VAR_NAME.match(value)) or (required and not value):
        raise _fail(where, _("«%s» debe ser un nombre de variable: minúsculas, números y «_», empezando por letra.")
                    % key)
    return value


def _ids(items: Any, where: str, what: str, maximum: int) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not items or len(items) > maximum:
        raise _fail(where, _("«%(what)s» debe ser una lista de 1 a %(max)d elementos.")
                    % {"what": what, "max": maximum})
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not STEP_ID.match(item["id"]) \
                or item["id"] in seen or item["id"] in PORT_LABELS:
            raise _fail(where, _("cada elemento de «%s» necesita un «id» único (minúsculas, números, «_» o «-»).")
                        % what)
        seen.add(item["id"])
        out.append(item)
    return out


def _send(raw: dict[str, Any], where: str) -> dict[str, Any]:
    step = {"text": _text(raw, "text", where), "media_url": _text(raw, "media_url", where, max_length=500)}
    if step["media_url"]:
        parts = urlsplit(step["media_url"])
        if parts.scheme != "https" or not parts.hostname:
            raise _fail(where, _("la dirección del archivo debe empezar por https://."))
        step["media_kind"] = _choice(raw, "media_kind", where, ("image", "document"), "image")
    elif not step["text"]:
        raise _fail(where, _("escriba «text»."))
    return step


def _ask(raw: dict[str, Any], where: str) -> dict[str, Any]:
    step: dict[str, Any] = {"text": _text(raw, "text", where, required=True),
                            "input": _choice(raw, "input", where, INPUTS, "text"),
                            "var": _var(raw, "var", where, required=False),
                            "retry_text": _text(raw, "retry_text", where)}
    if step["input"] == "choice":
        choices = _ids(raw.get("choices"), where, "choices", CHOICES_MAX)
        step["choices"] = [{"id": c["id"], "title": _text(c, "title", where, required=True,
                                                              max_length=CHOICE_TITLE_MAX)} for c in choices]
    return step


def _condition(raw: dict[str, Any], where: str) -> dict[str, Any]:
    branches = []
    for branch in _ids(raw.get("branches"), where, "branches", BRANCHES_MAX):
        subject = _text(branch, "subject", where, required=True, max_length=60)
        if not (subject in ("segmento", "etiqueta", "horario")
                or re.match(r"^(var|cliente)\.[a-z_][a-z0-9_]{0,39}\Z", subject)):
            raise _fail(where, _("«subject» debe ser var.<nombre>, cliente.<campo>, segmento, etiqueta u horario."))
        branches.append({"id": branch["id"], "subject": subject,
                         "op": _choice(branch, "op", where, CONDITION_OPS, "eq"),
                         "value": _text(branch, "value", where, max_length=200)})
    return {"branches": branches}


def _set(raw: dict[str, Any], where: str) -> dict[str, Any]:
    target = _choice(raw, "target", where, SET_TARGETS, "var")
    if target == "var":
        name = _var(raw, "name", where, required=True)
    elif target == "customer":
        name = _choice(raw, "name", where, CUSTOMER_FIELDS)
    else:
        name = _choice(raw, "name", where, ("customer", "conversation"), "customer")
    return {"target": target, "name": name, "value": _text(raw, "value", where, required=target == "tag",
                                                            max_length=200)}


def _lookup(raw: dict[str, Any], where: str) -> dict[str, Any]:
    what = _choice(raw, "what", where, LOOKUPS)
    return {"what": what, "query": _text(raw, "query", where, required=what == "product", max_length=200)}


def _create(raw: dict[str, Any], where: str) -> dict[str, Any]:
    return {"what": _choice(raw, "what", where, CREATES), "title": _text(raw, "title", where, max_length=250)}


def _knowledge(raw: dict[str, Any], where: str) -> dict[str, Any]:
    return {"query": _text(raw, "query", where, max_length=200), "limit": _int(raw, "limit", where, low=1, high=3,
                                                                                default=3),
            "text": _text(raw, "text", where)}


def _http(raw: dict[str, Any], where: str) -> dict[str, Any]:
    url = _text(raw, "url", where, required=True, max_length=500)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or "{" in parts.netloc or "@" in parts.netloc:
        raise _fail(where, _("«url» debe empezar por http:// o https:// con un servidor fijo (sin variables ni "
                             "usuario en el servidor)."))
    body = raw.get("body") or ""
    if isinstance(body, str) and body.strip():
        try:
            json.loads(re.sub(r"\{\{[^}]*\}\}", "x", body))
        except (ValueError, RecursionError):
            raise _fail(where, _("«body» debe ser JSON (las variables van dentro de comillas: "
                                 "{\"doc\": \"{{var.documento}}\"}).")) from None
    mapping = raw.get("map") or {}
    if not isinstance(mapping, dict) or len(mapping) > MAP_MAX or not all(
            isinstance(k, str) and VAR_NAME.match(k) and isinstance(v, str) and PATH.match(v)
            for k, v in mapping.items()):
        raise _fail(where, _("«map» relaciona hasta 10 variables con rutas de la respuesta (datos.estado)."))
    return {"method": _choice(raw, "method", where, ("GET", "POST"), "GET"), "url": url,
            "body": _text(raw, "body", where, max_length=2000),
            "timeout": _int(raw, "timeout", where, low=1, high=HTTP_TIMEOUT_MAX, default=5), "map": dict(mapping)}


def _wait(raw: dict[str, Any], where: str) -> dict[str, Any]:
    return {"seconds": _int(raw, "seconds", where, low=1, high=WAIT_MAX, default=60)}


def _handoff(raw: dict[str, Any], where: str) -> dict[str, Any]:
    priority = raw.get("priority") or ""
    if priority not in ("", *Priority.values):
        raise _fail(where, _("«priority» debe ser baja, normal, alta o urgente."))
    inbox = _text(raw, "inbox", where, max_length=50)
    return {"text": _text(raw, "text", where), "inbox": inbox, "priority": priority}


def _end(raw: dict[str, Any], where: str) -> dict[str, Any]:
    return {"text": _text(raw, "text", where)}


CLEANERS: Final[dict[str, Callable[[dict[str, Any], str], dict[str, Any]]]] = {
    "send": _send, "ask": _ask, "condition": _condition, "set": _set, "lookup": _lookup, "create": _create,
    "knowledge": _knowledge, "http": _http, "wait": _wait, "handoff": _handoff, "end": _end,
}
FIXED_PORTS: Final[dict[str, tuple[str, ...]]] = {
    "send": ("next",), "set": ("next",), "create": ("next",), "wait": ("next",), "lookup": ("found", "not_found"),
    "knowledge": ("helped", "not_helped", "none"), "http": ("ok", "error"), "handoff": (), "end": (),
}


def ports(step: dict[str, Any]) -> tuple[str, ...]:
    """The ports that leave a (clean) step, in the order the editor draws them."""
    kind = step.get("type", "")
    if kind == "ask":
        return tuple(c["id"] for c in step["choices"]) if step.get("input") == "choice" else ("next",)
    if kind == "condition":
        return (*(b["id"] for b in step["branches"]), "else")
    return FIXED_PORTS.get(kind, ())


def port_label(step: dict[str, Any], port: str) -> str:
    if step.get("type") == "ask":
        for choice in step.get("choices") or ():
            if choice["id"] == port:
                return str(choice["title"])
    if step.get("type") == "condition" and port != "else":
        for branch in step.get("branches") or ():
            if branch["id"] == port:
                return f"{branch['subject']} {OP_LABELS.get(branch['op'], branch['op'])} {branch['value']}".strip()
    return str(PORT_LABELS.get(port, port))


def _coordinate(raw: dict[str, Any], key: str) -> float:
    value = raw.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not -100_000 <= value <= 100_000:
        return 0
    return round(float(value), 1)


def clean_graph(raw: Any) -> dict[str, Any]:
    """The graph as stored: every step's known fields, validated; links to missing steps and to unknown ports are
    refused (the editor never makes them). An incomplete graph (unlinked ports, no start) is a valid draft:
    `problems` says what keeps it from being published."""
    if not isinstance(raw, dict) or not isinstance(raw.get("steps", {}), dict):
        raise ActionError("invalid_flow", _("El diagrama debe ser un objeto con «start» y «steps»."), field="graph")
    raw_steps: dict[str, Any] = raw.get("steps") or {}
    if len(raw_steps) > STEPS_MAX:
        raise ActionError("invalid_flow", _("Un flujo tiene como máximo %d pasos.") % STEPS_MAX, field="graph")
    steps: dict[str, dict[str, Any]] = {}
    for step_id, body in raw_steps.items():
        if not isinstance(step_id, str) or not STEP_ID.match(step_id):
            raise ActionError("invalid_flow", _("Identificador de paso no válido: «%s» (minúsculas, números, «_» o "
                                                "«-», hasta 40).") % str(step_id)[:40], field="graph")
        where = _("Paso «%s»") % step_id
        if not isinstance(body, dict) or not isinstance(body.get("type"), str) or body["type"] not in CLEANERS:
            raise _fail(where, _("tipo desconocido; use uno de: %s.") % ", ".join(CLEANERS))
        step = {"type": body["type"], **CLEANERS[body["type"]](body, where),
                "x": _coordinate(body, "x"), "y": _coordinate(body, "y")}
        links = body.get("next") or {}
        if not isinstance(links, dict):
            raise _fail(where, _("«next» debe relacionar cada salida con el paso siguiente."))
        allowed = ports(step)
        step["next"] = {}
        for port, target in links.items():
            if port not in allowed:
                raise _fail(where, _("la salida «%s» no existe en este tipo de paso.") % str(port)[:40])
            if target in (None, ""):
                continue
            if not isinstance(target, str) or target not in raw_steps:
                raise _fail(where, _("la salida «%(port)s» lleva a un paso que no existe («%(target)s»).")
                            % {"port": port, "target": str(target)[:40]})
            step["next"][port] = target
        steps[step_id] = step
    start = raw.get("start") or ""
    if start and (not isinstance(start, str) or start not in steps):
        raise ActionError("invalid_flow", _("El paso inicial «%s» no existe.") % str(start)[:40], field="graph")
    return {"start": start, "steps": steps}


@dataclass(frozen=True)
class Problem:
    step: str  # "" for the whole flow
    message: str
    blocking: bool  # keeps the flow from being published


def reachable(graph: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = [graph["start"]] if graph.get("start") else []
    while todo:
        step_id = todo.pop()
        if step_id in seen or step_id not in graph["steps"]:
            continue
        seen.add(step_id)
        todo.extend(graph["steps"][step_id]["next"].values())
    return seen


STOPS: Final = frozenset({"ask", "knowledge", "wait", "handoff", "end"})


def _silent_cycles(steps: dict[str, dict[str, Any]]) -> set[str]:
    """Steps on a cycle that never stops for the customer (no ask, wait or end on it): the engine would walk it
    until its safety cap. Tarjan-free: a step is on such a cycle when it can reach itself through silent steps."""
    silent = {k for k, v in steps.items() if v["type"] not in STOPS}
    on_cycle: set[str] = set()
    for origin in silent:
        seen: set[str] = set()
        todo = [t for t in steps[origin]["next"].values() if t in silent]
        while todo:
            current = todo.pop()
            if current == origin:
                on_cycle.add(origin)
                break
            if current in seen:
                continue
            seen.add(current)
            todo.extend(t for t in steps[current]["next"].values() if t in silent)
    return on_cycle


def problems(graph: dict[str, Any], *, handoff_keywords: bool = True) -> list[Problem]:
    """What the editor lists beside the diagram. Blocking: no start, a port that leads nowhere (a dead end: the
    customer would be left waiting). Warnings: steps no path reaches; no handoff step (blocking only when the
    customer cannot ask for a person with a keyword either)."""
    steps = graph["steps"]
    found: list[Problem] = []
    if not steps:
        return [Problem("", _("El flujo no tiene pasos."), True)]
    if not graph.get("start"):
        found.append(Problem("", _("Elija el paso inicial."), True))
    live = reachable(graph)
    for step_id, step in steps.items():
        missing = [port_label(step, p) for p in ports(step) if p not in step["next"]]
        if missing:
            found.append(Problem(step_id, _("Sin continuación en: %s.") % ", ".join(f"«{m}»" for m in missing), True))
        long = [c["title"] for c in step.get("choices") or () if len(c["title"]) > (
            WA_BUTTON_TITLE if len(step["choices"]) <= WA_BUTTONS else WA_ROW_TITLE)]
        if step["type"] == "ask" and long:
            found.append(Problem(step_id, _("WhatsApp acorta estas opciones (hasta %(n)d caracteres): %(titles)s.")
                                 % {"n": WA_BUTTON_TITLE if len(step["choices"]) <= WA_BUTTONS else WA_ROW_TITLE,
                                    "titles": ", ".join(f"«{t}»" for t in long)}, False))
        if graph.get("start") and step_id not in live:
            found.append(Problem(step_id, _("Ningún camino llega a este paso."), False))
    loop = _("Este paso está en un ciclo sin pregunta, espera ni fin: el bot escribiría sin parar.")
    found.extend(Problem(step_id, loop, True) for step_id in sorted(_silent_cycles(steps)))
    if not any(step["type"] == "handoff" for step in steps.values()):
        found.append(Problem("", _("El flujo no tiene un paso «Derivar a una persona»; el cliente solo puede pedirla "
                                   "con una palabra clave.") if handoff_keywords else
                             _("El flujo no tiene un paso «Derivar a una persona» ni palabras para pedirla."),
                             not handoff_keywords))
    return found
