"""Cards for our own objects linked in a message (a conversation, a lead, an order, a customer): drawn for each
reader, and only for the objects that reader may see — each object is fetched through its own app's access check,
so a card never shows what the reader's role or inboxes would hide (a link they may not open shows no card)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.models import User
from core.choices import display
from core.errors import ActionError
from core.money import format_money
from customers.actions import access_customer
from inbox.actions import access_conversation
from inbox.attachments import is_preview_image
from leads.actions import access_lead
from orders.actions import access_order
from teamchat.models import Message


def _conversation(user: User, pk: int) -> dict[str, Any]:
    c = access_conversation(user, pk)
    who = c.assignee.display_name if c.assignee else _("sin asignar")
    return {"kind": "conversation", "icon": "inbox", "kind_label": _("Conversación"),
            "title": c.customer.name, "url": reverse("inbox:detail", args=[c.pk]),
            "state": display(c, "state"), "detail": f"{display(c, 'channel')} · {c.inbox.name} · {who}"}


def _lead(user: User, pk: int) -> dict[str, Any]:
    lead = access_lead(user, pk)
    return {"kind": "lead", "icon": "phone", "kind_label": _("Lead"), "title": lead.name,
            "url": reverse("leads:detail", args=[lead.pk]), "state": display(lead, "work_status"),
            "detail": lead.stage_name}


def _order(user: User, pk: int) -> dict[str, Any]:
    order = access_order(user, pk)
    return {"kind": "order", "icon": "receipt", "kind_label": _("Pedido"),
            "title": f"{order.number} · {order.customer.name}", "url": reverse("orders:detail", args=[order.pk]),
            "state": display(order, "state"), "detail": format_money(order.total)}


def _customer(user: User, pk: int) -> dict[str, Any]:
    customer = access_customer(user, pk)
    return {"kind": "customer", "icon": "contact", "kind_label": _("Cliente"), "title": customer.name,
            "url": reverse("customers:detail", args=[customer.pk]), "state": "",
            "detail": customer.city}


CARD_BUILDERS: dict[str, Callable[[User, int], dict[str, Any]]] = {
    "conversation": _conversation, "lead": _lead, "order": _order, "customer": _customer,
}


def cards_for(reader: User, messages: Sequence[Message]) -> dict[int, list[dict[str, Any]]]:
    """{message id: its cards the reader may see}; an object the reader may not see (or that no longer exists) is
    left out without a word."""
    cache: dict[tuple[str, int], dict[str, Any] | None] = {}
    out: dict[int, list[dict[str, Any]]] = {}
    for m in messages:
        for ref in m.refs or []:
            kind, pk = ref.get("kind"), ref.get("id")
            builder = CARD_BUILDERS.get(str(kind))
            if builder is None or not isinstance(pk, int):
                continue
            key = (str(kind), pk)
            if key not in cache:
                try:
                    cache[key] = builder(reader, pk)
                except ActionError:
                    cache[key] = None
            if (card := cache[key]) is not None:
                out.setdefault(m.pk, []).append(card)
    return out


def is_image(description: dict[str, Any]) -> bool:
    return is_preview_image(description.get("content_type"))
