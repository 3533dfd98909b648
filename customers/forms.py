"""Forms of the customer pages (and the call screen's customer data, leads.forms.CustomerForm)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Skill
from customers.choices import ConsentChannel, ConsentStatus, ContactChannel, Language, LeadState
from customers.models import MarketingList, Segment, Tag
from customers.segments import CHANNEL_COLUMNS, CONDITIONS, MAX_DAYS, MAX_GROUPS


class CustomerDataForm(forms.Form):
    name = forms.CharField(label=_("Nombre completo"), max_length=200)
    phones = forms.CharField(label=_("Teléfonos (uno por línea)"), widget=forms.Textarea(attrs={"rows": 2}),
                             required=False)
    emails = forms.CharField(label=_("Correos (uno por línea)"), widget=forms.Textarea(attrs={"rows": 2}),
                             required=False)
    document_id = forms.CharField(label=_("Documento de identidad"), max_length=40, required=False)
    address = forms.CharField(label=_("Dirección"), max_length=250, required=False)
    city = forms.CharField(label=_("Ciudad"), max_length=100, required=False)
    department = forms.CharField(label=_("Departamento / estado"), max_length=100, required=False)
    notes = forms.CharField(label=_("Observaciones"), widget=forms.Textarea(attrs={"rows": 2}), required=False)
    marketing_lists = forms.ModelMultipleChoiceField(label=_("Listas de marketing"), required=False,
                                                     queryset=MarketingList.objects.all(),
                                                     widget=forms.CheckboxSelectMultiple)


def _blank_first(choices: list[tuple[str, Any]], blank: Any) -> list[tuple[str, Any]]:
    return [("", blank), *choices]


class CustomerProfileForm(CustomerDataForm):
    """The profile's full edit form: the data, tags and preferences (consent has its own form)."""

    tags = forms.CharField(label=_("Etiquetas (separadas por comas)"), required=False, max_length=2000,
                           help_text=_("Por ejemplo: VIP, frecuente, problemático, potencial."))
    language = forms.ChoiceField(label=_("Idioma"), required=False,
                                 choices=_blank_first(Language.choices, _("Sin preferencia")))
    preferred_channel = forms.ChoiceField(label=_("Canal preferido"), required=False,
                                          choices=_blank_first(ContactChannel.choices, _("Sin preferencia")))
    contact_from = forms.TimeField(label=_("Contactar desde"), required=False,
                                   widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    contact_to = forms.TimeField(label=_("Contactar hasta"), required=False,
                                 widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))

    def tag_names(self) -> list[str]:
        return [t for t in (part.strip() for part in self.cleaned_data["tags"].split(",")) if t]


class ConsentForm(forms.Form):
    channel = forms.ChoiceField(label=_("Canal"), choices=ConsentChannel.choices)
    status = forms.ChoiceField(label=_("Consentimiento"), choices=ConsentStatus.choices)
    source = forms.CharField(label=_("Origen (de dónde viene la autorización)"), required=False, max_length=200)


def _condition_field(key: str) -> forms.Field:
    condition = CONDITIONS[key]
    label = condition.label
    if condition.kind == "money":
        return forms.CharField(label=label, required=False, max_length=20,
                               widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    if condition.kind in {"count", "days"}:
        return forms.IntegerField(label=label, required=False, min_value=1, max_value=MAX_DAYS)
    if condition.kind == "tag":
        return forms.ChoiceField(label=label, required=False, choices=lambda: [
            ("", _("—")), *((n, n) for n in Tag.objects.order_by("name").values_list("name", flat=True)[:500])])
    if condition.kind == "list":
        return forms.ChoiceField(label=label, required=False, choices=lambda: [
            ("", _("—")), *MarketingList.objects.order_by("name").values_list("code", "name")])
    options = {"lead_state": LeadState.choices, "channel": [(c.value, c.label) for c in CHANNEL_COLUMNS],
               "language": Language.choices, "open": [("1", _("Sí")), ("0", _("No"))]}[condition.kind]
    return forms.ChoiceField(label=label, required=False, choices=[("", _("—")), *options])


class SegmentForm(forms.Form):
    """A segment: its name and treatment, and up to MAX_GROUPS groups of conditions (a group holds when all its
    filled conditions hold; the customer belongs when any group holds)."""

    name = forms.CharField(label=_("Nombre"), max_length=80)
    code = forms.SlugField(label=_("Código"), max_length=50, help_text=_("Para filtros, la API y las reglas."))
    description = forms.CharField(label=_("Descripción"), max_length=250, required=False)
    tone = forms.ChoiceField(label=_("Color de la insignia"), choices=Segment.Tone.choices)
    priority = forms.ChoiceField(label=_("Prioridad de sus conversaciones nuevas"), required=False,
                                 choices=[("", _("Sin cambio")), *Segment.Priority.choices])
    skill = forms.ModelChoiceField(label=_("Primero a agentes con la habilidad"), required=False,
                                   queryset=Skill.objects.all(), empty_label=_("Cualquier agente"))
    active = forms.BooleanField(label=_("Activo"), required=False, initial=True)
    in_lists = forms.BooleanField(label=_("Mostrar la insignia también en la lista de la bandeja"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for group in range(MAX_GROUPS):
            for key in CONDITIONS:
                self.fields[f"g{group}_{key}"] = _condition_field(key)

    def groups(self) -> list[tuple[list[forms.BoundField], bool]]:
        """Each group's fields, and whether any of them holds a value (an empty later group shows folded)."""
        found = []
        for group in range(MAX_GROUPS):
            fields = [self[f"g{group}_{key}"] for key in CONDITIONS]
            found.append((fields, any(f.value() not in (None, "") for f in fields)))
        return found

    def rules(self) -> dict[str, list[dict[str, Any]]]:
        """The filled conditions, group by group (read even when another field is invalid: the live preview)."""
        data = getattr(self, "cleaned_data", {})
        groups = []
        for group in range(MAX_GROUPS):
            found = {key: data[f"g{group}_{key}"] for key in CONDITIONS
                     if data.get(f"g{group}_{key}") not in (None, "")}
            if found:
                groups.append(found)
        return {"any": groups}

    @staticmethod
    def initial_for(segment: Segment) -> dict[str, Any]:
        initial: dict[str, Any] = {"name": segment.name, "code": segment.code, "description": segment.description,
                                   "tone": segment.tone, "priority": segment.priority, "skill": segment.skill_id,
                                   "active": segment.active, "in_lists": segment.in_lists}
        for group, conditions in enumerate(segment.rules.get("any", [])[:MAX_GROUPS]):
            for key, value in conditions.items():
                initial[f"g{group}_{key}"] = ("1" if value else "0") if key == "open_conversation" else value
        return initial
