"""Orders: built as drafts on the call screen, confirmed against live stock in one transaction that also
writes the Kommo outbox row and the outgoing webhook events. One transition function (do_transition_order)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from calls.actions import call_for_sale
from catalog.actions import do_return_stock, do_take_stock
from catalog.models import Product
from core import audit
from core.bulk import bulk_insert
from core.errors import ActionError, ConflictError, InvalidTransition, NotFoundError, PermissionDeniedError
from core.events import emit
from customers.actions import do_complete_customer
from inbox.actions import access_conversation, check_may_act, do_note_sale, sale_conversation
from inbox.choices import OPEN_STATES, Channel, ConversationState
from inbox.models import Conversation
from leads.actions import access_lead, check_not_held_by_other
from leads.models import Lead, LeadSettings
from orders.choices import ORDER_TRANSITIONS, OrderState
from orders.events import OrderCancelled, OrderConfirmed, OrderDispatched
from orders.models import Order, OrderEvent, OrderLine, Sale

MAX_LINE_QUANTITY = 10_000


def access_order(acting_user: User, order_id: int, *, lock: bool = False) -> Order:
    require_perm(acting_user, Perm.ORDERS_VIEW)
    qs = Order.objects.select_related("customer", "lead", "agent", "conversation")
    if lock:  # lock only the order row; customer, lead, agent and conversation come along in the same statement
        qs = qs.select_for_update(of=("self",))
    order = qs.filter(pk=order_id).first()
    if order is None or (not acting_user.has_perm_code(Perm.ORDERS_MANAGE) and acting_user.role == "agente"
                         and order.agent_id != acting_user.pk):
        raise NotFoundError("order_not_found", _("El pedido no existe."))
    return order


def do_transition_order(order: Order, *, to: OrderState, acting_user: User | None, data: dict[str, Any] | None = None
                        ) -> bool:
    """The one transition function of orders (the caller holds the row lock)."""
    current = OrderState(order.state)
    if current == to:
        return False
    if to not in ORDER_TRANSITIONS[current]:
        raise InvalidTransition("invalid_transition", _("Un pedido %(a)s no puede pasar a %(b)s.")
                                % {"a": current.label, "b": to.label})
    now = timezone.now()
    order.state = to.value
    stamp = {OrderState.CONFIRMED: "confirmed_at", OrderState.DISPATCHED: "dispatched_at",
             OrderState.CANCELLED: "cancelled_at"}[to]
    setattr(order, stamp, now)
    order.save()
    OrderEvent.objects.create(order=order, kind=f"state:{to.value}", actor=acting_user,
                              data={"from": current.value, "to": to.value, **(data or {})})
    audit.record(actor=acting_user, action=f"order.{to.value}", target=order,
                 changes={"state": [current.value, to.value], **(data or {})})
    common: dict[str, Any] = {"order_id": order.pk, "number": order.number, "customer_id": order.customer_id,
                              "lead_id": order.lead_id, "total": order.total, "currency": order.currency,
                              "order": order_payload(order)}
    if to == OrderState.CONFIRMED:
        emit(OrderConfirmed(**common), actor=acting_user)
    elif to == OrderState.CANCELLED:
        emit(OrderCancelled(**common, reason=order.cancel_reason, was_confirmed=current == OrderState.CONFIRMED),
             actor=acting_user)
    else:
        emit(OrderDispatched(**common), actor=acting_user)
    return True


def check_may_sell_in(acting_user: User, c: Conversation) -> None:
    """Selling in a conversation: a written one (a call's orders are the call screen's, with its lead), with a
    responsible agent the sale will count for, by that agent or a supervisor (the rule of acting on it), while it
    is open or recently resolved (a sale never lands in a closed month of the dashboard)."""
    if c.channel == Channel.PHONE:
        raise ActionError("phone_conversation", _("Los pedidos de una llamada se registran en la pantalla de "
                                                   "llamada, con su lead."))
    if c.assignee_id is None:
        raise ConflictError("conversation_unassigned", _("Tome o asigne la conversación antes de registrar un "
                                                         "pedido: la venta cuenta para su responsable."))
    check_may_act(acting_user, c)
    recent = timezone.now() - timedelta(days=settings.SALE_CONVERSATION_DAYS)
    if c.state not in OPEN_STATES and not (c.state == ConversationState.RESOLVED and c.closed_at
                                           and c.closed_at >= recent):
        raise ConflictError("conversation_too_old", _("Esta conversación se cerró hace más de %d días: registre el "
                                                      "pedido en la conversación actual del cliente.")
                            % settings.SALE_CONVERSATION_DAYS)


def _check_may_sell(order: Order, acting_user: User) -> None:
    """Selling on a lead obeys the same hold rule as writing a note on it: a user bound by reservation cannot
    create, edit or confirm an order on a lead another operator holds (409 `lead_held`); selling in a conversation
    obeys check_may_sell_in, re-checked at every step (it may have been transferred or closed meanwhile). The
    rules live in leads and inbox; we call them rather than restate them so both stay in step."""
    if order.lead is not None:
        check_not_held_by_other(order.lead, acting_user)
    if order.conversation_id is not None:
        check_may_sell_in(acting_user, access_conversation(acting_user, order.conversation_id))


def _resolve_lines(lines: Iterable[tuple[str, int]]) -> list[tuple[Product, int]]:
    wanted: dict[str, int] = {}
    for sku, quantity in lines:
        if not isinstance(quantity, int) or quantity <= 0 or quantity > MAX_LINE_QUANTITY:
            raise ActionError("invalid_quantity", _("Cantidad inválida para %s.") % sku, field="lines")
        wanted[sku.strip()] = wanted.get(sku.strip(), 0) + quantity
    products = {p.sku: p for p in Product.objects.filter(sku__in=wanted)}
    missing = [sku for sku in wanted if sku not in products]
    if missing:
        raise ActionError("unknown_product", _("Productos desconocidos: %s") % ", ".join(missing), field="lines",
                          skus=missing)
    inactive = [sku for sku in wanted if not products[sku].is_active]
    if inactive:
        raise ActionError("inactive_product", _("Productos inactivos: %s") % ", ".join(inactive), field="lines")
    return [(products[sku], qty) for sku, qty in wanted.items()]


def _check_available(resolved: Sequence[tuple[Product, int]]) -> None:
    """Builder-time check (the authoritative one runs under row locks at confirmation)."""
    short = [{"sku": p.sku, "requested": q, "available": p.stock_available} for p, q in resolved
             if q > p.stock_available]
    if short:
        raise ConflictError("insufficient_stock", _("Solo hay disponibles: %s.")
                            % ", ".join(f"{s['sku']} → {s['available']}" for s in short), short_lines=short)


def _write_lines(order: Order, resolved: Sequence[tuple[Product, int]]) -> None:
    order.lines.all().delete()
    OrderLine.objects.bulk_create([
        OrderLine(order=order, product=p, sku=p.sku, name=p.name, unit_price=p.price, quantity=q,
                  line_total=p.price * q) for p, q in resolved])
    order.total = sum((p.price * q for p, q in resolved), Decimal(0))
    order.save(update_fields=["total"])


@transaction.atomic
def check_create_order(acting_user: User, *, lead_id: int | None = None, conversation_id: int | None = None,
                       lines: Iterable[tuple[str, int]] = ()) -> Order:
    """A draft for a lead (the call screen) or for a conversation (WhatsApp, email, web chat: the order builder
    beside it) — exactly one of the two. Selling in a conversation obeys the rule of acting on it (its responsible
    agent or a supervisor)."""
    require_perm(acting_user, Perm.ORDERS_CREATE)
    if (lead_id is None) == (conversation_id is None):
        raise ActionError("order_subject_required", _("Indique el lead o la conversación del pedido (uno de los dos)."),
                          field="lead_id")
    resolved = _resolve_lines(lines)
    if conversation_id is not None:
        conversation = access_conversation(acting_user, conversation_id)
        check_may_sell_in(acting_user, conversation)
        _check_available(resolved)
        order = Order.objects.create(conversation=conversation, customer_id=conversation.customer_id,
                                     agent=acting_user, currency=settings.CURRENCY)
    else:
        assert lead_id is not None
        lead = access_lead(acting_user, lead_id)
        check_not_held_by_other(lead, acting_user)
        if lead.customer is None:
            raise ActionError("lead_without_customer", _("El lead no tiene cliente; no se puede crear un pedido."))
        _check_available(resolved)
        order = Order.objects.create(lead=lead, customer=lead.customer, agent=acting_user, currency=settings.CURRENCY)
    _write_lines(order, resolved)
    OrderEvent.objects.create(order=order, kind="created", actor=acting_user,
                              data={"lines": [[p.sku, q] for p, q in resolved]})
    audit.record(actor=acting_user, action="order.created", target=order)
    return order


def do_create_bot_draft(conversation: Conversation, *, agent: User, sku: str, quantity: int) -> Order:
    """A draft the chatbot prepares in a conversation for `agent` to check and confirm (bots' "create order draft"
    step): the product it looked up when there is one and it is in stock, no lines otherwise. Nothing is reserved:
    stock is taken at confirmation, as for any draft."""
    try:
        resolved = _resolve_lines([(sku, quantity)]) if sku else []
        _check_available(resolved)
    except ActionError:
        resolved = []
    order = Order.objects.create(conversation=conversation, customer_id=conversation.customer_id, agent=agent,
                                 currency=settings.CURRENCY)
    _write_lines(order, resolved)
    OrderEvent.objects.create(order=order, kind="created", actor=None,
                              data={"lines": [[p.sku, q] for p, q in resolved], "by": "bot"})
    audit.record(actor=None, action="order.created", target=order)
    return order


def check_set_lines(acting_user: User, order_id: int, *, lines: Iterable[tuple[str, int]]) -> Order:
    """Replaces a draft's lines (the builder posts the whole list); quantities above availability are refused."""
    with transaction.atomic():
        order = access_order(acting_user, order_id, lock=True)
        if order.state != OrderState.DRAFT:
            raise ConflictError("not_draft", _("Solo se pueden editar pedidos en borrador."))
        _check_may_sell(order, acting_user)
        resolved = _resolve_lines(lines)
        _check_available(resolved)
        _write_lines(order, resolved)
        OrderEvent.objects.create(order=order, kind="lines", actor=acting_user,
                                  data={"lines": [[p.sku, q] for p, q in resolved]})
    return order


