"""Order pages: the builder on the call screen (htmx fragments), the orders list/detail, CSV export."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError
from core.exports import Column, CsvOptions, streaming_csv_response
from core.permissions import perm_required
from inbox.actions import access_conversation
from inbox.choices import Channel
from inbox.models import Conversation
from leads.actions import access_lead
from leads.models import Lead, LeadSettings
from orders import actions
from orders.choices import OrderState
from orders.describe import annotate_order_events
from orders.forms import CancelForm, OrderFilterForm
from orders.models import Order
from orders.selectors import OrderFilters, order_queryset
from orders.sync_state import sync_states


@dataclass(frozen=True)
class Where:
    """Where an order is being built: the call screen's lead, or a conversation (WhatsApp, email, web chat)."""

    lead: Lead | None = None
    conversation: Conversation | None = None

    @classmethod
    def of(cls, order: Order) -> Where:
        return cls(lead=order.lead, conversation=order.conversation if order.lead is None else None)

    @property
    def field(self) -> str:
        """The builder's hidden field naming it (draft_add) and the product search's parameter."""
        return "lead_id" if self.lead is not None else "conversation_id"

    @property
    def pk(self) -> int:
        subject = self.lead or self.conversation
        assert subject is not None
        return subject.pk

    def drafts(self, user: User) -> QuerySet[Order]:
        return Order.objects.filter(agent=user, state=OrderState.DRAFT, **{self.field: self.pk})

    def page(self) -> HttpResponse:
        if self.lead is not None:
            return redirect("leads:detail", lead_id=self.lead.pk)
        return redirect("inbox:detail", conversation_id=self.pk)


def panel_context(user: User, where: Where, *, error: str = "", short_lines: Any = None,
                  delivery: Mapping[str, str] | None = None, delivery_errors: Mapping[str, str] | None = None
                  ) -> dict[str, Any]:
    draft = where.drafts(user).prefetch_related("lines").order_by("-id").first()
    if where.lead is not None:
        others = Order.objects.filter(lead=where.lead)
    else:  # beside a conversation: the customer's orders, wherever they were taken
        assert where.conversation is not None
        others = Order.objects.filter(customer_id=where.conversation.customer_id)
    others = others.exclude(state=OrderState.DRAFT).order_by("-id").prefetch_related("kommo_syncs")[:10]
    context = {"where": where, "lead": where.lead, "draft": draft,
               "heading": "h2" if where.lead is not None else "h3",  # beside a conversation: a side-panel block
               "other_orders": others, "order_error": error,
               "short_lines": short_lines or [], "currency": settings.CURRENCY,
               "can_order": user.has_perm_code(Perm.ORDERS_CREATE)}
    if where.conversation is not None and draft is not None:  # the call screen has its own customer form
        context["delivery"] = delivery_fields(draft, typed=delivery, errors=delivery_errors)
    return context


def delivery_fields(draft: Order, *, typed: Mapping[str, str] | None, errors: Mapping[str, str] | None
                    ) -> dict[str, Any]:
    """The confirmation's delivery fields beside a conversation: what the customer's record has, or what was just
    typed (after a refusal: the record was left as it was), and what is still missing — a hint before the first
    confirmation, an error after a refusal that named the field."""
    c = draft.customer
    phone = next(iter(c.phones.all()), None)
    values = {"name": c.name, "phone": phone.e164 if phone else "", "address": c.address, "city": c.city,
              "department": c.department, "document_id": c.document_id}
    if typed:
        values |= {k: v for k, v in typed.items() if k in values and v.strip()}
    refused = {("phone" if k == "phones" else k): v for k, v in (errors or {}).items()}
    require_document = LeadSettings.load().require_document
    missing = {("phone" if k == "phones" else k): v for k, v in actions.missing_delivery(
        {**values, "phones": values["phone"]}, require_document=require_document).items()}
    labels = {"name": _("Nombre completo"), "phone": _("Teléfono"), "address": _("Dirección de entrega"),
              "city": _("Ciudad"), "department": _("Departamento / estado"),
              "document_id": _("Documento de identidad") if require_document else _("Documento (opcional)")}
    return {"fields": [{"name": k, "label": labels[k], "value": values[k], "refused": k in refused,
                        "missing": refused.get(k) or missing.get(k, "")} for k in labels],
            "complete": not missing and not refused,
            "summary": ", ".join(v for v in (values["address"], values["city"]) if v)}


def call_screen_panel(user: User, lead: Lead) -> dict[str, Any] | None:
    """The order builder on the call screen (leads.panels, registered in OrdersConfig.ready): for whoever may see
    orders, on a lead with a customer."""
    if not user.has_perm_code(Perm.ORDERS_VIEW) or lead.customer is None:
        return None
    return panel_context(user, Where(lead=lead))


def conversation_panel(user: User, conversation: Conversation) -> dict[str, Any] | None:
    """The order builder beside a written conversation (inbox.panels; a call's orders are the call screen's): for
    whoever may see orders. Who may not sell in it now (not theirs, unassigned, closed long ago) sees why instead
    of the builder, and the customer's orders."""
    if not user.has_perm_code(Perm.ORDERS_VIEW) or conversation.channel == Channel.PHONE:
        return None
    context = panel_context(user, Where(conversation=conversation))
    if context["can_order"]:
        try:
            actions.check_may_sell_in(user, conversation)
        except ActionError as exc:
            context["can_order"], context["sell_blocked"] = False, exc.message
    return context


