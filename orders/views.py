"""Order pages: the builder on the call screen (htmx fragments), the orders list/detail, CSV export."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
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
from leads.actions import access_lead
from leads.models import Lead
from orders import actions
from orders.choices import OrderState
from orders.describe import annotate_order_events
from orders.forms import CancelForm, OrderFilterForm
from orders.models import Order
from orders.selectors import OrderFilters, order_queryset
from orders.sync_state import sync_states


def panel_context(user: User, lead: Lead, *, error: str = "", short_lines: Any = None) -> dict[str, Any]:
    draft = (Order.objects.filter(lead=lead, agent=user, state=OrderState.DRAFT).prefetch_related("lines")
             .order_by("-id").first())
    others = (Order.objects.filter(lead=lead).exclude(state=OrderState.DRAFT).order_by("-id")
              .prefetch_related("kommo_syncs")[:10])
    return {"lead": lead, "draft": draft, "other_orders": others, "order_error": error,
            "short_lines": short_lines or [], "currency": settings.CURRENCY,
            "can_order": user.has_perm_code(Perm.ORDERS_CREATE)}


def call_screen_panel(user: User, lead: Lead) -> dict[str, Any] | None:
    """The order builder on the call screen (leads.panels, registered in OrdersConfig.ready): for whoever may see
    orders, on a lead with a customer."""
    if not user.has_perm_code(Perm.ORDERS_VIEW) or lead.customer is None:
        return None
    return panel_context(user, lead)


def _panel(request: HttpRequest, lead: Lead, *, status: int = 200, feedback: str = "", **kwargs: Any
           ) -> HttpResponse:
    context = panel_context(request.user, lead, **kwargs)  # type: ignore[arg-type]
    context["feedback"] = feedback
    return render(request, "orders/_order_panel.html", context, status=status)


def _refused(request: HttpRequest, lead: Lead, exc: ActionError) -> HttpResponse:
    """A refused change: the panel again with the reason (every short line for a stock shortfall) next to the
    lines, or, without JavaScript, the call screen with the reason on top."""
    errors = exc.details.get("errors") or {}
    message = exc.message if not errors else _("Complete los datos del cliente: %s") % " ".join(errors.values())
    if not request.htmx:  # type: ignore[attr-defined]
        messages.error(request, message)
        return redirect("leads:detail", lead_id=lead.pk)
    return _panel(request, lead, status=exc.status, error=message, short_lines=exc.details.get("short_lines"))


def _changed(request: HttpRequest, lead: Lead) -> HttpResponse:
    if not request.htmx:  # type: ignore[attr-defined]
        return redirect("leads:detail", lead_id=lead.pk)
    return _panel(request, lead)


def _lines_of(order: Order | None) -> list[tuple[str, int]]:
    return [(line.sku, line.quantity) for line in order.lines.all()] if order else []


@require_POST
@perm_required(Perm.ORDERS_CREATE)
def draft_add(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        lead = access_lead(user, int(request.POST.get("lead_id", "0")))
        quantity = int(request.POST.get("quantity", "1"))
    except (ActionError, ValueError):
        return HttpResponse(_("Lead o cantidad inválidos."), status=400)
    sku = request.POST.get("sku", "")
    draft = Order.objects.filter(lead=lead, agent=user, state=OrderState.DRAFT).order_by("-id").first()
    lines = dict(_lines_of(draft))
    lines[sku] = lines.get(sku, 0) + quantity
    try:
        if draft is None:
            actions.check_create_order(user, lead_id=lead.pk, lines=list(lines.items()))
        else:
            actions.check_set_lines(user, draft.pk, lines=list(lines.items()))
    except ActionError as exc:
        return _refused(request, lead, exc)
    return _changed(request, lead)


@require_POST
@perm_required(Perm.ORDERS_CREATE)
def draft_lines(request: HttpRequest, order_id: int) -> HttpResponse:
    """Quantities edited in the builder (`qty-<sku>` fields; 0 removes the line)."""
    user: User = request.user  # type: ignore[assignment]
    try:
        order = actions.access_order(user, order_id)
        lines = []
        for line in order.lines.all():
            quantity = int(request.POST.get(f"qty-{line.sku}", line.quantity))
            if quantity > 0 and request.POST.get("remove") != line.sku:
                lines.append((line.sku, quantity))
        actions.check_set_lines(user, order.pk, lines=lines)
    except ValueError:
        return HttpResponse(_("Cantidad inválida."), status=400)
    except ActionError as exc:
        if exc.code == "order_not_found":
            return HttpResponse(exc.message, status=404)
        assert order.lead is not None
        return _refused(request, order.lead, exc)
    assert order.lead is not None
    return _changed(request, order.lead)


@require_POST
@perm_required(Perm.ORDERS_CREATE)
def confirm(request: HttpRequest, order_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        order = actions.access_order(user, order_id)
    except ActionError:
        return HttpResponse(status=404)
    if order.lead is None:  # an order made outside the call screen: its own page
        try:
            actions.check_confirm_order(user, order.pk)
        except ActionError as exc:
            messages.error(request, exc.message)
        return redirect("orders:detail", order_id=order.pk)
    try:
        actions.check_confirm_order(user, order.pk)
    except ActionError as exc:
        return _refused(request, order.lead, exc)
    done = _("Pedido %(n)s confirmado. Kommo se actualiza en segundo plano.") % {"n": order.number}
    if not request.htmx:  # type: ignore[attr-defined]
        messages.success(request, done)
        return redirect("leads:detail", lead_id=order.lead.pk)
    return _panel(request, order.lead, feedback=done)


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
