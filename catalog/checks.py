"""Data check: products whose SKU cannot be an address (saved before the SKU rule of catalog.actions.sku_error).

They still work everywhere a product is reached by id (the catalog pages, orders, the search), but not at
/api/v1/products/{sku}. `manage.py check --database default` (and `migrate`) lists them with the page to rename
each one; saving a new SKU there fixes it, and the old SKU stays editable until then.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Tags, Warning, register
from django.db import DatabaseError
from django.db.models import Q

from catalog.models import Product

SHOWN = 20  # products named in the message; the count covers them all


@register(Tags.database)
def check_product_skus_are_addressable(app_configs: Any = None, databases: Any = None,
                                       **kwargs: Any) -> list[CheckMessage]:
    if not databases:
        return []

    unsafe = (Q(sku__contains="/") | Q(sku__contains="\\") | Q(sku__in=[".", ".."]) | Q(sku__contains="\t")
              | Q(sku__contains="\n") | Q(sku__contains="\r"))
    problems: list[CheckMessage] = []
    for alias in databases:
        try:
            found = list(Product.objects.using(alias).filter(unsafe).order_by("pk").values_list("pk", "sku"))
        except DatabaseError:
            continue  # not migrated yet: nothing stored to check
        if found:
            listed = ", ".join(f"{sku!r} (/catalog/products/{pk}/)" for pk, sku in found[:SHOWN])
            more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
            problems.append(Warning(
                f"{len(found)} product(s) have a SKU that cannot be used in /api/v1/products/{{sku}}: {listed}{more}.",
                hint="Rename each SKU on its catalog page (letters, digits, spaces and signs other than / and \\; "
                     "docs/orders.md, \"SKUs\").", obj=f"{Product._meta.label}@{alias}", id="catalog.W001"))
    return problems
