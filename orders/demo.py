"""Demo sales from the written channels (a `seed_demo` seeder run after the inbox's): in about half of the sales
and marketing inboxes' conversations that ended with an interested customer, the agent took an order beside the
conversation while the customer was still writing — one or two catalog products, the delivery address typed in the
builder when the customer's record had none. The call center's sales come from catalog.demo."""

from __future__ import annotations

import random
from datetime import timedelta

from django.core.management.base import OutputWrapper
from django.db import transaction

from core.demo import at
from core.errors import ActionError
from customers import demo as people
from inbox.choices import ConversationOutcome, ConversationState, CustomerState, MessageKind
from inbox.models import Conversation
from orders.actions import Delivery, check_confirm_order, check_create_order

SKUS = ["PH-001", "PH-002", "CO-010", "RT-100", "SM-300", "SP-400", "AC-600"]
MAX_ORDERS = {"small": 60, "large": 400}


def seed_conversation_sales(rng: random.Random, scale: str, stdout: OutputWrapper) -> None:
    buying = [CustomerState.INTERESTED, CustomerState.FOLLOW_UP, CustomerState.CONVERTED]
    candidates = (Conversation.objects.filter(
        inbox__code__in=["ventas", "marketing"], state=ConversationState.RESOLVED,
        outcome=ConversationOutcome.RESOLVED, customer_state__in=buying, assignee__isnull=False,
        closed_at__isnull=False)
        .exclude(channel="phone").select_related("assignee", "customer").prefetch_related("customer__phones")
        .order_by("closed_at", "pk"))
    sold = 0
    completed: set[int] = set()  # customers whose record has the delivery data (the prefetched one is not updated)
    for c in candidates:
        if sold >= MAX_ORDERS.get(scale, MAX_ORDERS["small"]):
            break
        if rng.random() < 0.5:
            continue  # interested, but thinking it over
        assert c.assignee is not None and c.closed_at is not None
        last_word = (c.messages.filter(kind=MessageKind.INBOUND).order_by("-created_at")
                     .values_list("created_at", flat=True).first()) or c.created_at
        city, department = rng.choice(people.CITIES)
        # what the customer typed when asked (an email customer gives a phone for the courier too)
        delivery = Delivery() if c.customer_id in completed else Delivery(
            phone="" if c.customer.phones.all() else people.phone(rng),
            **({} if c.customer.address else {"address": people.address(rng), "city": city,
                                               "department": department}))
        lines = [(sku, rng.choice([1, 1, 1, 2])) for sku in rng.sample(SKUS, rng.choice([1, 1, 2]))]
        try:
            # between the customer's last message and the agent's goodbye
            with at(last_word + (c.closed_at - last_word) / 2 if c.closed_at > last_word
                    else c.closed_at - timedelta(seconds=30)), transaction.atomic():  # no draft left on a refusal
                order = check_create_order(c.assignee, conversation_id=c.pk, lines=lines)
                check_confirm_order(c.assignee, order.pk, delivery=delivery)
            sold += 1
            completed.add(c.customer_id)
        except ActionError as exc:  # demo data must never abort the seed (e.g. a product sold out by the calls)
            stdout.write(f"demo order skipped: {exc.message}")
    stdout.write(f"orders: {sold} sales taken in conversations (WhatsApp, web chat, email)")