def missing_delivery(values: Mapping[str, str], *, require_document: bool) -> dict[str, str]:
    """What a confirmation lacks among the delivery data (`name`, `phones`, `address`, `city`, `department`,
    `document_id`), each with its message."""
    messages = {"name": _("Falta el nombre completo."), "phones": _("Falta un teléfono válido."),
                "address": _("Falta la dirección de entrega."), "city": _("Falta la ciudad."),
                "department": _("Falta el departamento / estado.")}
    if require_document:
        messages["document_id"] = _("Falta el documento de identidad.")
    return {field: message for field, message in messages.items() if not str(values.get(field) or "").strip()}


def delivery_errors(order: Order) -> dict[str, str]:
    c = order.customer
    phone = next(iter(c.phones.all()), None)  # prefetched by the confirmation, which reuses the first phone
    return missing_delivery({"name": c.name, "phones": phone.e164 if phone else "", "address": c.address,
                             "city": c.city, "department": c.department, "document_id": c.document_id},
                            require_document=LeadSettings.load().require_document)


@dataclass(frozen=True)
class Delivery:
    """Delivery data typed with the confirmation (the conversation's order builder): it completes the customer's
    record (customers.actions.do_complete_customer) — blank fields keep what the record has, a phone is added to
    the customer's phones and is the order's delivery phone."""

    name: str = ""
    phone: str = ""
    address: str = ""
    city: str = ""
    department: str = ""
    document_id: str = ""


