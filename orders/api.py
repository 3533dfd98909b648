"""/api/v1/orders…: the same actions as the call screen."""


from datetime import datetime
from typing import Annotated, Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Body, Field, Router, Schema, Status
from ninja.pagination import paginate

from accounts.roles import Perm
from core.api import NOT_BLANK, DbId, ErrorOut, InputSchema, IsoDate, PageNumberPagination, api_require, api_user
from orders import actions
from orders.actions import MAX_LINE_QUANTITY
from orders.choices import OrderState
from orders.models import Order
from orders.selectors import OrderFilters, order_queryset

router = Router(tags=["orders"])


class LineIn(InputSchema):
    sku: str = Field(..., min_length=1, max_length=64, pattern=NOT_BLANK,
                     description="An active product's SKU (400 `unknown_product`, `inactive_product`)")
    quantity: int = Field(..., gt=0, le=MAX_LINE_QUANTITY)


MAX_LINES = 500
Lines = Annotated[list[LineIn], Field(max_length=MAX_LINES, description="Lines of the same SKU add up; a quantity "
                                                                         "above what is available is a 409")]


class OrderIn(InputSchema):
    lead_id: DbId | None = Field(None, description="A lead with a customer (404 `lead_not_found`; 400 "
                                                   "`lead_without_customer`) — or:")
    conversation_id: DbId | None = Field(None, description="A conversation the order is taken in (404 "
                                                           "`conversation_not_found`; 403 `not_assignee`). Exactly "
                                                           "one of the two (400 `order_subject_required`)")
    lines: Lines = Field(default_factory=list)


class DeliveryIn(InputSchema):
    """Completes the customer's record before the confirmation validates it (blank fields keep the record's)."""

    name: str = Field("", max_length=200)
    phone: str = Field("", max_length=40)
    address: str = Field("", max_length=250)
    city: str = Field("", max_length=100)
    department: str = Field("", max_length=100)
    document_id: str = Field("", max_length=40)


class ConfirmIn(InputSchema):
    delivery: DeliveryIn | None = None


class LinesIn(InputSchema):
    lines: Lines


class CancelIn(InputSchema):
    reason: str = Field(..., min_length=1, max_length=250, pattern=NOT_BLANK)


class LineOut(Schema):
    sku: str
    name: str
    quantity: int
    unit_price: str
    line_total: str


class ShortLineOut(Schema):
    sku: str
    requested: int
    available: int


class ConflictOut(ErrorOut):
    short_lines: list[ShortLineOut] | None = None


class OrderOut(Schema):
    id: int
    number: str
    state: str = Field(..., description="borrador | confirmado | despachado | cancelado")
    lead_id: int | None
    conversation_id: int | None
    customer_id: int
    agent: str
    currency: str
    total: str
    lines: list[LineOut]
    kommo_sync: str | None = Field(None, description="pendiente | sincronizado | reintentando | fallido, or null")
    delivery: dict[str, str]
    created_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None

    @staticmethod
    def resolve_agent(obj: Any) -> str:
        return obj["agent"] if isinstance(obj, dict) else obj.agent.username

    @staticmethod
    def resolve_total(obj: Any) -> str:
        return str(obj["total"] if isinstance(obj, dict) else obj.total)

    @staticmethod
    def resolve_lines(obj: Any) -> list[dict[str, Any]]:
        return obj["lines"] if isinstance(obj, dict) else _out(obj)["lines"]

    @staticmethod
    def resolve_kommo_sync(obj: Any) -> str | None:
        return obj["kommo_sync"] if isinstance(obj, dict) else _out(obj)["kommo_sync"]

    @staticmethod
    def resolve_delivery(obj: Any) -> dict[str, str]:
        return obj["delivery"] if isinstance(obj, dict) else _out(obj)["delivery"]


