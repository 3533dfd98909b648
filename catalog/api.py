"""/api/v1/products and their stock movements: the same actions and selectors as the catalog pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from accounts.roles import Perm
from catalog import actions
from catalog.models import Product, StockMovement
from catalog.selectors import ProductFilters, product_queryset
from core.api import ErrorOut, PageNumberPagination, api_require, api_user

router = Router(tags=["catalog"])

PRICE_DOC = 'Decimal string with at most 2 decimals, comma or point ("12500.50"), or an integer; never a float.'


class ProductOut(Schema):
    id: int
    sku: str
    name: str
    description: str
    category: str
    price: str = Field(..., description='Decimal string, e.g. "12500.00"')
    currency: str
    is_active: bool
    stock_on_hand: int
    stock_reserved: int = Field(..., description="Units on hand set aside (not for sale)")
    stock_available: int = Field(..., description="stock_on_hand - stock_reserved")

    @staticmethod
    def resolve_price(obj: Product) -> str:
        return str(obj.price)

    @staticmethod
    def resolve_currency(obj: Product) -> str:
        return str(settings.CURRENCY)


class ProductIn(Schema):
    sku: str
    name: str
    price: str | int = Field(..., description=PRICE_DOC)
    description: str = ""
    category: str = ""
    is_active: bool = True
    stock: int = Field(0, description="Initial stock on hand, recorded as a receipt in the ledger")


class ProductPatch(Schema):
    sku: str | None = None
    name: str | None = None
    price: str | int | None = Field(None, description=PRICE_DOC)
    description: str | None = None
    category: str | None = None
    is_active: bool | None = None


class MovementOut(Schema):
    id: int
    kind: str = Field(..., description="receipt | sale | cancellation | adjustment | set_aside")
    on_hand_delta: int
    reserved_delta: int
    on_hand_after: int
    reason: str
    order_id: int | None
    order_number: str | None
    user: str | None
    created_at: datetime

    @staticmethod
    def resolve_order_number(obj: StockMovement) -> str | None:
        return obj.order.number if obj.order is not None else None

    @staticmethod
    def resolve_user(obj: StockMovement) -> str | None:
        return obj.user.username if obj.user is not None else None


class AdjustmentIn(Schema):
    delta: int = Field(0, description="Change of stock on hand (count, breakage, loss)")
    set_aside_delta: int = Field(0, description="Change of units set aside")
    reason: str


@router.get("/products", response=list[ProductOut], summary="Products (search by SKU prefix or name)")
@paginate(PageNumberPagination)
def list_products(request: HttpRequest, q: str = "", active: bool | None = None) -> QuerySet[Product]:
    api_require(request, Perm.CATALOG_VIEW)
    return product_queryset(ProductFilters(q=q, active=active))


@router.post("/products", response={201: ProductOut, 400: ErrorOut, 403: ErrorOut, 409: ErrorOut},
             summary="Create a product (409 when the SKU exists; the initial stock is a receipt in the ledger)")
def create_product(request: HttpRequest, payload: ProductIn) -> Any:
    product = actions.check_save_product(
        api_user(request), sku=payload.sku, name=payload.name, price=payload.price, description=payload.description,
        category=payload.category, is_active=payload.is_active, initial_stock=payload.stock)
    return Status(201, product)


@router.get("/products/{sku}", response={200: ProductOut, 403: ErrorOut, 404: ErrorOut}, summary="A product")
def get_product(request: HttpRequest, sku: str) -> Any:
    return actions.access_product(api_user(request), sku=sku)


@router.patch("/products/{sku}", response={200: ProductOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut,
                                           409: ErrorOut},
              summary="Change some fields (stock changes go through /adjustments)")
def update_product(request: HttpRequest, sku: str, payload: ProductPatch) -> Any:
    user = api_user(request)
    product = actions.access_product(user, sku=sku)
    p = payload
    # Absent (or null) fields keep their value: the action always receives the whole product.
    return actions.check_save_product(
        user, product_id=product.pk, sku=product.sku if p.sku is None else p.sku,
        name=product.name if p.name is None else p.name, price=product.price if p.price is None else p.price,
        description=product.description if p.description is None else p.description,
        category=product.category if p.category is None else p.category,
        is_active=product.is_active if p.is_active is None else p.is_active)


@router.get("/products/{sku}/movements", response=list[MovementOut], summary="The product's stock ledger, newest first")
@paginate(PageNumberPagination)
def list_movements(request: HttpRequest, sku: str) -> QuerySet[StockMovement]:
    product = actions.access_product(api_user(request), sku=sku)
    return product.movements.select_related("order", "user").order_by("-created_at", "-id")


@router.post("/products/{sku}/adjustments", response={201: ProductOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut,
                                                      409: ErrorOut},
             summary="A manual stock adjustment or a change of units set aside (reason required)")
def adjust_stock(request: HttpRequest, sku: str, payload: AdjustmentIn) -> Any:
    user = api_user(request)
    product = actions.access_product(user, sku=sku)
    return Status(201, actions.check_adjust_stock(user, product.pk, delta=payload.delta,
                                                  set_aside_delta=payload.set_aside_delta, reason=payload.reason))