def check_confirm_order(acting_user: User, order_id: int, *, delivery: Delivery | None = None) -> Order:
    """Confirms a draft in one transaction: delivery data validated, stock taken under row locks (every short
    line reported at once), delivery data snapshotted, history and audit written, and the Kommo outbox row and
    outgoing webhook events stored — so the order and what we owe other systems commit or roll back together.
    Deliveries start after commit. `delivery` (an order taken in a conversation; the call screen has its own
    customer form) completes the customer's record first, in the same transaction (a refused confirmation keeps
    the record as it was), and a phone typed there is the order's delivery phone."""
    require_perm(acting_user, Perm.ORDERS_CREATE)
    typed_phone = ""
    with transaction.atomic():
        if delivery is not None:  # the customer row first: the lock order of a customer merge (customer, ...orders)
            found = access_order(acting_user, order_id)
            if found.conversation_id is None:
                raise ActionError("delivery_not_here", _("Los datos de entrega de un pedido de la pantalla de "
                                                         "llamada se corrigen en la ficha del cliente."),
                                  field="delivery")
            if found.state == OrderState.DRAFT:
                _check_may_sell(found, acting_user)
                _customer, typed_phone = do_complete_customer(
                    found.customer_id, acting_user=acting_user, name=delivery.name, phone=delivery.phone,
                    address=delivery.address, city=delivery.city, department=delivery.department,
                    document_id=delivery.document_id)
        # The lead first, then the order: the order of locks of a note on the lead and of a customer merge (which
        # updates leads before orders), so neither can deadlock with a confirmation.
        lead_id = Order.objects.filter(pk=order_id).values_list("lead_id", flat=True).first()
        if lead_id is not None:
            list(Lead.objects.select_for_update().filter(pk=lead_id).values_list("pk", flat=True))
        order = access_order(acting_user, order_id, lock=True)
        if order.state != OrderState.DRAFT:
            raise ConflictError("not_draft", _("El pedido ya no está en borrador (%s).") % order.get_state_display())
        _check_may_sell(order, acting_user)
        lines = list(order.lines.select_related("product"))
        if not lines:
            raise ActionError("empty_order", _("Agregue al menos un producto."), field="lines")
        prefetch_related_objects([order.customer], "phones")
        errors = delivery_errors(order)
        if errors:
            raise ActionError("delivery_incomplete", " ".join(errors.values()), errors=errors)
        do_take_stock([(line.product_id, line.quantity) for line in lines], order=order, acting_user=acting_user)
        c = order.customer
        phone = next(iter(c.phones.all()), None)
        order.delivery_name, order.delivery_phone = c.name, typed_phone or (phone.e164 if phone else "")
        order.delivery_address, order.delivery_city = c.address, c.city
        order.delivery_department, order.delivery_document = c.department, c.document_id
        # Prices are those shown on the draft; a price change in between is applied here (one source: catalog).
        repriced = [line for line in lines if line.unit_price != line.product.price]
        for line in repriced:
            line.unit_price, line.line_total = line.product.price, line.product.price * line.quantity
        if repriced:
            OrderLine.objects.bulk_update(repriced, ["unit_price", "line_total"])
        order.total = sum((line.line_total for line in lines), Decimal(0))
        do_transition_order(order, to=OrderState.CONFIRMED, acting_user=acting_user, data={"total": str(order.total)})
        do_record_sales(order, lines)  # (the Kommo outbox row is written by crm's in-transaction subscriber)
    return order


