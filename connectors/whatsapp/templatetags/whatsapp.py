"""Data for the conversation page's WhatsApp extension points (whatsapp/_compose_extra.html)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from connectors.whatsapp import message_templates as mt
from connectors.whatsapp.models import MessageTemplate
from connectors.whatsapp.window import Window, contact_for, number_for

register = template.Library()


@register.simple_tag
def whatsapp_compose(conversation: Any, user: Any = None) -> dict[str, Any]:
    """The number, the 24-hour window and the approved templates with their variables pre-filled from the
    customer (three queries; the conversation page is opened one at a time)."""

    if getattr(conversation, "channel", None) != "whatsapp":
        return {"number": None}
    number = number_for(conversation)
    if number is None:
        return {"number": None}
    contact = contact_for(conversation, number)
    window = Window(last_inbound_at=contact.last_inbound_at if contact else None, now=timezone.now())
    templates = []
    for t in MessageTemplate.objects.filter(waba_id=number.waba_id, status__iexact="APPROVED").order_by("name",
                                                                                                        "language"):
        values, examples = mt.prefill(t, conversation.customer, user), mt.examples(t)
        templates.append({"template": t, "preview": mt.render_text(t, {}), "reason": mt.unsupported_reason(t),
                          "variables": [{"key": k, "value": values.get(k, ""), "example": examples.get(k, "")}
                                        for k in mt.variables(t)]})
    return {"number": number, "window": window, "templates": templates}
