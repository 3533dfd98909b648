"""What a campaign's message can say about each customer: {{nombre}}, {{ciudad}}, {{enlace}}… in an email or SMS
body, and the same fields mapped onto a WhatsApp template's variables."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

VARIABLE = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
LINK = "enlace"  # the campaign's tracked link, per recipient


@dataclass(frozen=True)
class Field:
    label: Promise
    value: Callable[[Mapping[str, Any]], str]


def _first(name: str) -> str:
    return (name or "").strip().split(" ")[0]


# Keyed by the name written in a message; each reads the row campaigns.sending loads per recipient.
FIELDS: Mapping[str, Field] = {
    "nombre": Field(_("Nombre (primera palabra)"), lambda c: _first(c.get("name", ""))),
    "nombre_completo": Field(_("Nombre completo"), lambda c: str(c.get("name") or "")),
    "ciudad": Field(_("Ciudad"), lambda c: str(c.get("city") or "")),
    "departamento": Field(_("Departamento / estado"), lambda c: str(c.get("department") or "")),
    LINK: Field(_("Enlace de la campaña (cuenta los clics)"), lambda c: str(c.get(LINK) or "")),
}


def names_in(*texts: str) -> list[str]:
    return list(dict.fromkeys(m.group(1) for text in texts for m in VARIABLE.finditer(text or "")))


def unknown_in(*texts: str) -> list[str]:
    return [name for name in names_in(*texts) if name not in FIELDS]


def values_for(customer: Mapping[str, Any]) -> dict[str, str]:
    return {key: f.value(customer) for key, f in FIELDS.items()}


def fill(text: str, values: Mapping[str, str]) -> str:
    return VARIABLE.sub(lambda m: values.get(m.group(1), ""), text or "")


def template_values(mapping: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, str]:
    """A WhatsApp template's variables from their mapping: {"1": {"source": "field", "value": "nombre"},
    "2": {"source": "text", "value": "20%"}}."""
    out: dict[str, str] = {}
    for key, spec in mapping.items():
        if not isinstance(spec, Mapping):
            continue
        if spec.get("source") == "field":
            out[str(key)] = values.get(str(spec.get("value") or ""), "")
        else:
            out[str(key)] = str(spec.get("value") or "")
    return out


def image_header(template: Any) -> bool:
    """Whether a WhatsApp template's header is an image (the campaign sends it with the image link it gives)."""
    header = next((c for c in template.components or [] if isinstance(c, dict)
                   and str(c.get("type", "")).upper() == "HEADER"), None)
    return header is not None and str(header.get("format", "")).upper() == "IMAGE"
