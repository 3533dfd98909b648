from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from accounts.roles import Role
from customers.forms import CustomerDataForm
from customers.models import MarketingList, Tag
from leads.choices import Outcome, WorkStatus


class QueueFilterForm(forms.Form):
    q = forms.CharField(label=_("Buscar"), required=False,
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Nombre, correo o teléfono")}))
    status = forms.ChoiceField(label=_("Estado"), required=False, choices=[
        ("open", _("Abiertos")), ("all", _("Todos")), *WorkStatus.choices])
    tag = forms.ChoiceField(label=_("Etiqueta"), required=False)
    operator = forms.CharField(label=_("Operador"), required=False)
    marketing_list = forms.ChoiceField(label=_("Lista"), required=False)
    arrived_from = forms.DateField(label=_("Llegó desde"), required=False,
                                   widget=forms.DateInput(attrs={"type": "date"}))
    arrived_to = forms.DateField(label=_("hasta"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        tag_field, list_field = self.fields["tag"], self.fields["marketing_list"]
        assert isinstance(tag_field, forms.ChoiceField) and isinstance(list_field, forms.ChoiceField)
        tag_field.choices = [("", _("Todas")), *((t, t) for t in Tag.objects.values_list("name", flat=True))]
        list_field.choices = [("", _("Todas")), *MarketingList.objects.values_list("code", "name")]


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Nota"), widget=forms.Textarea(attrs={"rows": 3}), required=False,
                           max_length=settings.NOTE_MAX_LENGTH)
    outcome = forms.ChoiceField(label=_("Resultado"), choices=Outcome.choices, initial=Outcome.UNCLASSIFIED)
    template_id = forms.IntegerField(required=False, widget=forms.HiddenInput)


class CloseForm(forms.Form):
    text = forms.CharField(label=_("Nota final (opcional)"), widget=forms.Textarea(attrs={"rows": 2}),
                           required=False, max_length=settings.NOTE_MAX_LENGTH)
    outcome = forms.ChoiceField(label=_("Resultado"), choices=Outcome.choices, initial=Outcome.UNCLASSIFIED)


class CustomerForm(CustomerDataForm):
    """The call screen's customer data: the profile's data fields (customers.forms)."""


class ReassignForm(forms.Form):
    """`to_user` is the id chosen in the people picker; without JavaScript the typed `q` (a username) stands in."""

    to_user = forms.CharField(label=_("Operador"), max_length=150, required=False)
    q = forms.CharField(required=False, max_length=150)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["to_user"] = (data.get("to_user") or data.get("q") or "").strip()
        if not data["to_user"]:
            raise forms.ValidationError(_("Elija a quién reasignar el lead de la lista."))
        return data


class NoteTemplateForm(forms.Form):
    title = forms.CharField(label=_("Título"), max_length=100)
    text = forms.CharField(label=_("Texto"), widget=forms.Textarea(attrs={"rows": 2}))
    outcome = forms.ChoiceField(label=_("Resultado"), choices=Outcome.choices)
    tags = forms.CharField(label=_("Etiquetas a aplicar (separadas por comas)"), required=False)
    sort = forms.IntegerField(label=_("Orden"), initial=0, min_value=0)
    is_active = forms.BooleanField(label=_("Activa"), required=False, initial=True)


class LeadSettingsForm(forms.Form):
    reservation_roles = forms.MultipleChoiceField(label=_("La primera nota reserva el lead para estos roles"),
                                                  choices=Role.choices, required=False,
                                                  widget=forms.CheckboxSelectMultiple)
    queue_lists = forms.ModelMultipleChoiceField(label=_("Limitar la cola a clientes de estas listas"),
                                                 queryset=MarketingList.objects.all(), required=False,
                                                 widget=forms.CheckboxSelectMultiple)
    extra_customer_fields = forms.CharField(label=_("Datos extra del cliente a mostrar (claves, separadas por comas)"),
                                            required=False)
