"""Stock is only changed here, always with a ledger row (StockMovement) and F() updates."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from catalog.models import MovementKind, Product, StockMovement
from core import audit
from core.errors import ActionError, ConflictError, NotFoundError
from orders.models import Order

MAX_PRICE = Decimal(10) ** 12


@dataclass(frozen=True)
class ShortLine:
    sku: str
    requested: int
    available: int

    def as_dict(self) -> dict[str, object]:
        return {"sku": self.sku, "requested": self.requested, "available": self.available}


def parse_price(value: object) -> Decimal:
    try:
        price = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError) as exc:
        raise ActionError("invalid_price", _("Precio inválido: %s") % value, field="price") from exc
    # NaN/Infinity would crash the comparisons below (500 instead of 400); MAX_PRICE is what the column holds
    # (max_digits=14, decimal_places=2), so PostgreSQL never sees a numeric overflow.
    if (not price.is_finite() or price < 0 or price >= MAX_PRICE
            or price.as_tuple().exponent < -2):  # type: ignore[operator]
        raise ActionError("invalid_price", _("Precio inválido: %s") % value, field="price")
    return price.quantize(Decimal("0.01"))


def _movement(product: Product, kind: MovementKind, on_hand_delta: int, *, reserved_delta: int = 0,
              reason: str = "", order: Order | None = None, user: User | None = None) -> StockMovement:
    return StockMovement(product=product, kind=kind, on_hand_delta=on_hand_delta, reserved_delta=reserved_delta,
                         on_hand_after=product.stock_on_hand, reason=reason[:250], order=order, user=user)


@transaction.atomic
def check_save_product(
    acting_user: User | None, *, sku: str, name: str, price: object, description: str = "", category: str = "",
    is_active: bool = True, initial_stock: int = 0, product_id: int | None = None,
) -> Product:
    """Creates or updates a product. `initial_stock` (creation only) is recorded as a receipt in the ledger."""
    if acting_user is not None:
        require_perm(acting_user, Perm.CATALOG_MANAGE)
    sku, name = sku.strip(), name.strip()
    errors: dict[str, str] = {}
    if not sku:
        errors["sku"] = _("El SKU es obligatorio.")
    if not name:
        errors["name"] = _("El nombre es obligatorio.")
    try:
        price_value = parse_price(price)
    except ActionError as exc:
        errors["price"] = exc.message
    if initial_stock < 0:
        errors["stock"] = _("El stock inicial no puede ser negativo.")
    clash = bool(sku) and Product.objects.filter(sku=sku).exclude(pk=product_id or 0).exists()
    if clash:
        errors["sku"] = _("Ya existe un producto con el SKU %s.") % sku
    if errors:
        raise (ConflictError if clash and len(errors) == 1 else ActionError)(
            "invalid_product", " ".join(errors.values()), errors=errors)
    if product_id is None:
        product = Product.objects.create(sku=sku, name=name, price=price_value, description=description,
                                         category=category, is_active=is_active)
        audit.record(actor=acting_user, action="product.created", target=product, changes={"price": str(price_value)})
        if initial_stock:
            do_receive_stock(product.pk, quantity=initial_stock, reason=_("Stock inicial"), acting_user=acting_user)
            product.refresh_from_db()
        return product
    found = Product.objects.select_for_update().filter(pk=product_id).first()
    if found is None:
        raise NotFoundError("product_not_found", _("El producto no existe."))
    product = found
    changes = {}
    for field, value in (("sku", sku), ("name", name), ("price", price_value), ("description", description),
                         ("category", category), ("is_active", is_active)):
        if getattr(product, field) != value:
            changes[field] = [str(getattr(product, field)), str(value)]
            setattr(product, field, value)
    if changes:
        product.save()
        audit.record(actor=acting_user, action="product.updated", target=product, changes=changes)
    return product


def do_receive_stock(product_id: int, *, quantity: int, reason: str, acting_user: User | None) -> Product:
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=product_id)
        Product.objects.filter(pk=product_id).update(stock_on_hand=F("stock_on_hand") + quantity)
        product.refresh_from_db(fields=["stock_on_hand", "stock_reserved"])
        _movement(product, MovementKind.RECEIPT, quantity, reason=reason, user=acting_user).save()
        _notify_stock([product])
    return product


def access_product(acting_user: User, *, product_id: int | None = None, sku: str | None = None) -> Product:
    """The product by id or SKU for someone who may see the catalog (404 otherwise)."""
    require_perm(acting_user, Perm.CATALOG_VIEW)
    qs = Product.objects.filter(pk=product_id) if product_id is not None else Product.objects.filter(sku=sku or "")
    found = qs.first()
    if found is None:
        raise NotFoundError("product_not_found", _("El producto no existe."))
    return found


def check_receive_stock(acting_user: User, product_id: int, *, quantity: int, reason: str) -> Product:
    """Goods arrived (a supplier delivery): a receipt in the ledger, with a reason and an audit entry."""
    require_perm(acting_user, Perm.CATALOG_MANAGE)
    if quantity <= 0:
        raise ActionError("invalid_quantity", _("La cantidad recibida debe ser mayor que cero."), field="quantity")
    if not reason.strip():
        raise ActionError("reason_required", _("Indique el motivo de la entrada."), field="reason")
    with transaction.atomic():
        if not Product.objects.filter(pk=product_id).exists():
            raise NotFoundError("product_not_found", _("El producto no existe."))
        product = do_receive_stock(product_id, quantity=quantity, reason=reason.strip(), acting_user=acting_user)
        audit.record(actor=acting_user, action="stock.received", target=product,
                     changes={"quantity": quantity, "reason": reason.strip()})
    return product


def check_adjust_stock(acting_user: User, product_id: int, *, delta: int = 0, set_aside_delta: int = 0,
                       reason: str) -> Product:
    """A manual correction (count, breakage) or a change of units set aside; a reason is required."""
    require_perm(acting_user, Perm.CATALOG_MANAGE)
    if not reason.strip():
        raise ActionError("reason_required", _("Indique el motivo del ajuste."), field="reason")
    if not delta and not set_aside_delta:
        raise ActionError("nothing_to_adjust", _("El ajuste no cambia nada."), field="delta")
    return do_adjust_stock(product_id, delta=delta, set_aside_delta=set_aside_delta, reason=reason,
                           acting_user=acting_user)


def do_adjust_stock(product_id: int, *, delta: int, set_aside_delta: int = 0, reason: str,
                    acting_user: User | None) -> Product:
    """Writes an adjustment under the row lock (ConflictError if it would leave stock negative or more set
    aside than on hand). Callers check permissions: check_adjust_stock, and the CSV importer (which also runs
    from manage.py without a user)."""
    with transaction.atomic():
        product = Product.objects.select_for_update().filter(pk=product_id).first()
        if product is None:
            raise NotFoundError("product_not_found", _("El producto no existe."))
        on_hand, reserved = product.stock_on_hand + delta, product.stock_reserved + set_aside_delta
        if on_hand < 0 or reserved < 0 or reserved > on_hand:
            raise ConflictError("invalid_adjustment", _("El ajuste dejaría el stock en %(h)d (apartado %(r)d).")
                                % {"h": on_hand, "r": reserved})
        Product.objects.filter(pk=product_id).update(stock_on_hand=F("stock_on_hand") + delta,
                                                     stock_reserved=F("stock_reserved") + set_aside_delta)
        product.refresh_from_db(fields=["stock_on_hand", "stock_reserved"])
        kind = MovementKind.ADJUSTMENT if delta else MovementKind.SET_ASIDE
        _movement(product, kind, delta, reserved_delta=set_aside_delta, reason=reason, user=acting_user).save()
        audit.record(actor=acting_user, action="stock.adjusted", target=product,
                     changes={"on_hand": delta, "set_aside": set_aside_delta, "reason": reason})
        _notify_stock([product])
    return product


def do_take_stock(lines: Sequence[tuple[int, int]], *, order: Order, acting_user: User | None) -> list[Product]:
    """Takes the quantities of a confirmed order. The caller holds the transaction.

    Rows are locked in primary-key order (every caller locks in the same order, so two orders that share
    products cannot deadlock); every line that cannot be met is reported at once (ConflictError with
    `short_lines`), not only the first; stock is decremented with F() and the CheckConstraint on
    stock_on_hand is the backstop should anything bypass the lock.
    """
    wanted: dict[int, int] = {}
    for product_id, quantity in lines:
        wanted[product_id] = wanted.get(product_id, 0) + quantity
    products = list(Product.objects.select_for_update().filter(pk__in=wanted).order_by("pk"))
    short = [ShortLine(p.sku, wanted[p.pk], p.stock_available) for p in products
             if not p.is_active or wanted[p.pk] > p.stock_available]
    if short:
        raise ConflictError("insufficient_stock", _("No hay stock suficiente para: %s.")
                            % ", ".join(f"{s.sku} ({s.available}/{s.requested})" for s in short),
                            short_lines=[s.as_dict() for s in short])
    movements = []
    for product in products:
        Product.objects.filter(pk=product.pk).update(stock_on_hand=F("stock_on_hand") - wanted[product.pk])
        product.stock_on_hand -= wanted[product.pk]
        movements.append(_movement(product, MovementKind.SALE, -wanted[product.pk], order=order, user=acting_user,
                                   reason=order.number))
    StockMovement.objects.bulk_create(movements)
    _notify_stock(products)
    return products


def do_return_stock(order: Order, *, acting_user: User | None, reason: str) -> None:
    """Gives back what a cancelled order took, through the ledger (same locking order as do_take_stock)."""
    taken: dict[int, int] = {}
    for movement in StockMovement.objects.filter(order=order):
        taken[movement.product_id] = taken.get(movement.product_id, 0) - movement.on_hand_delta
    products = list(Product.objects.select_for_update().filter(pk__in=[k for k, v in taken.items() if v > 0])
                    .order_by("pk"))
    movements = []
    for product in products:
        Product.objects.filter(pk=product.pk).update(stock_on_hand=F("stock_on_hand") + taken[product.pk])
        product.stock_on_hand += taken[product.pk]
        movements.append(_movement(product, MovementKind.CANCELLATION, taken[product.pk], order=order,
                                   user=acting_user, reason=reason))
    StockMovement.objects.bulk_create(movements)
    _notify_stock(products)


def _notify_stock(products: Iterable[Product]) -> None:
    """Agents building orders see availability change live (after commit)."""
    from realtime import topics
    from realtime.events import is_muted, send_event_on_commit

    payload = [{"id": p.pk, "sku": p.sku, "available": max(0, p.stock_on_hand - p.stock_reserved)}
               for p in products]
    if payload and not is_muted():
        send_event_on_commit({"type": "stock", "op": "update", "products": payload}, topics=[topics.STOCK])
