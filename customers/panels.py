"""Sections other apps add to the customer profile (core.panels): the inbox's conversations, orders' purchases, the
call center's leads and notes, automation's scheduled messages. customers sits below those apps and cannot read
their tables; each registers its section from its AppConfig.ready(), and the profile renders them in order."""

from __future__ import annotations

from core.panels import Panels
from customers.models import Customer

profile_sections: Panels[Customer] = Panels()
