"""/api/v1/products and their stock movements: the same actions and selectors as the catalog pages."""

# No `from __future__ import annotations`: @paginate wraps views, and ninja then resolves string annotations (SkuPath)
# in ninja.pagination's namespace.
import re
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from accounts.roles import Perm
from catalog import actions
from catalog.actions import MAX_PRICE, MAX_STOCK, REASON_MAX_LENGTH
from catalog.models import Product, StockMovement
from catalog.selectors import ProductFilters, product_queryset
from core.api import (
    END,
    NOT_BLANK,
    WHITESPACE,
    ErrorOut,
    InputSchema,
    PageNumberPagination,
    api_require,
    api_user,
    explained,
)

router = Router(tags=["catalog"])

PRICE_DOC = 'Decimal string with at most 2 decimals, comma or point ("12500.50"), or an integer; never a float.'
SKU_DOC = ('1-64 characters; any letter, digit, space or sign except "/", "\\" and control characters, and not "." '
           'or ".." (the SKU is the product\'s address: /api/v1/products/{sku}, percent-encoded).')
STOCK_DOC = f"Units, 0 to {MAX_STOCK:,}"
MAX_PRICE_DIGITS = len(str(int(MAX_PRICE))) - 1  # integer digits below MAX_PRICE (10**12): 12
PRICE_PATTERN = rf"^[0-9]{{1,{MAX_PRICE_DIGITS}}}([.,][0-9]{{1,2}})?{END}"
# A SKU someone can type (not blank) and that addresses its product: no "/", "\\" or control characters, and not
# "." or ".." once surrounding spaces are stripped (catalog.actions.sku_error).
SKU_PATTERN = explained(
    rf"^(?![{WHITESPACE}]*\.{{1,2}}[{WHITESPACE}]*{END})(?=[\s\S]*{NOT_BLANK})[^/\\\x00-\x1f\x7f]+{END}",
    gettext_lazy("El SKU no puede estar vacío, contener «/», «\\» ni caracteres de control, ni ser «.» o «..»."))
# The SKU in a path: anything but "/", "." and ".." (the address of a SKU saved before the rule is still valid).
# Without lookaheads: ninja validates path parameters with pydantic's default (Rust) regex engine.
SKU_PATH_PATTERN = explained(r"^([^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+)$",
                             gettext_lazy("El SKU de la dirección no puede ser «.» ni «..»."))
PRICE_ALTERNATIVES: list[Any] = [{"type": "string", "pattern": PRICE_PATTERN},
                                      {"type": "integer", "minimum": 0, "maximum": int(MAX_PRICE) - 1}]
PRICE_FIELD_SCHEMA: dict[str, Any] = {"anyOf": PRICE_ALTERNATIVES}


SkuPath = Annotated[str, Field(max_length=64, pattern=SKU_PATH_PATTERN, description=SKU_DOC)]


class ProductOut(Schema):
    id: int
    uuid: UUID = Field(..., description="Stable public identifier (the one exports use)")
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


class ProductIn(InputSchema):
    sku: str = Field(..., min_length=1, max_length=64, pattern=SKU_PATTERN, description=SKU_DOC)
    name: str = Field(..., min_length=1, max_length=200, pattern=NOT_BLANK)
    price: str | int = Field(..., description=PRICE_DOC, json_schema_extra=PRICE_FIELD_SCHEMA)
    description: str = ""
    category: str = Field("", max_length=100)
    is_active: bool = True
    stock: int = Field(0, ge=0, le=MAX_STOCK,
                       description=f"Initial stock on hand, recorded as a receipt in the ledger. {STOCK_DOC}")

    @field_validator("price")
    @classmethod
    def _price(cls, value: str | int) -> str | int:
        return _check_price(value)


