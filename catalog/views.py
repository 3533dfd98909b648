"""Catalog pages: product list, create/edit with the stock panel, CSV import and export. Thin adapters over
catalog.actions and catalog.importer. The product search feeds the order builder on the call screen."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import Perm
from catalog import actions
from catalog.forms import (
    AdjustStockForm,
    ImportForm,
    NewProductForm,
    ProductFilterForm,
    ProductForm,
    ReceiveStockForm,
)
from catalog.importer import import_products_csv
from catalog.models import Product
from catalog.selectors import page_of, product_queryset, recent_movements, search_products
from core.errors import ActionError
from core.exports import Column, CsvOptions, streaming_csv_response
from core.forms import show_action_errors
from core.permissions import forbidden, perm_required

PAGE_SIZE = 50
MOVEMENTS_SHOWN = 50
# The list's own column names; the importer reads them back in either language (catalog.importer.COLUMN_ALIASES).
EXPORT_COLUMNS = [
    Column("sku", gettext_lazy("SKU")),
    Column("name", gettext_lazy("Nombre")),
    Column("description", gettext_lazy("Descripción")),
    Column("category", gettext_lazy("Categoría")),
    Column("price", gettext_lazy("Precio"), "money"),
    Column("active", gettext_lazy("Activo"), "bool"),
    Column("stock_on_hand", gettext_lazy("En bodega")),
    Column("stock_reserved", gettext_lazy("Apartado")),
    Column("stock_available", gettext_lazy("Disponible")),
    Column("product_id", gettext_lazy("ID del producto"), "uuid"),
]


@perm_required(Perm.CATALOG_VIEW)
def product_search(request: HttpRequest) -> HttpResponse:
    """Typeahead for the order builder: active products by name or SKU with live availability."""
    products = search_products(request.GET.get("q", ""), limit=12)
    # Where the builder is: a lead (the call screen) or a conversation; the add form posts it back as is
    # (orders.views.draft_add checks it).
    field = "conversation_id" if request.GET.get("conversation_id") else "lead_id"
    subject = request.GET.get(field) or request.GET.get("lead", "")
    return render(request, "catalog/_search_results.html", {
        "products": products, "subject_field": field, "subject_id": subject if subject.isdigit() else ""})


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@perm_required(Perm.CATALOG_VIEW)
def product_list(request: HttpRequest) -> HttpResponse:
    form = ProductFilterForm(request.GET or None)
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    products, has_next = page_of(product_queryset(form.filters()), page, PAGE_SIZE)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "catalog/product_list.html", {
        "form": form, "products": products, "page": page, "has_next": has_next, "query": query.urlencode(),
        "currency": settings.CURRENCY, "can_manage": _user(request).has_perm_code(Perm.CATALOG_MANAGE)})


@perm_required(Perm.CATALOG_MANAGE)
def product_create(request: HttpRequest) -> HttpResponse:
    form = NewProductForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            product = actions.check_save_product(
                _user(request), sku=d["sku"], name=d["name"], price=d["price"], description=d["description"],
                category=d["category"], is_active=d["is_active"], initial_stock=d["initial_stock"] or 0)
        except ActionError as exc:
            show_action_errors(form, exc)
            status = exc.status
        else:
            messages.success(request, _("Producto creado."))
            return redirect("catalog:product_detail", product_id=product.pk)
    return render(request, "catalog/product_new.html", {"form": form, "currency": settings.CURRENCY},
                  status=status if request.method == "POST" else 200)


def _product_initial(product: Product) -> dict[str, Any]:
    return {"sku": product.sku, "name": product.name, "price": product.price, "category": product.category,
            "description": product.description, "is_active": product.is_active}


def _detail(request: HttpRequest, product: Product, *, form: ProductForm | None = None,
            adjust_form: AdjustStockForm | None = None, receive_form: ReceiveStockForm | None = None,
            status: int = 200) -> HttpResponse:
    return render(request, "catalog/product_detail.html", {
        "product": product, "currency": settings.CURRENCY,
        "can_manage": _user(request).has_perm_code(Perm.CATALOG_MANAGE),
        "form": form or ProductForm(initial=_product_initial(product)),
        "adjust_form": adjust_form or AdjustStockForm(prefix="adjust"),
        "receive_form": receive_form or ReceiveStockForm(prefix="receive"),
        "movements": recent_movements(product.pk, limit=MOVEMENTS_SHOWN), "movements_shown": MOVEMENTS_SHOWN,
    }, status=status)


@perm_required(Perm.CATALOG_VIEW)
def product_detail(request: HttpRequest, product_id: int) -> HttpResponse:
    """Everyone with CATALOG_VIEW sees the product and its ledger; saving the form needs CATALOG_MANAGE."""
    user = _user(request)
    try:
        product = actions.access_product(user, product_id=product_id)
    except ActionError:
        return render(request, "404.html", status=404)
    if request.method != "POST":
        return _detail(request, product)
    if not user.has_perm_code(Perm.CATALOG_MANAGE):
        return forbidden(request)
    form = ProductForm(request.POST)
    if not form.is_valid():
        return _detail(request, product, form=form, status=400)
    d = form.cleaned_data
    try:
        actions.check_save_product(user, product_id=product.pk, sku=d["sku"], name=d["name"], price=d["price"],
                                   description=d["description"], category=d["category"], is_active=d["is_active"])
    except ActionError as exc:
        show_action_errors(form, exc)
        return _detail(request, product, form=form, status=exc.status)
    messages.success(request, _("Producto guardado."))
    return redirect("catalog:product_detail", product_id=product.pk)


@require_POST
@perm_required(Perm.CATALOG_MANAGE)
def product_adjust(request: HttpRequest, product_id: int) -> HttpResponse:
    user = _user(request)
    try:
        product = actions.access_product(user, product_id=product_id)
    except ActionError:
        return render(request, "404.html", status=404)
    form = AdjustStockForm(request.POST, prefix="adjust")
    if not form.is_valid():
        return _detail(request, product, adjust_form=form, status=400)
    d = form.cleaned_data
    try:
        actions.check_adjust_stock(user, product.pk, delta=d["delta"], set_aside_delta=d["set_aside_delta"],
                                   reason=d["reason"])
    except ActionError as exc:
        show_action_errors(form, exc)
        return _detail(request, product, adjust_form=form, status=exc.status)
    messages.success(request, _("Stock ajustado."))
    return redirect("catalog:product_detail", product_id=product.pk)


@require_POST
@perm_required(Perm.CATALOG_MANAGE)
def product_receive(request: HttpRequest, product_id: int) -> HttpResponse:
    user = _user(request)
    try:
        product = actions.access_product(user, product_id=product_id)
    except ActionError:
        return render(request, "404.html", status=404)
    form = ReceiveStockForm(request.POST, prefix="receive")
    if not form.is_valid():
        return _detail(request, product, receive_form=form, status=400)
    try:
        actions.check_receive_stock(user, product.pk, quantity=form.cleaned_data["quantity"],
                                    reason=form.cleaned_data["reason"])
    except ActionError as exc:
        show_action_errors(form, exc)
        return _detail(request, product, receive_form=form, status=exc.status)
    messages.success(request, _("Entrada registrada."))
    return redirect("catalog:product_detail", product_id=product.pk)


@perm_required(Perm.CATALOG_MANAGE)
def product_import(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    report = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            report = import_products_csv(form.cleaned_data["file"], acting_user=_user(request),
                                         dry_run=form.cleaned_data["dry_run"])
            if report.ok and not report.dry_run:
                messages.success(request, _("Importación completada."))
        status = 200 if form.is_valid() and report is not None and report.ok else 400
        if report is not None and report.partial:
            status = 409  # stopped by a concurrent change; what was written before it stays (docs/user-guide.md)
    return render(request, "catalog/product_import.html", {"form": form, "report": report}, status=status)


# perm_required is typed for HttpResponse; a StreamingHttpResponse is served just the same.
@perm_required(Perm.CATALOG_VIEW)
def product_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The filtered products as CSV, streamed, with the export options of core.exports (dialect, headers). The
    file can be edited and imported back in either flavour (the stock_reserved/stock_available/product_id
    columns are ignored there)."""
    try:
        options = CsvOptions.from_query(request.GET)
    except ActionError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
    filters = ProductFilterForm(request.GET or None).filters()

    def rows() -> Iterator[list[Any]]:
        for p in product_queryset(filters).iterator(chunk_size=500):
            yield [p.sku, p.name, p.description, p.category, p.price, p.is_active, p.stock_on_hand,
                   p.stock_reserved, p.stock_available, p.uuid]

    stamp = timezone.localdate().strftime("%Y%m%d")
    return streaming_csv_response(columns=EXPORT_COLUMNS, rows=rows(), options=options,
                                  filename=f"productos-{stamp}.csv")