def do_record_sales(order: Order, lines: Sequence[OrderLine]) -> list[Sale]:
    """One Sale per line for the dashboard, linked to the conversation it was sold in: an order taken in a
    conversation to that conversation; an order of the call screen (it has a lead) to the agent's call on that
    lead (calls.actions: a phone conversation, open or just noted, else one started now); any other order (the
    API's) to the customer's current conversation — an open one (most recent activity first), else one resolved
    within SALE_CONVERSATION_DAYS. Without such a conversation the sales are kept but no chart counts them (the
    pinned definitions count sales through their conversation)."""

    if order.conversation_id is not None:
        conversation: Conversation | None = order.conversation
    elif order.lead is not None:
        conversation = call_for_sale(order.lead, order.agent, customer_id=order.customer_id)
    else:
        conversation = sale_conversation(order.customer_id)
    sales = Sale.objects.bulk_create([
        Sale(order=order, conversation=conversation, product_id=line.product_id, product_ref=line.sku,
             product_name=line.name, quantity=line.quantity, unit_price=line.unit_price, amount=line.line_total)
        for line in lines])
    if conversation is not None:  # conversation.updated: reports recount it
        decisive = order.lead is not None or order.conversation_id is not None  # sold right there
        do_note_sale(conversation, acting_user=order.agent, decisive=decisive)
    return sales


