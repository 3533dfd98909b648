"""What orders tell customers: purchases, spend and the last purchase (activity columns), the profile's purchase
history and the timeline's order entries.

A purchase is a confirmed (or dispatched) order, or — for imported history, whose sales carry no order — the
imported sales of one conversation, dated by its first sale. Spend sums the orders' totals and the imported sales'
amounts in the organization's currency.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Min, Sum, prefetch_related_objects
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User
from accounts.roles import Perm
from core.events import DomainEvent
from core.money import format_money
from customers.activity import refresh_on_commit
from customers.models import Customer
from customers.panels import SECTION_PAGE, section_page_url
from customers.timeline import Entry
from orders.choices import OrderState
from orders.models import Order, OrderLine, Sale
from orders.selectors import visible_orders

PURCHASED = (OrderState.CONFIRMED, OrderState.DISPATCHED)
RECENT_ORDERS_DAYS = 90
SPEND_DAYS = 365


def purchases(customer_ids: Sequence[int]) -> dict[int, list[tuple[datetime, Decimal]]]:
    """Every purchase of these customers as (when, amount): their orders, then their imported sales."""
    found: dict[int, list[tuple[datetime, Decimal]]] = {}
    orders = (Order.objects.filter(customer_id__in=customer_ids, state__in=PURCHASED)
              .values_list("customer_id", "confirmed_at", "created_at", "total"))
    for customer_id, confirmed_at, created_at, total in orders:
        found.setdefault(customer_id, []).append((confirmed_at or created_at, total))
    imported = (Sale.objects.filter(order__isnull=True, conversation__customer_id__in=customer_ids).order_by()
                .values("conversation__customer_id", "conversation_id")
                .annotate(at=Min("created_at"), amount=Sum("amount")))
    for row in imported:
        found.setdefault(row["conversation__customer_id"], []).append((row["at"], row["amount"]))
    return found


def activity(customer_ids: Sequence[int], now: datetime) -> Mapping[int, Mapping[str, Any]]:
    recent, year = now - timedelta(days=RECENT_ORDERS_DAYS), now - timedelta(days=SPEND_DAYS)
    return {pk: {
        "orders_count": len(bought), "total_spent": sum((amount for _at, amount in bought), Decimal(0)),
        "last_order_at": max(at for at, _amount in bought),
        "orders_90d": sum(1 for at, _amount in bought if at >= recent),
        "spent_12m": sum((amount for at, amount in bought if at >= year), Decimal(0)),
    } for pk, bought in purchases(customer_ids).items()}


def on_order_event(event: DomainEvent) -> None:
    """An order confirmed or cancelled: its customer's purchases change."""
    refresh_on_commit(getattr(event, "customer_id", None))



# --- the customer profile: purchases, favourite products, timeline entries ---------------------------------------

FAVOURITES = 5


@dataclass(frozen=True)
class Purchase:
    """One row of the purchase history: an order, or the imported sales of one conversation."""

    at: datetime
    order: Order | None = None
    conversation_id: int | None = None  # an imported sale's conversation
    amount: Decimal | None = None  # an imported sale's total


def purchase_page(user: User, customer: Customer, offset: int) -> dict[str, Any] | None:
    """The purchase history's rows from `offset` on, newest first: orders (date, lines, total, state, seller) and
    imported sales merged by date, SECTION_PAGE at a time, with the next page's URL when there are more. The history
    is the customer's, so it shows every order, whoever sold it; an agent's link opens only their own (the orders
    page's rule)."""
    if not user.has_perm_code(Perm.ORDERS_VIEW):
        return None
    end = offset + SECTION_PAGE + 1
    orders = (Order.objects.filter(customer=customer).exclude(state=OrderState.DRAFT).select_related("agent")
              .annotate(at=Coalesce("confirmed_at", "created_at")).order_by("-at", "-id")[:end])
    imported = (Sale.objects.filter(order__isnull=True, conversation__customer=customer).order_by()
                .values("conversation_id").annotate(at=Min("created_at"), amount=Sum("amount"))
                .order_by("-at", "-conversation_id")[:end])
    rows = heapq.merge((Purchase(at=o.at, order=o) for o in orders),
                       (Purchase(at=s["at"], conversation_id=s["conversation_id"], amount=s["amount"])
                        for s in imported), key=lambda p: p.at, reverse=True)
    page = list(rows)[offset:end]
    shown = [p.order for p in page[:SECTION_PAGE] if p.order is not None]
    prefetch_related_objects(shown, "lines")
    openable = set(visible_orders(user).filter(pk__in=[o.pk for o in shown]).values_list("pk", flat=True))
    for order in shown:
        order.openable = order.pk in openable  # type: ignore[attr-defined]
    more = len(page) > SECTION_PAGE
    return {"purchases": page[:SECTION_PAGE],
            "more_url": section_page_url(customer, "orders", offset + SECTION_PAGE) if more else ""}


def profile_section(user: User, customer: Customer) -> dict[str, Any] | None:
    """The customer's purchase history (its first page), the favourite products, total and average spend and the
    last purchase — in a constant number of queries, whatever the history's length."""
    first = purchase_page(user, customer, 0)
    if first is None:
        return None
    lines = Counter[str]()
    for product, quantity in (OrderLine.objects.filter(order__customer=customer, order__state__in=PURCHASED)
                              .order_by().values("name").annotate(n=Sum("quantity")).values_list("name", "n")):
        lines[product] += quantity
    for product, quantity in (Sale.objects.filter(order__isnull=True, conversation__customer=customer)
                              .order_by().values("product_name").annotate(n=Sum("quantity"))
                              .values_list("product_name", "n")):
        lines[product or _("Producto sin nombre")] += quantity
    return {**first, "customer": customer, "favourites": lines.most_common(FAVOURITES)}


def timeline_entries(user: User | None, customer: Customer, before: datetime | None, limit: int) -> list[Entry]:
    """Orders confirmed, dispatched and cancelled (each its own entry), for those who may see orders."""
    if user is not None and not user.has_perm_code(Perm.ORDERS_VIEW):
        return []
    qs = Order.objects.filter(customer=customer)
    openable = (None if user is None
                else set(visible_orders(user).filter(customer=customer).values_list("pk", flat=True)))
    entries: list[Entry] = []
    stamps = (("confirmed_at", "order.confirmed", _("Pedido %(number)s confirmado por %(total)s (%(lines)s)")),
              ("dispatched_at", "order.dispatched", _("Pedido %(number)s despachado")),
              ("cancelled_at", "order.cancelled", _("Pedido %(number)s cancelado")))
    for field, kind, sentence in stamps:
        rows = qs.filter(**{f"{field}__isnull": False})
        rows = rows.filter(**{f"{field}__lt": before}) if before else rows
        for order in rows.annotate(n=Count("lines")).order_by(f"-{field}", "-id")[:limit]:
            lines = ngettext("%(n)d producto", "%(n)d productos", order.n) % {"n": order.n}
            entries.append(Entry(
                at=getattr(order, field), kind=kind,
                text=sentence % {"number": order.number, "total": format_money(order.total, order.currency),
                                 "lines": lines},
                url=reverse("orders:detail", args=[order.pk]) if openable is None or order.pk in openable else "",
                ref={"order_id": order.pk}))
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]
