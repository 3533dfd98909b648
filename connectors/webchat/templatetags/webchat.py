"""Template helpers for other apps' pages: the WhatsApp button and the web chat visitor of a conversation."""

from __future__ import annotations

from typing import Any

from django import template

from connectors.webchat.models import Visitor, WhatsAppLinkSettings
from connectors.webchat.selectors import visitor_for_conversation
from connectors.webchat.whatsapp_link import customer_whatsapp_url, default_template
from core.models import SiteSettings

register = template.Library()


def _link_settings(request: Any) -> tuple[str, str]:
    """Template and company name, read once per request (a customer list renders many buttons)."""

    cached = getattr(request, "_webchat_wa_settings", None) if request is not None else None
    if cached is None:
        cached = (WhatsAppLinkSettings.load().message_template or default_template(), SiteSettings.load().company_name)
        if request is not None:
            request._webchat_wa_settings = cached
    return cached


@register.simple_tag(takes_context=True)
def whatsapp_url(context: template.Context, customer: Any) -> str | None:
    if customer is None:
        return None
    request = context.get("request")
    user = getattr(request, "user", None)
    template_text, company = _link_settings(request)
    return customer_whatsapp_url(customer, agent=user if user is not None and user.is_authenticated else None,
                                 template=template_text, company=company)


@register.simple_tag
def webchat_visitor(conversation: Any) -> Visitor | None:
    return visitor_for_conversation(conversation.pk) if conversation is not None else None