def _panel(request: HttpRequest, where: Where, *, status: int = 200, feedback: str = "", **kwargs: Any
           ) -> HttpResponse:
    context = panel_context(request.user, where, **kwargs)  # type: ignore[arg-type]
    context["feedback"] = feedback
    return render(request, "orders/_order_panel.html", context, status=status)


def _refused(request: HttpRequest, where: Where, exc: ActionError, *, delivery: Mapping[str, str] | None = None
             ) -> HttpResponse:
    """A refused change: the panel again with the reason (every short line for a stock shortfall) next to the
    lines, or, without JavaScript, the page with the reason on top."""
    errors = exc.details.get("errors") or {}
    message = (_("Complete los datos del cliente: %s") % " ".join(errors.values())
               if exc.code == "delivery_incomplete" else exc.message)
    if not request.htmx:  # type: ignore[attr-defined]
        messages.error(request, message)
        return where.page()
    return _panel(request, where, status=exc.status, error=message, short_lines=exc.details.get("short_lines"),
                  delivery=delivery, delivery_errors=errors or None)


def _changed(request: HttpRequest, where: Where) -> HttpResponse:
    if not request.htmx:  # type: ignore[attr-defined]
        return where.page()
    return _panel(request, where)


def _lines_of(order: Order | None) -> list[tuple[str, int]]:
    return [(line.sku, line.quantity) for line in order.lines.all()] if order else []


def _where_posted(user: User, data: Mapping[str, str]) -> Where:
    """The lead or conversation the builder posted (404 `*_not_found` when this user cannot see it)."""
    if data.get("conversation_id"):
        return Where(conversation=access_conversation(user, int(data["conversation_id"])))
    return Where(lead=access_lead(user, int(data.get("lead_id", "0"))))


