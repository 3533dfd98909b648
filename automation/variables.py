"""The variables of quick replies (and, later, of the messages rules send): `{{cliente.nombre}}` and friends,
rendered for one conversation. A variable without a value stays in the text as written and is reported as missing,
so the agent sees it; the send guard (automation.apps) refuses a reply that still carries one — it never reaches a
customer as `{{…}}`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

from accounts.hours import next_opening
from accounts.models import User
from core.money import format_money
from core.text import fold
from customers.models import Customer
from inbox.models import Conversation
from inbox.people import hours_team
from orders.choices import OrderState
from orders.models import Order

# `{{ namespace.name }}`: the namespaces are ours (Spanish, with English aliases); anything else in braces is the
# customer's or the agent's own text and is left alone.
NAMESPACES = {"cliente": "cliente", "customer": "cliente", "agente": "agente", "agent": "agente",
              "pedido": "pedido", "order": "pedido", "conversacion": "conversacion", "conversation": "conversacion",
              "equipo": "equipo", "team": "equipo"}
VARIABLE = re.compile(r"\{\{\s*([A-Za-zÁÉÍÓÚáéíóúÑñ]+)\.([A-Za-z0-9_ÁÉÍÓÚáéíóúÑñ]+)\s*\}\}")
# English names of the fields, for the aliases.
FIELD_ALIASES = {"name": "nombre", "first_name": "primer_nombre", "phone": "telefono", "email": "correo",
                 "city": "ciudad", "document": "documento", "number": "numero", "id": "id", "status": "estado",
                 "lines": "lineas", "next_opening": "proxima_apertura"}

# Shown on the quick replies page (the variables an author may use).
DOCUMENTED = (
    ("cliente.nombre", _("Nombre completo del cliente")),
    ("cliente.primer_nombre", _("Primer nombre del cliente")),
    ("cliente.telefono", _("Teléfono del cliente")),
    ("cliente.correo", _("Correo del cliente")),
    ("cliente.ciudad", _("Ciudad del cliente")),
    ("cliente.documento", _("Documento del cliente")),
    ("cliente.<campo>", _("Un dato adicional del cliente (p. ej. cliente.plan)")),
    ("agente.nombre", _("Nombre de quien responde")),
    ("agente.primer_nombre", _("Primer nombre de quien responde")),
    ("pedido.numero", _("Número del último pedido del cliente")),
    ("pedido.total", _("Total del último pedido del cliente")),
    ("pedido.estado", _("Estado del último pedido del cliente")),
    ("pedido.lineas", _("Productos del pedido, uno por línea, con cantidad y total")),
    ("equipo.proxima_apertura", _("Próxima apertura del horario de atención (reglas fuera de horario)")),
    ("conversacion.id", _("Número de la conversación")),
)


@dataclass
class Rendered:
    body: str
    missing: list[str] = field(default_factory=list)  # as written, e.g. "{{pedido.numero}}"


def variables_in(body: str) -> list[str]:
    """Our variables in a text, as written (for the send guard and the editor's hints)."""
    return [m.group(0) for m in VARIABLE.finditer(body) if fold(m.group(1)) in NAMESPACES]


class Values:
    """Looks values up lazily: a reply without `{{pedido.*}}` never queries orders."""

    def __init__(self, conversation: Conversation | None, agent: User | None, *, order: Order | None = None,
                 customer: Customer | None = None) -> None:
        self.conversation, self.agent = conversation, agent
        self._given_order, self._given_customer = order, customer

    @property
    def customer(self) -> Customer | None:
        if self._given_customer is not None:
            return self._given_customer
        return self.conversation.customer if self.conversation is not None else None

    @cached_property
    def order(self) -> Order | None:
        """The order the text is about: the rule's own (order.confirmed), else the customer's latest one."""
        if self._given_order is not None:
            return self._given_order
        if self.customer is None:
            return None
        return (Order.objects.filter(customer=self.customer)
                .exclude(state__in=[OrderState.DRAFT, OrderState.CANCELLED]).order_by("-created_at", "-id").first())

    def get(self, namespace: str, name: str) -> str:
        lookups: dict[str, Callable[[str], str]] = {"cliente": self._customer, "agente": self._agent,
                                                     "pedido": self._order_value, "conversacion": self._conversation,
                                                     "equipo": self._team}
        return lookups[namespace](name).strip()

    def _customer(self, name: str) -> str:
        c = self.customer
        if c is None:
            return ""
        known: dict[str, Callable[[], str]] = {  # lazily: only the variables the text uses are looked up
            "nombre": lambda: c.name,
            "primer_nombre": lambda: c.name.split(maxsplit=1)[0] if c.name.strip() else "",
            "telefono": lambda: next((p.e164 for p in c.phones.all()), ""),
            "correo": lambda: next((e.email for e in c.emails.all()), ""),
            "ciudad": lambda: c.city, "documento": lambda: c.document_id,
        }
        if name in known:
            return known[name]()
        extra = {fold(str(k)).replace(" ", "_"): v for k, v in (c.extra or {}).items()}
        value = extra.get(name)
        return "" if value is None or isinstance(value, (dict, list)) else str(value)

    def _agent(self, name: str) -> str:
        if self.agent is None:
            return ""
        full = self.agent.display_name
        return {"nombre": full, "primer_nombre": full.split(maxsplit=1)[0] if full.strip() else ""}.get(name, "")

    def _order_value(self, name: str) -> str:
        order = self.order
        if order is None:
            return ""
        if name == "numero":
            return order.number
        if name == "total":
            return format_money(order.total, order.currency)
        if name == "lineas":
            return "\n".join(f"{line.quantity} × {line.name}: {format_money(line.line_total, order.currency)}"
                             for line in order.lines.all())
        return str(order.get_state_display()) if name == "estado" else ""

    def _team(self, name: str) -> str:
        if name != "proxima_apertura" or self.conversation is None:
            return ""
        opening = next_opening(hours_team(self.conversation.inbox), timezone.now())
        # a sentence's moment for the customer ("martes 8 de diciembre a las 08:00"), in the message's language
        return date_format(timezone.localtime(opening), pgettext("next opening", r"l j \d\e F \a \l\a\s H:i")
                           ) if opening else ""

    def _conversation(self, name: str) -> str:
        return str(self.conversation.pk) if name == "id" and self.conversation is not None else ""


def render(body: str, *, conversation: Conversation | None, agent: User | None, values: Values | None = None
           ) -> Rendered:
    """The text with every variable that has a value replaced; those without one stay and are listed. `values`
    shares the lookups among several texts for the same conversation (the picker's options)."""
    values = values or Values(conversation, agent)
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        namespace = NAMESPACES.get(fold(match.group(1)))
        if namespace is None:
            return match.group(0)
        name = fold(match.group(2))
        value = values.get(namespace, FIELD_ALIASES.get(name, name))
        if not value:
            if match.group(0) not in missing:
                missing.append(match.group(0))
            return match.group(0)
        return value

    return Rendered(VARIABLE.sub(substitute, body), missing)
