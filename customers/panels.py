"""Sections other apps add to the customer profile (core.panels): the inbox's conversations, orders' purchases, the
call center's leads and notes, automation's scheduled messages. customers sits below those apps and cannot read
their tables; each registers its section from its AppConfig.ready(), and the profile renders them in order."""

from __future__ import annotations

from django.urls import reverse

from core.panels import Panels
from customers.models import Customer

profile_sections: Panels[Customer] = Panels()

SECTION_PAGE = 20  # the rows a profile section shows at first, and each "show more" adds


def section_page_url(customer: Customer, name: str, offset: int) -> str:
    """Where a profile section's "show more" button reads its rows from `offset` on."""
    return f"{reverse('customers:section_page', args=[customer.pk, name])}?desde={offset}"
