"""Read queries for the catalog, shared by the pages, the CSV export and the API (same filters, same order)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, Model, Q, QuerySet

from catalog.models import Product, StockMovement
from core.text import fold


def search_products(q: str, *, limit: int = 20, active_only: bool = True) -> list[Product]:
    qs: QuerySet[Product] = Product.objects.all()
    if active_only:
        qs = qs.filter(is_active=True)
    q = q.strip()
    if q:
        qs = qs.filter(Q(sku__iexact=q) | Q(sku__istartswith=q) | Q(search_name__contains=fold(q)))
    return list(qs.order_by("name")[:limit])


@dataclass(frozen=True)
class ProductFilters:
    q: str = ""
    active: bool | None = None  # None = active and inactive
    out_of_stock: bool = False  # nothing available to sell (on hand minus set aside)


def product_queryset(filters: ProductFilters) -> QuerySet[Product]:
    """Products by name, then id (stable pages). `q` matches the SKU prefix or the name without accents."""
    qs: QuerySet[Product] = Product.objects.all()
    if filters.active is not None:
        qs = qs.filter(is_active=filters.active)
    if filters.out_of_stock:
        qs = qs.filter(stock_on_hand__lte=F("stock_reserved"))
    q = filters.q.strip()
    if q:
        qs = qs.filter(Q(sku__istartswith=q) | Q(search_name__contains=fold(q)))
    return qs.order_by("name", "id")


def page_of[T: Model](qs: QuerySet[T], page: int, size: int) -> tuple[list[T], bool]:
    """One page and whether another follows, without a COUNT (one row more than the page is fetched)."""
    offset = (max(1, page) - 1) * size
    rows = list(qs[offset:offset + size + 1])
    return rows[:size], len(rows) > size


def recent_movements(product_id: int, *, limit: int = 50) -> list[StockMovement]:
    return list(StockMovement.objects.filter(product_id=product_id).select_related("order", "user")
                .order_by("-created_at", "-id")[:limit])
