"""Customers 360 (issue 17): the customer list at 300,000 customers (first page, and each filter on its own), the
profile of a customer with 200 orders and 100 conversations, the segments' recompute and the nightly activity
rebuild of 300,000 customers.

Data set: the call center's (`callcenter.ensure_leads`: 300,000 customers, one lead each — ~50% never called, ~40%
en_proceso, ~10% completado — ~30% with 1-2 of 8 tags, ~half in one of 4 marketing lists, one E.164 phone each,
~30% with an email). The activity columns are then computed by the real nightly job (`rebuild_customer_activity`,
timed: the `customers.activity_rebuild` line reports that first run), which derives the lead state, calls as
contacts and the phone channel from the leads. The data set has no orders or conversations, so the purchase and
written-channel columns are filled deterministically by id afterwards (`_synthetic_purchases_sql`), as a store with
that history would have them: the list reads only these columns.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from bench import harness
from bench.harness import Sample, Scenario, timed_requests
from bench.scenarios import callcenter

SIZE = callcenter.SIZE
PROFILE_ORDERS = 200
PROFILE_CONVERSATIONS = 100
_state: dict[str, Any] = {}

# Each filter of the list on its own, as an operations manager uses them (the "any one filter").
FILTERS: list[tuple[str, str]] = [
    ("tag", "tag=vip"),
    ("marketing_list", "marketing_list=reactivacion"),
    ("lead_state", "lead_state=en_proceso"),
    ("channel", "channel=whatsapp"),
    ("contacted_within", "contacted_within=30"),
    ("not_contacted_within", "not_contacted_within=90"),
    ("spent_min", "spent_min=1000000"),
    ("open_conversation", "open_conversation=1"),
    ("segment", "segment=inactivo"),
    ("sort_spent", "sort=spent"),
    ("sort_name", "sort=name"),
    ("name_search", "q=pena"),
    ("phone_end_search", "q={phone_end}"),  # the last 4 digits of a customer's phone in the data set
]


def _synthetic_purchases_sql(vendor: str) -> list[str]:
    """Integer arithmetic on the id, the same at every run: ≈20% buyers (1 to 6 purchases, up to 2,000,000 spent,
    the last one 0 to 199 days ago), a third on WhatsApp, a tenth on email, 1 in 40 with an open conversation, and
    customers known for 0 to 399 days — so every default segment has members (VIP, Frecuente, Nuevo, Inactivo)."""
    if vendor == "postgresql":
        days_ago = "NOW() - make_interval(days => ({})::int)"
    else:
        days_ago = "datetime('now', '-' || ({}) || ' days')"
    return [
        "UPDATE customers_customer SET "
        "orders_count = CASE WHEN id % 5 = 0 THEN 1 + id % 6 ELSE 0 END, "
        "total_spent = CASE WHEN id % 5 = 0 THEN (id * 7919) % 2000000 ELSE 0 END, "
        "spent_12m = CASE WHEN id % 5 = 0 THEN (id * 7919) % 2000000 ELSE 0 END, "
        "orders_90d = CASE WHEN id % 5 = 0 AND id % 200 < 90 THEN 1 + id % 6 ELSE 0 END, "
        f"last_order_at = CASE WHEN id % 5 = 0 THEN {days_ago.format('id % 200')} ELSE NULL END, "
        f"created_at = {days_ago.format('id % 400')}, "
        "on_whatsapp = (id % 3 = 0), on_email = (id % 10 = 1), "
        "open_conversations = CASE WHEN id % 40 = 0 THEN 1 ELSE 0 END, "
        "conversations_count = CASE WHEN id % 3 = 0 OR id % 10 = 1 THEN 1 + id % 4 ELSE 0 END",
    ]


def ensure_customers(size: int) -> None:
    if _state.get("size") == size:
        return
    from django.db import connection

    from customers.activity import rebuild_customer_activity

    callcenter.ensure_leads(size)
    started = time.perf_counter()
    seen, changed = rebuild_customer_activity()
    _state["rebuild_seconds"] = time.perf_counter() - started
    harness._log(f"  customers: activity of {seen} customers rebuilt in {_state['rebuild_seconds']:.1f} s "
                 f"({changed} changed)")
    with connection.cursor() as cursor:
        for statement in _synthetic_purchases_sql(connection.vendor):
            cursor.execute(statement)
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE customers_customer")
    from customers.segments import recompute_all

    started = time.perf_counter()
    moved = recompute_all()  # the default segments' baseline, so the segment filter has members
    harness._log(f"  customers: segments' baseline in {time.perf_counter() - started:.1f} s: {moved}")
    if connection.vendor == "postgresql":  # as autovacuum does after 370,000 new memberships
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE customers_segmentmembership")
    _state["size"] = size


def _agent_client() -> Any:
    from django.test import Client

    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(pk=callcenter._state["agents"][0]["id"]))
    return client


def _rows(response: Any) -> int:
    return response.content.count(b"data-customer-id=")


def _list_run(query: str, *, at_least: int) -> Any:
    def run(n: int) -> list[Sample]:
        client = _agent_client()
        phone_end = f"{callcenter._state['phone_number']:07d}"[-4:]
        path = "/clientes/" + (f"?{query.format(phone_end=phone_end)}" if query else "")
        response = client.get(path)
        if response.status_code != 200 or _rows(response) < at_least:
            raise RuntimeError(f"{path}: HTTP {response.status_code}, {_rows(response)} rows")
        return timed_requests(lambda: client.get(path), n)

    return run


def _count_run(query: str) -> Any:
    def run(n: int) -> list[Sample]:
        client = _agent_client()
        path = f"/clientes/conteo?{query}"
        response = client.get(path)
        if response.status_code != 200 or b"cliente" not in response.content:
            raise RuntimeError(f"{path}: HTTP {response.status_code}")
        return timed_requests(lambda: client.get(path), n)

    return run


def ensure_profile(size: int) -> None:
    """A customer with PROFILE_ORDERS confirmed orders (two lines each) and PROFILE_CONVERSATIONS conversations
    (one closed per ten), on top of the list's data set."""
    ensure_customers(size)
    if "profile_id" in _state:
        return
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from catalog.models import Product
    from customers.activity import do_refresh_activity
    from customers.models import Customer
    from inbox.models import Conversation, Inbox
    from leads.models import Lead
    from orders.models import Order, OrderLine

    now = timezone.now()
    agent = User.objects.get(pk=callcenter._state["agents"][0]["id"])
    lead = Lead.objects.order_by("pk").first()
    assert lead is not None and lead.customer_id is not None
    customer = Customer.objects.get(pk=lead.customer_id)
    with transaction.atomic():
        products = [Product.objects.create(sku=f"BENCH-P{i}", name=f"Producto {i}", price=Decimal(10000 + i))
                    for i in range(2)]
        inbox = Inbox.objects.filter(is_global=True).first() or Inbox.objects.create(name="Ventas", code="ventas")
        orders = Order.objects.bulk_create(
            Order(customer=customer, agent=agent, lead=lead, state="confirmado", total=Decimal(30000),
                  created_at=now - timedelta(days=i), confirmed_at=now - timedelta(days=i))
            for i in range(PROFILE_ORDERS))
        OrderLine.objects.bulk_create(
            OrderLine(order=order, product=p, sku=p.sku, name=p.name, unit_price=Decimal(10000), quantity=1 + k,
                      line_total=Decimal(10000 * (1 + k)))
            for order in orders for k, p in enumerate(products))
        Conversation.objects.bulk_create(
            Conversation(customer=customer, channel="whatsapp", inbox=inbox, subject=f"Consulta {i}",
                         state="resuelta" if i % 10 else "pendiente", created_at=now - timedelta(days=i),
                         last_activity_at=now - timedelta(days=i), last_customer_message_at=now - timedelta(days=i),
                         closed_at=now - timedelta(days=i) if i % 10 else None,
                         close_reason="answered" if i % 10 else "")
            for i in range(PROFILE_CONVERSATIONS))
    do_refresh_activity([customer.pk])
    _state["profile_id"] = customer.pk


