from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from orders.choices import OrderState
from orders.selectors import OrderFilters


class OrderFilterForm(forms.Form):
    q = forms.CharField(label=_("Buscar"), required=False, widget=forms.TextInput(
        attrs={"type": "search", "placeholder": _("Cliente, teléfono o número de pedido")}))
    state = forms.ChoiceField(label=_("Estado"), required=False, choices=[("", _("Todos")), *OrderState.choices])
    agent = forms.CharField(label=_("Agente"), required=False)
    date_from = forms.DateField(label=_("Desde"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("Hasta"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def filters(self) -> OrderFilters:
        d = self.cleaned_data
        return OrderFilters(state=d.get("state") or "", agent=d.get("agent") or "", date_from=d.get("date_from"),
                            date_to=d.get("date_to"), q=d.get("q") or "")


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Motivo de la cancelación"), max_length=250)
