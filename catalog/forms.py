from __future__ import annotations

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from catalog.actions import MAX_STOCK
from catalog.selectors import ProductFilters

MAX_IMPORT_BYTES = 5 * 1024 * 1024  # ~50,000 product rows; a bigger file belongs to manage.py import_products


class ProductFilterForm(forms.Form):
    q = forms.CharField(label=_("Buscar"), required=False, widget=forms.TextInput(
        attrs={"type": "search", "placeholder": _("Nombre o SKU"), "aria-label": _("Buscar por nombre o SKU")}))
    status = forms.ChoiceField(label=_("Estado"), required=False, choices=[
        ("", _("Todos")), ("active", _("Activos")), ("inactive", _("Inactivos")), ("out_of_stock", _("Sin stock"))],
        widget=forms.Select(attrs={"aria-label": _("Estado")}))

    def filters(self) -> ProductFilters:
        if not self.is_valid():
            return ProductFilters()
        status = self.cleaned_data.get("status") or ""
        return ProductFilters(q=self.cleaned_data.get("q") or "",
                              active={"active": True, "inactive": False}.get(status),
                              out_of_stock=status == "out_of_stock")


class ProductForm(forms.Form):
    sku = forms.CharField(label=_("SKU"), max_length=64,
                          help_text=_("Letras, números, espacios y signos como - _ . # +; sin «/» ni «\\»."))
    name = forms.CharField(label=_("Nombre"), max_length=200)
    price = forms.CharField(label=_("Precio unitario"), max_length=20,
                            help_text=_("Con coma o punto decimal, hasta 2 decimales."))
    category = forms.CharField(label=_("Categoría"), max_length=100, required=False)
    description = forms.CharField(label=_("Descripción"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    is_active = forms.BooleanField(label=_("Activo (se puede vender)"), required=False, initial=True)


class NewProductForm(ProductForm):
    initial_stock = forms.IntegerField(label=_("Stock inicial"), min_value=0, max_value=MAX_STOCK, initial=0,
                                       required=False,
                                       help_text=_("Se registra como una entrada en el historial de stock."))


class AdjustStockForm(forms.Form):
    delta = forms.IntegerField(label=_("Cambio en bodega"), initial=0, min_value=-MAX_STOCK, max_value=MAX_STOCK,
                               help_text=_("Positivo suma unidades, negativo las resta (conteo, daño, pérdida)."))
    set_aside_delta = forms.IntegerField(label=_("Cambio en apartado"), initial=0, min_value=-MAX_STOCK,
                                         max_value=MAX_STOCK,
                                         help_text=_("Unidades en bodega que no se pueden vender."))
    reason = forms.CharField(label=_("Motivo"), max_length=250)


class ReceiveStockForm(forms.Form):
    quantity = forms.IntegerField(label=_("Cantidad recibida"), min_value=1, max_value=MAX_STOCK)
    reason = forms.CharField(label=_("Motivo"), max_length=250,
                             widget=forms.TextInput(attrs={"placeholder": _("Ej.: factura del proveedor 1234")}))


class ImportForm(forms.Form):
    file = forms.FileField(label=_("Archivo CSV"))
    dry_run = forms.BooleanField(label=_("Solo validar (no guardar nada)"), required=False)

    def clean_file(self) -> UploadedFile[bytes]:
        upload: UploadedFile[bytes] = self.cleaned_data["file"]
        if (upload.size or 0) > MAX_IMPORT_BYTES:
            raise forms.ValidationError(_("El archivo supera los 5 MB; use «manage.py import_products»."))
        return upload
