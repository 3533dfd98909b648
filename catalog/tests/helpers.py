"""Shared test helpers for the catalog."""

from __future__ import annotations

from django.db.models import Sum

from catalog.models import Product, StockMovement


def ledger_sum(p: Product) -> int:
    return StockMovement.objects.filter(product=p).aggregate(s=Sum("on_hand_delta"))["s"] or 0


def ledger_matches(p: Product) -> bool:
    """The ledger explains the quantity: Σ on_hand_delta == stock_on_hand."""
    p.refresh_from_db()
    return ledger_sum(p) == p.stock_on_hand
