"""Demo data (a `seed_demo` seeder): the demo site behind /webchat/demo/, and a visitor for each web chat
conversation the inbox seeder made, so their replies have somewhere to go and their sidebar shows a visitor."""

from __future__ import annotations

import random

from django.core.management.base import OutputWrapper

from connectors.webchat.actions import do_ensure_demo_site
from connectors.webchat.models import Visitor
from inbox.models import Conversation


def seed_webchat(rng: random.Random, scale: str, stdout: OutputWrapper) -> None:
    site = do_ensure_demo_site()
    conversations = Conversation.objects.filter(channel="webchat").select_related("customer")
    visitors = [Visitor(site=site, name=c.customer.name, customer=c.customer, conversation=c, joined_at=c.created_at,
                        created_at=c.created_at, last_seen_at=c.last_activity_at,
                        last_page_url=rng.choice(["/", "/planes", "/contacto", "/soporte"]))
                for c in conversations if not Visitor.objects.filter(conversation=c).exists()]
    Visitor.objects.bulk_create(visitors)
    stdout.write(f"webchat: demo site and {len(visitors)} visitors")