def _supervisor_client() -> Any:
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(pk=callcenter._state["supervisor_id"]))
    return client


def run_profile(n: int) -> list[Sample]:
    client = _supervisor_client()
    path = f"/clientes/{_state['profile_id']}/"
    response = client.get(path)
    body = response.content.decode()
    if response.status_code != 200 or 'data-section="purchases"' not in body or \
            'data-section="conversations"' not in body:
        raise RuntimeError(f"profile: HTTP {response.status_code}")
    return timed_requests(lambda: client.get(path), n)


def run_profile_more(path_template: str, marker: str) -> Any:
    """A profile's second request: its timeline as it scrolls into view, or a section's next page."""
    def run(n: int) -> list[Sample]:
        client = _supervisor_client()
        path = path_template.format(id=_state["profile_id"])
        response = client.get(path, HTTP_HX_REQUEST="true")
        if response.status_code != 200 or response.content.decode().count(marker) < 20:
            raise RuntimeError(f"{path}: HTTP {response.status_code}")
        return timed_requests(lambda: client.get(path, HTTP_HX_REQUEST="true"), n)

    return run


def run_rebuild(n: int) -> list[Sample]:
    """The nightly job over every customer, once (n is ignored: one rebuild takes minutes). The data set's first
    rebuild is reported too, in the log line of ensure_customers."""
    from customers.activity import rebuild_customer_activity

    started = time.perf_counter()
    seen, _changed = rebuild_customer_activity()
    seconds = time.perf_counter() - started
    harness._log(f"  customers: rebuild of {seen} customers: {seconds:.1f} s")
    from django.db import connection

    with connection.cursor() as cursor:  # the list scenarios after this one read the synthetic purchases again
        for statement in _synthetic_purchases_sql(connection.vendor):
            cursor.execute(statement)
    return [Sample(seconds, None)]


