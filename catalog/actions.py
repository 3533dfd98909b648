"""Stock is only changed here, always with a ledger row (StockMovement) and F() updates."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final

from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from catalog.events import StockChanged
from catalog.models import MovementKind, Product, StockMovement
from core import audit
from core.bulk import bulk_insert
from core.errors import ActionError, ConflictError, NotFoundError
from core.events import emit
from core.models import AuditLog
from core.text import fold
from core.validators import MAX_QUANTITY, check_text, max_length_of, quantity_error, text_error
from realtime import topics
from realtime.events import is_muted, send_event_on_commit

if TYPE_CHECKING:  # the ledger names the order a movement belongs to; orders call catalog, never the reverse
    from orders.models import Order

MAX_PRICE = Decimal(10) ** 12
# Stock on hand, a receipt or an adjustment: at most a billion units (core.validators.MAX_QUANTITY).
MAX_STOCK: Final = MAX_QUANTITY
REASON_MAX_LENGTH: Final = 250  # StockMovement.reason
# SKUs address products in URLs (/api/v1/products/{sku}): any character a URL path segment can carry once
# percent-encoded, which excludes "/" (and "\\", which some proxies treat as one), control characters, and the
# segments "." and ".." that clients normalise away. Letters with accents, spaces, "#", "?", "%" and "+" are fine.
SKU_FORBIDDEN: Final = re.compile(r"[/\\\x00-\x1f\x7f]")


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


def sku_error(sku: str) -> str | None:
    """Why `sku` cannot address a product in a URL (translated), or None. See SKU_FORBIDDEN."""
    if sku in {".", ".."}:
        return _("El SKU no puede ser «%s»: no se podría abrir su dirección.") % sku
    if SKU_FORBIDDEN.search(sku):
        return _("El SKU «%s» contiene caracteres no permitidos: use letras, números, espacios y signos como - _ . "
                 "# + (no «/», «\\» ni caracteres de control).") % re.sub(r"[\x00-\x1f\x7f]", "?", sku)
    return None


def product_field_errors(*, sku: str, name: str, description: str = "", category: str = "",
                         check_sku: bool = True, required: bool = True) -> dict[str, str]:
    """The rules every way of saving a product shares (form, API, CSV import): required fields, lengths, the SKU
    alphabet, text a database can store. `check_sku` False for a product keeping a SKU saved before the rule;
    `required` False for callers that report missing values in their own words (the CSV importer)."""
    errors: dict[str, str] = {}
    for field, value, label in (("sku", sku, _("El SKU")), ("name", name, _("El nombre")),
                                ("description", description, _("La descripción")),
                                ("category", category, _("La categoría"))):
        message = text_error(value, label=label, max_length=_max_length(field))
        if message is not None:
            errors[field] = message
    if not sku and required:
        errors["sku"] = _("El SKU es obligatorio.")
    elif sku and check_sku and "sku" not in errors and (message := sku_error(sku)) is not None:
        errors["sku"] = message
    if not name and required:
        errors["name"] = _("El nombre es obligatorio.")
    return errors


def _max_length(field: str) -> int | None:
    return max_length_of(Product, field)  # None for the description (a text column)


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
    # A product saved before the SKU rule keeps its SKU editable in place (the data check lists those to rename).
    keeps_sku = product_id is not None and Product.objects.filter(pk=product_id, sku=sku).exists()
    errors = product_field_errors(sku=sku, name=name, description=description, category=category,
                                  check_sku=not keeps_sku)
    try:
        price_value = parse_price(price)
    except ActionError as exc:
        errors["price"] = exc.message
    if initial_stock < 0:
        errors["stock"] = _("El stock inicial no puede ser negativo.")
    elif (message := quantity_error(initial_stock, label=_("El stock inicial"))) is not None:
        errors["stock"] = message
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
    """A receipt under the row lock; ActionError if the stock would exceed MAX_STOCK."""
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=product_id)
        _check_stock_bound(product.stock_on_hand + quantity)
        Product.objects.filter(pk=product_id).update(stock_on_hand=F("stock_on_hand") + quantity)
        product.refresh_from_db(fields=["stock_on_hand", "stock_reserved"])
        _movement(product, MovementKind.RECEIPT, quantity, reason=reason, user=acting_user).save()
        _notify_stock([product], reason=reason, acting_user=acting_user)
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
    if (message := quantity_error(quantity, label=_("La cantidad recibida"))) is not None:
        raise ActionError("invalid_quantity", message, field="quantity")
    if not reason.strip():
        raise ActionError("reason_required", _("Indique el motivo de la entrada."), field="reason")
    check_text(reason, field="reason", label=_("El motivo"), max_length=REASON_MAX_LENGTH)
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
    check_text(reason, field="reason", label=_("El motivo"), max_length=REASON_MAX_LENGTH)
    if not delta and not set_aside_delta:
        raise ActionError("nothing_to_adjust", _("El ajuste no cambia nada."), field="delta")
    for field, value, label in (("delta", delta, _("El cambio en bodega")),
                                ("set_aside_delta", set_aside_delta, _("El cambio en apartado"))):
        if (message := quantity_error(abs(value), label=label)) is not None:
            raise ActionError("invalid_quantity", message, field=field)
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
        _check_stock_bound(on_hand)
        Product.objects.filter(pk=product_id).update(stock_on_hand=F("stock_on_hand") + delta,
                                                     stock_reserved=F("stock_reserved") + set_aside_delta)
        product.refresh_from_db(fields=["stock_on_hand", "stock_reserved"])
        kind = MovementKind.ADJUSTMENT if delta else MovementKind.SET_ASIDE
        _movement(product, kind, delta, reserved_delta=set_aside_delta, reason=reason, user=acting_user).save()
        audit.record(actor=acting_user, action="stock.adjusted", target=product,
                     changes={"on_hand": delta, "set_aside": set_aside_delta, "reason": reason})
        _notify_stock([product], reason=reason, acting_user=acting_user)
    return product


def _check_stock_bound(on_hand: int) -> None:
    if on_hand > MAX_STOCK:
        raise ActionError("stock_too_large", _("El stock quedaría en %(n)s unidades: el máximo es %(max)s.")
                          % {"n": on_hand, "max": MAX_STOCK}, field="quantity")


@dataclass(frozen=True, kw_only=True)
class ProductUpsert:
    """One product of an import, already validated (product_field_errors, parse_price, quantity_error). None
    keeps the existing product's value (a new product gets the default)."""

    sku: str
    name: str
    price: Decimal
    description: str | None = None
    category: str | None = None
    is_active: bool | None = None
    stock: int | None = None


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def do_upsert_products(items: Sequence[ProductUpsert], *, reason: str, acting_user: User | None) -> UpsertCounts:
    """Creates or updates a bounded batch of products by SKU in ONE short transaction; callers check permissions
    and validate (the CSV importer passes IMPORT_BATCH rows at a time, so an import never holds SQLite's write lock
    for long; the figure is in docs/benchmarks.md).

    Existing products are locked in primary-key order (as do_take_stock, so an import and an order cannot
    deadlock) before they are compared. Stock is set to the given quantity and the difference goes through the
    ledger (a receipt for a new product, an adjustment for an existing one), with an audit entry per product.
    Unchanged products are not written, so repeating a batch changes nothing. Raises ConflictError with `sku`
    when a stock would fall below the units set aside, or when another writer created one of the SKUs meanwhile.
    """
    counts = UpsertCounts()
    now = timezone.now()
    with transaction.atomic():
        locked = {p.sku: p for p in Product.objects.select_for_update().filter(sku__in=[i.sku for i in items])
                  .order_by("pk")}
        created: list[Product] = []
        changed: list[Product] = []
        restocked: list[Product] = []
        movements: list[StockMovement] = []
        entries: list[AuditLog] = []
        for item in items:
            product = locked.get(item.sku)
            if product is None:
                created.append(Product(
                    sku=item.sku, name=item.name, search_name=fold(item.name)[:200], price=item.price,
                    description=item.description or "", category=item.category or "",
                    is_active=True if item.is_active is None else item.is_active, stock_on_hand=item.stock or 0,
                    created_at=now, updated_at=now))
                continue
            if item.stock is not None and item.stock < product.stock_reserved:
                raise ConflictError("stock_below_set_aside", _("El stock (%(stock)d) es menor que las unidades "
                                                               "apartadas (%(reserved)d) del producto.")
                                    % {"stock": item.stock, "reserved": product.stock_reserved}, sku=item.sku)
            changes: dict[str, list[str]] = {}
            for field, value in (("name", item.name), ("price", item.price), ("description", item.description),
                                 ("category", item.category), ("is_active", item.is_active)):
                if value is not None and getattr(product, field) != value:
                    changes[field] = [str(getattr(product, field)), str(value)]
                    setattr(product, field, value)
            delta = 0 if item.stock is None else item.stock - product.stock_on_hand
            if not changes and not delta:
                counts.unchanged += 1
                continue
            counts.updated += 1
            product.search_name, product.updated_at = fold(product.name)[:200], now
            if changes:
                entries.append(audit.build(actor=acting_user, action="product.updated", target=product,
                                           changes=changes))
            if delta:
                product.stock_on_hand += delta
                restocked.append(product)
                movements.append(_movement(product, MovementKind.ADJUSTMENT, delta, reason=reason, user=acting_user))
                entries.append(audit.build(actor=acting_user, action="stock.adjusted", target=product,
                                           changes={"on_hand": delta, "set_aside": 0, "reason": reason}))
            changed.append(product)
        # core.bulk.bulk_insert, not bulk_create: preparing every value through its field cost more than half of each
        # batch's time under the write lock (measured, bench catalog.import_20k). Product.save's only logic,
        # search_name, is set above; AuditLog rows are only ever inserted.
        if created:
            try:
                with transaction.atomic():  # a savepoint: PostgreSQL can still roll back cleanly after the clash
                    bulk_insert(Product, (_row_of(p) for p in created))
            except IntegrityError as exc:
                raise ConflictError("sku_taken", _("Otro proceso creó uno de estos SKU durante la importación; "
                                                   "vuelva a importar el archivo."), sku=created[0].sku) from exc
            ids = dict(Product.objects.filter(sku__in=[p.sku for p in created]).values_list("sku", "pk"))
        for product in created:
            product.pk = ids[product.sku]
            counts.created += 1
            entries.append(audit.build(actor=acting_user, action="product.created", target=product,
                                       changes={"price": str(product.price)}))
            if product.stock_on_hand:
                movements.append(_movement(product, MovementKind.RECEIPT, product.stock_on_hand, reason=reason,
                                           user=acting_user))
        Product.objects.bulk_update(changed, ["name", "search_name", "price", "description", "category", "is_active",
                                              "stock_on_hand", "updated_at"])
        for movement in movements:
            movement.created_at = now
        for entry in entries:
            entry.created_at = now
        bulk_insert(StockMovement, (_row_of(m) for m in movements))
        bulk_insert(AuditLog, (_row_of(e) for e in entries))
        _notify_stock([*created, *restocked], reason=reason, acting_user=acting_user)
    return counts


def _row_of(obj: models.Model) -> dict[str, Any]:
    """An unsaved model instance as bulk_insert's {attname: value}."""
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if not f.primary_key}


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
    _notify_stock(products, reason=order.number, acting_user=acting_user)
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
    _notify_stock(products, reason=reason, acting_user=acting_user)


def _notify_stock(products: Iterable[Product], *, reason: str, acting_user: User | None) -> None:
    """`stock.changed` for the products one action changed; agents building orders see availability change live
    (after commit)."""

    changed = [{"product_id": p.pk, "sku": p.sku, "on_hand": p.stock_on_hand, "reserved": p.stock_reserved,
                "available": p.stock_available} for p in products]
    if not changed:
        return
    emit(StockChanged(products=changed, reason=reason), actor=acting_user)
    if not is_muted():
        payload = [{"id": row["product_id"], "sku": row["sku"], "available": row["available"]} for row in changed]
        send_event_on_commit({"type": "stock", "op": "update", "products": payload}, topics=[topics.STOCK])
