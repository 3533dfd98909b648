from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import User
from accounts.roles import Perm
from core.text import fold
from customers.phones import looks_like_phone, normalize_phone
from orders.models import Order


@dataclass(frozen=True)
class OrderFilters:
    state: str = ""
    agent: str = ""
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""


def visible_orders(user: User) -> QuerySet[Order]:
    """Agents see their own orders; supervisors and managers see all."""
    qs = Order.objects.all()
    if user.role == "agente" and not user.has_perm_code(Perm.ORDERS_MANAGE):
        qs = qs.filter(agent=user)
    return qs


def order_queryset(user: User, f: OrderFilters) -> QuerySet[Order]:
    qs = visible_orders(user)
    if f.state:
        qs = qs.filter(state=f.state)
    if f.agent:
        qs = qs.filter(agent__username=f.agent)
    tz = timezone.get_current_timezone()
    if f.date_from:
        qs = qs.filter(created_at__gte=datetime.combine(f.date_from, time.min, tzinfo=tz))
    if f.date_to:
        qs = qs.filter(created_at__lte=datetime.combine(f.date_to, time.max, tzinfo=tz))
    q = f.q.strip()
    if q:
        if looks_like_phone(q) and normalize_phone(q):
            qs = qs.filter(Q(customer__phones__e164=normalize_phone(q)) | Q(delivery_phone=normalize_phone(q)))
        elif q.upper().startswith("P-") and q[2:].isdigit():
            qs = qs.filter(pk=int(q[2:]))
        else:
            qs = qs.filter(customer__search_name__contains=fold(q))
    return qs.select_related("customer", "agent", "lead").order_by("-created_at", "-id")