def run_segments(n: int) -> list[Sample]:
    """Every segment over every customer, once (n is ignored): the nightly recompute after the activity rebuild.
    Run twice (the data set's setup computed the baseline); both are timed."""
    from customers.models import Segment
    from customers.segments import member_counts, recompute_all

    samples = []
    for label in ("run 1", "run 2"):
        started = time.perf_counter()
        moved = recompute_all()
        seconds = time.perf_counter() - started
        counts = member_counts()
        members = {code: counts.get(pk, 0) for pk, code in Segment.objects.values_list("pk", "code")}
        harness._log(f"  customers: segments recomputed ({label}) in {seconds:.1f} s; members {members}; "
                     f"entered/left {moved}")
        samples.append(Sample(seconds, None))
    return samples


SCENARIOS = [
    Scenario(name="customers.list_page", description="GET /clientes/ (agent), first page of 50, 300,000 customers",
             setup=ensure_customers, run=_list_run("", at_least=50), size=SIZE),
    *[Scenario(name=f"customers.list_{name}", description=f"GET /clientes/?{query}, 300,000 customers",
               setup=ensure_customers, run=_list_run(query, at_least=1), size=SIZE) for name, query in FILTERS],
    *[Scenario(name=f"customers.count_{name}",
               description=f"GET /clientes/conteo?{query} (the count the list loads after its rows), 300,000 customers",
               setup=ensure_customers, run=_count_run(query), size=SIZE)
      for name, query in (("all", ""), ("tag", "tag=vip"), ("segment", "segment=inactivo"))],
    Scenario(name="customers.profile",
             description=f"GET /clientes/<id>/ (supervisor), {PROFILE_ORDERS} orders and {PROFILE_CONVERSATIONS} "
                         "conversations, 300,000 customers",
             setup=ensure_profile, run=run_profile, size=SIZE),
    Scenario(name="customers.profile_timeline",
             description="GET /clientes/<id>/historial (the profile's timeline, loaded as it scrolls into view), "
                         "the same customer", setup=ensure_profile,
             run=run_profile_more("/clientes/{id}/historial", "data-kind="), size=SIZE),
    Scenario(name="customers.profile_more_orders",
             description="GET /clientes/<id>/secciones/orders?desde=20 (the purchases' second page), the same "
                         "customer", setup=ensure_profile,
             run=run_profile_more("/clientes/{id}/secciones/orders?desde=20", 'data-label="Fecha"'), size=SIZE),
    Scenario(name="customers.segment_recompute",
             description="recompute_all(): the 4 default segments over 300,000 customers (baseline, then again)",
             setup=ensure_customers, run=run_segments, size=SIZE),
    Scenario(name="customers.activity_rebuild",
             description="rebuild_customer_activity(): every customer's activity columns, 300,000 customers",
             setup=ensure_customers, run=run_rebuild, size=SIZE),
]