def check_cancel_order(acting_user: User, order_id: int, *, reason: str) -> Order:
    with transaction.atomic():
        order = access_order(acting_user, order_id, lock=True)
        if order.state != OrderState.DRAFT and not acting_user.has_perm_code(Perm.ORDERS_MANAGE):
            raise PermissionDeniedError("forbidden", _("Solo un supervisor puede cancelar un pedido confirmado."))
        if not reason.strip():
            raise ActionError("reason_required", _("Indique el motivo de la cancelación."), field="reason")
        was_confirmed = order.state == OrderState.CONFIRMED
        order.cancel_reason = reason.strip()[:250]
        do_transition_order(order, to=OrderState.CANCELLED, acting_user=acting_user, data={"reason": reason})
        if was_confirmed:
            do_return_stock(order, acting_user=acting_user, reason=f"{order.number}: {reason}"[:250])
            for sale in Sale.objects.filter(order=order):  # one by one: each deletion tells reports to recount
                sale.delete()
    return order


def check_dispatch_order(acting_user: User, order_id: int) -> Order:
    require_perm(acting_user, Perm.ORDERS_MANAGE)
    with transaction.atomic():
        order = access_order(acting_user, order_id, lock=True)
        do_transition_order(order, to=OrderState.DISPATCHED, acting_user=acting_user)
    return order


def order_payload(order: Order, *, lines: Sequence[OrderLine] | None = None) -> dict[str, Any]:
    return {
        "id": order.pk, "number": order.number, "state": order.state, "currency": order.currency,
        "conversation_id": order.conversation_id,
        "total": str(order.total), "lead_kommo_id": order.lead.kommo_id if order.lead else None,
        "customer": {"id": order.customer_id, "name": order.delivery_name or order.customer.name,
                     "phone": order.delivery_phone, "address": order.delivery_address, "city": order.delivery_city,
                     "department": order.delivery_department, "document": order.delivery_document},
        "lines": [{"sku": line.sku, "name": line.name, "quantity": line.quantity, "unit_price": str(line.unit_price),
                   "line_total": str(line.line_total)} for line in (order.lines.all() if lines is None else lines)],
        "agent": order.agent.username, "confirmed_at": order.confirmed_at.isoformat() if order.confirmed_at else None,
        "cancel_reason": order.cancel_reason,
    }



# --- imported history ----------------------------------------------------------------------------------------

IMPORT_BATCH = 5000
IMPORTED_SALE_FIELDS = ("conversation_id", "product_ref", "product_name", "quantity", "unit_price", "amount")


@dataclass(frozen=True)
class ImportedSale:
    """One past sale (reports.importer), its conversation already resolved to an id."""

    ref: str
    conversation_id: int
    product_ref: str
    product_name: str
    quantity: int
    unit_price: Decimal
    amount: Decimal

    def values(self) -> dict[str, Any]:
        return {"conversation_id": self.conversation_id, "product_ref": self.product_ref,
                "product_name": self.product_name, "quantity": self.quantity, "unit_price": self.unit_price,
                "amount": self.amount}


def do_import_sales(rows: Sequence[ImportedSale]) -> None:
    """Upserts past sales by `import_ref` (new ones in bulk, changed ones updated, unchanged left alone); the same
    rows `do_import_sale` writes one by one (pinned by a test). They belong to no order."""
    refs = [r.ref for r in rows]
    existing: dict[str, dict[str, Any]] = {}
    for start in range(0, len(refs), IMPORT_BATCH):
        for row in Sale.objects.filter(import_ref__in=refs[start:start + IMPORT_BATCH]).values(
                "pk", "import_ref", *IMPORTED_SALE_FIELDS):
            existing[row["import_ref"]] = dict(row)
    creating: list[dict[str, Any]] = []
    updating: list[Sale] = []
    for r in rows:
        values = r.values()
        old = existing.get(r.ref)
        if old is None:
            creating.append({"import_ref": r.ref, **values})
        elif any(old[k] != v for k, v in values.items()):
            updating.append(Sale(pk=old["pk"], import_ref=r.ref, **values))
    bulk_insert(Sale, creating)
    Sale.objects.bulk_update(updating, list(IMPORTED_SALE_FIELDS), batch_size=1000)


def do_import_sale(row: ImportedSale) -> int:
    """One past sale (see do_import_sales), through the model."""
    sale, _created = Sale.objects.update_or_create(import_ref=row.ref, defaults=row.values())
    return sale.pk
