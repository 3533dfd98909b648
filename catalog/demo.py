"""Demo catalog (a `seed_demo` seeder): products of a Colombian retailer with live stock, and a few
confirmed orders from the demo agents (their Kommo sync runs as soon as the worker starts)."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.core.management.base import OutputWrapper
from django.utils import timezone

from catalog.actions import check_save_product
from catalog.models import MovementKind, Product, StockMovement
from core import audit
from core.demo import at
from core.errors import ActionError
from core.text import fold
from leads.models import Lead
from orders.actions import check_confirm_order, check_create_order

PRODUCTS = [
    ("PH-001", "Plan Hogar 300 Mbps", "Internet", 89_900, 500),
    ("PH-002", "Plan Hogar 600 Mbps", "Internet", 119_900, 300),
    ("CO-010", "Combo Oficina (internet + telefonía)", "Empresas", 259_000, 80),
    ("RT-100", "Router WiFi 6 doble banda", "Equipos", 189_000, 25),
    ("RT-101", "Repetidor WiFi Mesh", "Equipos", 149_000, 3),
    ("TV-200", "Decodificador TV 4K", "Equipos", 210_000, 0),
    ("SM-300", "Seguro Moto anual", "Seguros", 320_000, 1000),
    ("SP-400", "Suscripción Premium streaming (12 meses)", "Entretenimiento", 299_900, 1000),
    ("KE-500", "Kit Escolar tablet + funda", "Tecnología", 649_000, 12),
    ("AC-600", "Audífonos inalámbricos", "Accesorios", 129_900, 40),
]


def seed_catalog(rng: random.Random, scale: str, stdout: OutputWrapper) -> None:
    for sku, name, category, price, stock in PRODUCTS:
        if not Product.objects.filter(sku=sku).exists():
            check_save_product(None, sku=sku, name=name, category=category, price=Decimal(price),
                               initial_stock=stock, description=f"{name} — producto de demostración.")
    if scale == "large":
        _bulk_catalog(rng, 10_000 - len(PRODUCTS))
    _demo_orders(rng, stdout)
    stdout.write(f"catalog: {Product.objects.count()} products")


def _bulk_catalog(rng: random.Random, count: int) -> None:
    """10,000 products for load tests: bulk inserts, each product's stock explained by one receipt row."""

    existing = set(Product.objects.filter(sku__startswith="SKU-").values_list("sku", flat=True))
    fresh = []
    for i in range(1, count + 1):
        sku = f"SKU-{i:05d}"
        if sku not in existing:
            name = f"Producto de catálogo {i}"
            fresh.append(Product(sku=sku, name=name, search_name=fold(name), category="Catálogo",
                                 price=Decimal(rng.randrange(10_000, 2_000_000, 100)),
                                 stock_on_hand=rng.randint(0, 200)))
    Product.objects.bulk_create(fresh, batch_size=2000)
    created = Product.objects.filter(sku__in=[p.sku for p in fresh]).only("pk", "stock_on_hand")
    StockMovement.objects.bulk_create(
        [StockMovement(product_id=p.pk, kind=MovementKind.RECEIPT, on_hand_delta=p.stock_on_hand,
                       on_hand_after=p.stock_on_hand, reason="Stock inicial (demo)")
         for p in created if p.stock_on_hand], batch_size=2000)
    audit.record(actor=None, action="demo.catalog_seeded", actor_username="seed_demo", changes={"products": len(fresh)})


def _demo_orders(rng: random.Random, stdout: OutputWrapper) -> None:
    """Sales from the calls: most leads whose call ended well get an order confirmed a couple of minutes after the
    note (so it is sold in that call: calls.actions), with one to three catalog products."""
    now = timezone.now()
    leads = list(Lead.objects.filter(customer__isnull=False, held_by__isnull=False, last_note_outcome="positivo")
                 .select_related("customer", "held_by").order_by("id"))
    skus = ["PH-001", "PH-002", "CO-010", "RT-100", "SM-300", "SP-400", "AC-600"]
    for lead in leads:
        if rng.random() < 0.25 or lead.last_note_at is None:
            continue  # interested, but no sale yet
        customer, agent = lead.customer, lead.held_by
        assert customer is not None and agent is not None
        if not customer.address:
            customer.address, customer.city, customer.department = "Calle 80 # 12-34", "Bogotá", "Cundinamarca"
            customer.save()
        lines = [(sku, rng.choice([1, 1, 1, 2])) for sku in rng.sample(skus, rng.choice([1, 1, 2, 3]))]
        try:
            with at(min(now, lead.last_note_at + timedelta(minutes=2))):
                order = check_create_order(agent, lead_id=lead.pk, lines=lines)
                check_confirm_order(agent, order.pk)
        except ActionError as exc:  # demo data must never abort the seed
            stdout.write(f"demo order skipped: {exc.message}")