def _out(order: Order) -> dict[str, Any]:
    syncs = sorted(order.kommo_syncs.all(), key=lambda s: s.pk)
    return {
        "id": order.pk, "number": order.number, "state": order.state, "lead_id": order.lead_id,
        "conversation_id": order.conversation_id,
        "customer_id": order.customer_id, "agent": order.agent.username, "currency": order.currency,
        "total": str(order.total), "kommo_sync": syncs[-1].state if syncs else None,
        "lines": [{"sku": li.sku, "name": li.name, "quantity": li.quantity, "unit_price": str(li.unit_price),
                   "line_total": str(li.line_total)} for li in order.lines.all()],
        "delivery": {"name": order.delivery_name, "phone": order.delivery_phone, "address": order.delivery_address,
                     "city": order.delivery_city, "department": order.delivery_department,
                     "document": order.delivery_document},
        "created_at": order.created_at, "confirmed_at": order.confirmed_at, "cancelled_at": order.cancelled_at,
    }


def _reload(order_id: int) -> dict[str, Any]:
    return _out(Order.objects.select_related("agent").prefetch_related("lines", "kommo_syncs").get(pk=order_id))


@router.post("/orders", response={201: OrderOut, 404: ErrorOut, 409: ConflictOut},
             summary="Create a draft order for a lead or a conversation (409 `insufficient_stock` with "
                     "`short_lines`, or `lead_held`)")
def create_order(request: HttpRequest, payload: OrderIn) -> Any:
    order = actions.check_create_order(api_user(request), lead_id=payload.lead_id,
                                       conversation_id=payload.conversation_id,
                                       lines=[(li.sku, li.quantity) for li in payload.lines])
    return Status(201, _reload(order.pk))


@router.get("/orders", response=list[OrderOut], summary="Orders (agents see their own)")
@paginate(PageNumberPagination)
def list_orders(request: HttpRequest, state: OrderState | Literal[""] = "", agent: str = "",  # noqa: PLR0917
                q: str = "", date_from: IsoDate | None = None, date_to: IsoDate | None = None) -> QuerySet[Order]:
    user = api_require(request, Perm.ORDERS_VIEW)
    qs = order_queryset(user, OrderFilters(state=state, agent=agent, q=q, date_from=date_from, date_to=date_to))
    return qs.prefetch_related("lines", "kommo_syncs")


@router.get("/orders/{order_id}", response=OrderOut, summary="An order")
def get_order(request: HttpRequest, order_id: DbId) -> Any:
    actions.access_order(api_user(request), order_id)
    return _reload(order_id)


@router.put("/orders/{order_id}/lines", response={200: OrderOut, 409: ConflictOut},
            summary="Replace a draft's lines (409 `not_draft`, `insufficient_stock` with `short_lines`, `lead_held`)")
def set_lines(request: HttpRequest, order_id: DbId, payload: LinesIn) -> Any:
    actions.check_set_lines(api_user(request), order_id, lines=[(li.sku, li.quantity) for li in payload.lines])
    return _reload(order_id)


@router.post("/orders/{order_id}/confirm", response={200: OrderOut, 409: ConflictOut},
             summary="Confirm (409 with short_lines listing every line that cannot be met)")
def confirm_order(request: HttpRequest, order_id: DbId, payload: Body[ConfirmIn | None] = None) -> Any:
    delivery = actions.Delivery(**payload.delivery.model_dump()) if payload and payload.delivery else None
    actions.check_confirm_order(api_user(request), order_id, delivery=delivery)
    return _reload(order_id)


@router.post("/orders/{order_id}/cancel", response={200: OrderOut, 409: ErrorOut},
             summary="Cancel (stock returns via the ledger); 409 when the order's state does not allow it")
def cancel_order(request: HttpRequest, order_id: DbId, payload: CancelIn) -> Any:
    actions.check_cancel_order(api_user(request), order_id, reason=payload.reason)
    return _reload(order_id)


@router.post("/orders/{order_id}/dispatch", response={200: OrderOut, 409: ErrorOut},
             summary="Mark dispatched (409 unless confirmed)")
def dispatch_order(request: HttpRequest, order_id: DbId) -> Any:
    actions.check_dispatch_order(api_user(request), order_id)
    return _reload(order_id)
