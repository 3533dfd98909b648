from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from webhooks.models import event_choices


class EndpointForm(forms.Form):
    """Parses the page's fields; check_save_endpoint decides what is valid (URL scheme, known events)."""

    url = forms.CharField(label=_("URL"), max_length=500,
                          widget=forms.URLInput(attrs={"placeholder": "https://facturacion.example.com/hooks"}))
    events = forms.MultipleChoiceField(label=_("Eventos"), choices=event_choices, widget=forms.CheckboxSelectMultiple)
    description = forms.CharField(label=_("Descripción"), max_length=200, required=False)
    is_active = forms.BooleanField(label=_("Activo"), required=False, initial=True)