@require_POST
@perm_required(Perm.ORDERS_CREATE)
def draft_add(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        where = _where_posted(user, request.POST)
        quantity = int(request.POST.get("quantity", "1"))
    except (ActionError, ValueError):
        return HttpResponse(_("Lead, conversación o cantidad inválidos."), status=400)
    sku = request.POST.get("sku", "")
    draft = where.drafts(user).order_by("-id").first()
    lines = dict(_lines_of(draft))
    lines[sku] = lines.get(sku, 0) + quantity
    try:
        if draft is None:
            actions.check_create_order(user, **{where.field: where.pk}, lines=list(lines.items()))
        else:
            actions.check_set_lines(user, draft.pk, lines=list(lines.items()))
    except ActionError as exc:
        return _refused(request, where, exc)
    return _changed(request, where)


@require_POST
@perm_required(Perm.ORDERS_CREATE)
def draft_lines(request: HttpRequest, order_id: int) -> HttpResponse:
    """Quantities edited in the builder (`qty-<sku>` fields; 0 removes the line)."""
    user: User = request.user  # type: ignore[assignment]
    try:
        order = actions.access_order(user, order_id)
    except ActionError as exc:
        return HttpResponse(exc.message, status=404)
    if order.lead is None and order.conversation is None:  # its conversation was deleted: the order's own page
        return redirect("orders:detail", order_id=order.pk)
    where = Where.of(order)
    try:
        lines = []
        for line in order.lines.all():
            quantity = int(request.POST.get(f"qty-{line.sku}", line.quantity))
            if quantity > 0 and request.POST.get("remove") != line.sku:
                lines.append((line.sku, quantity))
        actions.check_set_lines(user, order.pk, lines=lines)
    except ValueError:
        return HttpResponse(_("Cantidad inválida."), status=400)
    except ActionError as exc:
        return _refused(request, where, exc)
    return _changed(request, where)


DELIVERY_FIELDS = ("name", "phone", "address", "city", "department", "document_id")


@require_POST
@perm_required(Perm.ORDERS_CREATE)
def confirm(request: HttpRequest, order_id: int) -> HttpResponse:
    """Confirms a draft; beside a conversation the form also carries the delivery fields (`delivery-<name>`),
    which complete the customer's record in the same transaction."""
    user: User = request.user  # type: ignore[assignment]
    try:
        order = actions.access_order(user, order_id)
    except ActionError:
        return HttpResponse(status=404)
    if order.lead is None and order.conversation is None:  # an order made elsewhere (the API): its own page
        try:
            actions.check_confirm_order(user, order.pk)
        except ActionError as exc:
            messages.error(request, exc.message)
        return redirect("orders:detail", order_id=order.pk)
    where = Where.of(order)
    typed = {name: request.POST.get(f"delivery-{name}", "")[:250] for name in DELIVERY_FIELDS
             if f"delivery-{name}" in request.POST}
    try:
        actions.check_confirm_order(user, order.pk, delivery=actions.Delivery(**typed) if typed else None)
    except ActionError as exc:
        return _refused(request, where, exc, delivery=typed)
    if order.lead is not None:
        done = _("Pedido %(n)s confirmado. Kommo se actualiza en segundo plano.") % {"n": order.number}
    else:
        done = _("Pedido %(n)s confirmado; la venta cuenta para esta conversación.") % {"n": order.number}
    if not request.htmx:  # type: ignore[attr-defined]
        messages.success(request, done)
        return where.page()
    return _panel(request, where, feedback=done)


@perm_required(Perm.ORDERS_VIEW)
def order_list(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = OrderFilterForm(request.GET or None)
    filters = form.filters() if form.is_valid() else OrderFilters()
    page = Paginator(order_queryset(user, filters), 50).get_page(request.GET.get("page"))
    syncs = sync_states([o.pk for o in page])
    for o in page:
        o.sync = syncs.get(o.pk)  # type: ignore[attr-defined]
    return render(request, "orders/list.html", {"form": form, "page": page, "query": request.GET.urlencode()})


ORDER_COLUMNS = [
    Column("order", gettext_lazy("Pedido")),
    Column("state", gettext_lazy("Estado"), "code", dict(OrderState.choices)),
    Column("created_at", gettext_lazy("Creado"), "datetime"),
    Column("confirmed_at", gettext_lazy("Confirmado"), "datetime"),
    Column("agent", gettext_lazy("Agente")),
    Column("customer_id", gettext_lazy("ID del cliente"), "uuid"),
    Column("customer", gettext_lazy("Cliente")),
    Column("phone", gettext_lazy("Teléfono"), "phone"),
    Column("city", gettext_lazy("Ciudad")),
    Column("department", gettext_lazy("Departamento / estado")),
    Column("product_id", gettext_lazy("ID del producto"), "uuid"),
    Column("sku", gettext_lazy("SKU")),
    Column("product", gettext_lazy("Producto")),
    Column("quantity", gettext_lazy("Cantidad"), "int"),
    Column("unit_price", gettext_lazy("Precio unitario"), "money"),
    Column("line_total", gettext_lazy("Total de la línea"), "money"),
    Column("order_total", gettext_lazy("Total del pedido"), "money"),
    Column("currency", gettext_lazy("Moneda")),
    Column("kommo_lead", gettext_lazy("Lead de Kommo"), "int"),
]


@perm_required(Perm.ORDERS_VIEW)
def order_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """CSV of the filtered orders, one row per order line, streamed (no size limit in memory); the export
    options of core.exports (dialect, headers)."""
    user: User = request.user  # type: ignore[assignment]
    try:
        options = CsvOptions.from_query(request.GET)
    except ActionError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
    form = OrderFilterForm(request.GET or None)
    filters = form.filters() if form.is_valid() else OrderFilters()

    def rows() -> Iterator[list[Any]]:
        orders = (order_queryset(user, filters).select_related("customer", "lead", "agent")
                  .prefetch_related("lines__product").iterator(chunk_size=500))
        for order in orders:
            for line in order.lines.all():
                yield [order.number, order.state, order.created_at, order.confirmed_at,
                       order.agent.full_name or order.agent.username, order.customer.uuid, order.customer.name,
                       order.delivery_phone, order.delivery_city, order.delivery_department, line.product.uuid,
                       line.sku, line.name, line.quantity, line.unit_price, line.line_total, order.total,
                       order.currency, order.lead.kommo_id if order.lead else None]

    return streaming_csv_response(columns=ORDER_COLUMNS, rows=rows(), options=options, filename="pedidos.csv")


@perm_required(Perm.ORDERS_VIEW)
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        order = actions.access_order(user, order_id)
    except ActionError:
        return render(request, "404.html", status=404)
    events = list(order.events.select_related("actor"))
    annotate_order_events(events)  # sentences with names; kinds stay in the API
    return render(request, "orders/detail.html", {
        "order": order, "lines": order.lines.all(), "events": events,
        "sync": order.kommo_syncs.order_by("-id").first(), "cancel_form": CancelForm(),
        "can_manage": user.has_perm_code(Perm.ORDERS_MANAGE),
    })


@require_POST
@perm_required(Perm.ORDERS_VIEW)
def order_cancel(request: HttpRequest, order_id: int) -> HttpResponse:
    form = CancelForm(request.POST)
    try:
        if form.is_valid():
            actions.check_cancel_order(request.user, order_id, reason=form.cleaned_data["reason"])  # type: ignore[arg-type]
            messages.success(request, _("Pedido cancelado; el stock volvió a la bodega."))
        else:
            messages.error(request, _("Indique el motivo de la cancelación."))
    except ActionError as exc:
        messages.error(request, exc.message)
    return redirect("orders:detail", order_id=order_id)


@require_POST
@perm_required(Perm.ORDERS_MANAGE)
def order_dispatch(request: HttpRequest, order_id: int) -> HttpResponse:
    try:
        actions.check_dispatch_order(request.user, order_id)  # type: ignore[arg-type]
        messages.success(request, _("Pedido despachado."))
    except ActionError as exc:
        messages.error(request, exc.message)
    return redirect("orders:detail", order_id=order_id)
