from django import forms
from django.utils.translation import gettext_lazy as _

from core.errors import ActionError
from core.models import AvailabilityOnLogin


class SiteSettingsForm(forms.Form):
    company_name = forms.CharField(label=_("Nombre de la empresa"), max_length=120)
    default_language = forms.ChoiceField(label=_("Idioma por defecto de los usuarios nuevos"),
                                         choices=[("es", "Español"), ("en", "English")])
    brand_color = forms.CharField(label=_("Color de marca"), max_length=7,
                                  widget=forms.TextInput(attrs={"type": "color"}))
    availability_on_login = forms.ChoiceField(
        label=_("Disponibilidad al iniciar sesión"), choices=AvailabilityOnLogin.choices,
        widget=forms.RadioSelect, required=False,
        help_text=_("Con «Disponible», quien inicia sesión empieza a recibir conversaciones y llamadas de inmediato."),
    )

    def clean_availability_on_login(self) -> str | None:
        # Missing (an older form or API client) means "leave it as it is", not an error.
        return self.cleaned_data.get("availability_on_login") or None


def show_action_errors(form: forms.Form, exc: ActionError) -> None:
    """An action's refusal on a form: each field error (`errors` detail) next to its input, the rest — or the
    message, when the action named no field errors — at the top (or next to the one field it names)."""
    errors: dict[str, str] = exc.details.get("errors") or {}
    if not errors:
        errors = {exc.details.get("field") or "": exc.message}
    for field, message in errors.items():
        form.add_error(field if field in form.fields else None, message)