class ProductPatch(InputSchema):
    """Absent (or null) fields keep their value."""

    sku: str | None = Field(None, min_length=1, max_length=64, pattern=SKU_PATTERN, description=SKU_DOC)
    name: str | None = Field(None, min_length=1, max_length=200, pattern=NOT_BLANK)
    price: str | int | None = Field(None, description=PRICE_DOC,
                                    json_schema_extra={"anyOf": [*PRICE_ALTERNATIVES, {"type": "null"}]})
    description: str | None = None
    category: str | None = Field(None, max_length=100)
    is_active: bool | None = None

    @field_validator("price")
    @classmethod
    def _price(cls, value: str | int | None) -> str | int | None:
        return None if value is None else _check_price(value)


def _check_price(value: str | int) -> str | int:
    """The price's form, as the schema states it (its range and decimals are checked again by the action)."""
    if isinstance(value, str) and not re.fullmatch(PRICE_PATTERN, value):
        raise PydanticCustomError("invalid_price", _("Precio inválido: use un número con hasta dos decimales, "
                                                     "p. ej. «12500.50»."))
    if isinstance(value, int) and not 0 <= value < MAX_PRICE:
        raise PydanticCustomError("invalid_price", _("Precio inválido: %s.") % value)
    return value


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


class AdjustmentIn(InputSchema):
    """At least one of `delta` and `set_aside_delta` is not 0 (400 `nothing_to_adjust`)."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["delta"], "properties": {"delta": {"not": {"const": 0}}}},
        {"required": ["set_aside_delta"], "properties": {"set_aside_delta": {"not": {"const": 0}}}}]})

    delta: int = Field(0, ge=-MAX_STOCK, le=MAX_STOCK, description="Change of stock on hand (count, breakage, "
                       f"loss); the result stays within 0 to {MAX_STOCK:,} (400 `stock_too_large` above it, 409 "
                       "`invalid_adjustment` below 0 or under the units set aside)")
    set_aside_delta: int = Field(0, ge=-MAX_STOCK, le=MAX_STOCK, description="Change of units set aside")
    reason: str = Field(..., min_length=1, max_length=REASON_MAX_LENGTH, pattern=NOT_BLANK)


@router.get("/products", response=list[ProductOut], summary="Products (search by SKU prefix or name)")
@paginate(PageNumberPagination)
def list_products(request: HttpRequest, q: str = "", active: bool | None = None) -> QuerySet[Product]:
    api_require(request, Perm.CATALOG_VIEW)
    return product_queryset(ProductFilters(q=q, active=active))


@router.post("/products", response={201: ProductOut, 409: ErrorOut},
             summary="Create a product (409 when the SKU exists; the initial stock is a receipt in the ledger)")
def create_product(request: HttpRequest, payload: ProductIn) -> Any:
    product = actions.check_save_product(
        api_user(request), sku=payload.sku, name=payload.name, price=payload.price, description=payload.description,
        category=payload.category, is_active=payload.is_active, initial_stock=payload.stock)
    return Status(201, product)


@router.get("/products/{sku}", response=ProductOut, summary="A product")
def get_product(request: HttpRequest, sku: SkuPath) -> Any:
    return actions.access_product(api_user(request), sku=sku)


@router.patch("/products/{sku}", response={200: ProductOut, 409: ErrorOut},
              summary="Change some fields (stock changes go through /adjustments); 409 when the new SKU exists")
def update_product(request: HttpRequest, sku: SkuPath, payload: ProductPatch) -> Any:
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
def list_movements(request: HttpRequest, sku: SkuPath) -> QuerySet[StockMovement]:
    product = actions.access_product(api_user(request), sku=sku)
    return product.movements.select_related("order", "user").order_by("-created_at", "-id")


@router.post("/products/{sku}/adjustments", response={201: ProductOut, 409: ErrorOut},
             summary="A manual stock adjustment or a change of units set aside (reason required)")
def adjust_stock(request: HttpRequest, sku: SkuPath, payload: AdjustmentIn) -> Any:
    user = api_user(request)
    product = actions.access_product(user, sku=sku)
    return Status(201, actions.check_adjust_stock(user, product.pk, delta=payload.delta,
                                                  set_aside_delta=payload.set_aside_delta, reason=payload.reason))
