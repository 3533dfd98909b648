"""Message templates: their text, their variables, pre-filling from customer data, and the `template` object of a
send (contract §6). Pure functions over MessageTemplate rows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from accounts.models import User
    from connectors.whatsapp.models import MessageTemplate
    from customers.models import Customer

VARIABLE = re.compile(r"\{\{\s*([\w]+)\s*\}\}")
MEDIA_HEADER_FORMATS = frozenset({"IMAGE", "VIDEO", "DOCUMENT", "LOCATION"})
# Named parameters we know how to fill from the customer / agent (Spanish and English spellings).
FIRST_NAME_KEYS = frozenset({"1", "first_name", "nombre", "primer_nombre", "name_first"})
FULL_NAME_KEYS = frozenset({"name", "full_name", "customer_name", "nombre_completo", "cliente"})
PHONE_KEYS = frozenset({"phone", "telefono", "teléfono", "celular"})
CITY_KEYS = frozenset({"city", "ciudad"})
AGENT_KEYS = frozenset({"agent", "agent_name", "agente", "asesor", "asesora"})


def _component(template: MessageTemplate, kind: str) -> dict[str, Any]:
    for component in template.components or []:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == kind:
            return component
    return {}


def body_text(template: MessageTemplate) -> str:
    return str(_component(template, "BODY").get("text") or "")


def header_text(template: MessageTemplate) -> str:
    header = _component(template, "HEADER")
    return str(header.get("text") or "") if str(header.get("format", "TEXT")).upper() == "TEXT" else ""


def footer_text(template: MessageTemplate) -> str:
    return str(_component(template, "FOOTER").get("text") or "")


def variables(template: MessageTemplate) -> list[str]:
    """The body's variables in order of first appearance: ["1", "2"] or ["first_name", …]."""
    return list(dict.fromkeys(VARIABLE.findall(body_text(template))))


def examples(template: MessageTemplate) -> dict[str, str]:
    example = _component(template, "BODY").get("example") or {}
    found: dict[str, str] = {}
    positional = example.get("body_text") if isinstance(example, dict) else None
    if isinstance(positional, list) and positional and isinstance(positional[0], list):
        found.update({str(i + 1): str(v) for i, v in enumerate(positional[0])})
    named = example.get("body_text_named_params") if isinstance(example, dict) else None
    if isinstance(named, list):
        found.update({str(p.get("param_name")): str(p.get("example", "")) for p in named if isinstance(p, dict)})
    return found


def unsupported_reason(template: MessageTemplate) -> str:
    """Why the conversation's picker cannot send this template ("" when it can): it fills body variables only."""
    header = _component(template, "HEADER")
    if header and (str(header.get("format", "TEXT")).upper() in MEDIA_HEADER_FORMATS
                   or VARIABLE.search(str(header.get("text") or ""))):
        return _("usa un encabezado multimedia o con variables")
    for button in _component(template, "BUTTONS").get("buttons") or []:
        if isinstance(button, dict) and VARIABLE.search(str(button.get("url") or "")):
            return _("tiene botones con variables")
    return ""


def prefill(template: MessageTemplate, customer: Customer, agent: User | None = None) -> dict[str, str]:
    """Values for the body variables from what we know (the first variable of a positional template is the
    customer's first name, by the most common convention); the agent completes or corrects the rest."""
    first = (customer.name or "").split(" ")[0]
    phone = next((p.e164 for p in customer.phones.all()), "")
    values: dict[str, str] = {}
    for key in variables(template):
        lowered = key.lower()
        if lowered in FIRST_NAME_KEYS:
            values[key] = first
        elif lowered in FULL_NAME_KEYS:
            values[key] = customer.name
        elif lowered in PHONE_KEYS:
            values[key] = phone
        elif lowered in CITY_KEYS:
            values[key] = customer.city
        elif lowered in AGENT_KEYS and agent is not None:
            values[key] = agent.display_name
        else:
            values[key] = ""
    return values


def render_text(template: MessageTemplate, values: dict[str, str]) -> str:
    """The message as the customer will read it (stored as the inbox message's body)."""
    parts = [header_text(template), VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), body_text(template)),
             footer_text(template)]
    return "\n".join(p for p in parts if p.strip())


@dataclass(frozen=True)
class TemplateSend:
    meta: dict[str, Any]
    body: str


def build_send(template: MessageTemplate, values: dict[str, str]) -> TemplateSend:
    """The `template` object of the send (positional or named parameters) plus the rendered text."""
    named = template.parameter_format.upper() == "NAMED"
    parameters: list[dict[str, str]] = []
    for key in variables(template):
        parameter = {"type": "text", "text": values.get(key, "")}
        if named:
            parameter["parameter_name"] = key
        parameters.append(parameter)
    payload: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if parameters:
        payload["components"] = [{"type": "body", "parameters": parameters}]
    return TemplateSend(meta={"template": payload, "template_id": template.pk, "type": "template"},
                        body=render_text(template, values))
