"""The "Abrir en WhatsApp" link: https://wa.me/<E.164 digits>?text=<message>, the message filled from a template
administrators edit (placeholders in braces). It opens the agent's own WhatsApp (app or web) on that chat: nothing
is sent by Centralita, so it needs no WhatsApp Business account."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import quote

from django.utils.translation import gettext as _

from connectors.webchat.models import WhatsAppLinkSettings
from core.models import SiteSettings

if TYPE_CHECKING:
    from accounts.models import User
    from customers.models import Customer

PLACEHOLDERS = ("nombre", "nombre_completo", "empresa", "agente")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def default_template() -> str:
    return _("Hola {nombre}, te escribimos de {empresa}.")


def _placeholder_names() -> set[str]:
    """Names given to customers nobody named (customers.actions, this app), in Spanish and translated."""
    return {"Sin nombre", "Visitante del chat web", _("Sin nombre"), _("Visitante del chat web")}


def fill_template(template: str, values: dict[str, str]) -> str:
    """Replaces known `{placeholders}`; anything else stays as typed. (Not str.format: a template must never reach
    attributes of the values, and a stray brace must not break the button.)"""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template).strip()


def wa_me_url(e164: str, text: str = "") -> str | None:
    """`+57 300 123 4567` → `https://wa.me/573001234567?text=…`; None without a usable number."""
    digits = re.sub(r"\D", "", e164 or "")
    if not (e164 or "").strip().startswith("+") or not 7 <= len(digits) <= 15:
        return None
    url = f"https://wa.me/{digits}"
    return f"{url}?text={quote(text, safe='')}" if text else url


def customer_whatsapp_url(customer: Customer, *, agent: User | None = None, template: str | None = None,
                          company: str | None = None) -> str | None:
    """The link for a customer's first phone, the message filled with their data. None when they have no phone."""

    phone = next(iter(p.e164 for p in customer.phones.all()), None)  # prefetch-friendly; first by creation
    if not phone:
        return None
    if template is None:
        template = WhatsAppLinkSettings.load().message_template or default_template()
    if company is None:
        company = SiteSettings.load().company_name
    full = " ".join((customer.name or "").split())
    if full in _placeholder_names():
        full = ""  # "Hola Sin, …" would read worse than "Hola, …"
    values = {"nombre": full.split(" ")[0] if full else "", "nombre_completo": full, "empresa": company,
              "agente": agent.display_name if agent is not None else ""}
    text = fill_template(template, values)
    text = re.sub(r"\s+([,.!?])", r"\1", text)  # "Hola , te…" when the name is unknown reads "Hola, te…"
    return wa_me_url(phone, text)
