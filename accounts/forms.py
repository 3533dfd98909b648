from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from accounts.actions import login_throttled, record_login_failure
from accounts.choices import Availability, Language, Weekday
from accounts.models import Skill, Team
from accounts.roles import Role
from core.middleware import client_ip


class ThrottledAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("Usuario o contraseña incorrectos. Revise los datos e intente de nuevo."),
        "throttled": _("Demasiados intentos fallidos. Espere unos minutos antes de volver a intentarlo."),
        "throttled_ip": _("Demasiados intentos fallidos desde esta dirección. Espere unos minutos antes de volver "
                          "a intentarlo."),
        "throttled_username": _("Demasiados intentos fallidos para este usuario desde distintas direcciones. Espere "
                                "unos minutos o pida ayuda a un administrador."),
        "inactive": _("Esta cuenta está desactivada."),
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        ip = client_ip(self.request) if self.request is not None else None
        throttle = login_throttled(username, ip) if username else None
        if throttle is not None:
            key = {"username_ip": "throttled", "ip": "throttled_ip", "username": "throttled_username"}[throttle]
            raise forms.ValidationError(self.error_messages[key], code="throttled")
        try:
            return super().clean()
        except forms.ValidationError:
            if username:
                record_login_failure(username, ip)
            raise

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not user.can_login:
            raise forms.ValidationError(self.error_messages["inactive"], code="inactive")


class UserCreateForm(forms.Form):
    username = forms.CharField(label=_("Usuario"), max_length=150)
    full_name = forms.CharField(label=_("Nombre completo"), max_length=150)
    email = forms.EmailField(label=_("Correo electrónico"), required=False)
    role = forms.ChoiceField(label=_("Rol"), choices=Role.choices, initial=Role.AGENTE)
    language = forms.ChoiceField(label=_("Idioma"), choices=Language.choices, initial=Language.ES)
    teams = forms.ModelMultipleChoiceField(label=_("Equipos"), queryset=Team.objects.filter(is_active=True),
                                           required=False, widget=forms.CheckboxSelectMultiple)
    # strip=False like Django's own password fields: a password is taken as typed, spaces included, and the
    # validators (AUTH_PASSWORD_VALIDATORS, run by the action) decide; the length rule lives there too.
    password = forms.CharField(label=_("Contraseña inicial"), widget=forms.PasswordInput, strip=False)


class UserEditForm(forms.Form):
    full_name = forms.CharField(label=_("Nombre completo"), max_length=150)
    email = forms.EmailField(label=_("Correo electrónico"), required=False)
    role = forms.ChoiceField(label=_("Rol"), choices=Role.choices)
    language = forms.ChoiceField(label=_("Idioma"), choices=Language.choices)
    capacity = forms.IntegerField(label=_("Capacidad (conversaciones simultáneas)"), min_value=0, max_value=100)
    is_active = forms.BooleanField(label=_("Activo"), required=False)
    teams = forms.ModelMultipleChoiceField(label=_("Equipos"), queryset=Team.objects.all(), required=False,
                                           widget=forms.CheckboxSelectMultiple)
    skills = forms.ModelMultipleChoiceField(label=_("Habilidades"), queryset=Skill.objects.all(), required=False,
                                            widget=forms.CheckboxSelectMultiple)


class SetPasswordForm(forms.Form):
    password = forms.CharField(label=_("Nueva contraseña"), widget=forms.PasswordInput, strip=False)


class TeamForm(forms.Form):
    name = forms.CharField(label=_("Nombre"), max_length=100)
    code = forms.SlugField(label=_("Código"), max_length=50)
    description = forms.CharField(label=_("Descripción"), widget=forms.Textarea(attrs={"rows": 2}), required=False)


class TeamEditForm(forms.Form):
    name = forms.CharField(label=_("Nombre"), max_length=100)
    description = forms.CharField(label=_("Descripción"), widget=forms.Textarea(attrs={"rows": 2}), required=False)
    is_active = forms.BooleanField(label=_("Activo"), required=False)


class BusinessHoursForm(forms.Form):
    weekday = forms.TypedChoiceField(label=_("Día"), choices=Weekday.choices, coerce=int)
    opens_at = forms.TimeField(label=_("Abre"), widget=forms.TimeInput(attrs={"type": "time"}))
    closes_at = forms.TimeField(label=_("Cierra"), widget=forms.TimeInput(attrs={"type": "time"}))


class HolidayForm(forms.Form):
    date = forms.DateField(label=_("Fecha"), widget=forms.DateInput(attrs={"type": "date"}))
    name = forms.CharField(label=_("Nombre"), max_length=100)
    team = forms.ModelChoiceField(label=_("Equipo (vacío = todos)"), queryset=Team.objects.all(), required=False)


class SkillForm(forms.Form):
    code = forms.SlugField(label=_("Código"), max_length=50)
    name = forms.CharField(label=_("Nombre"), max_length=100)


class AvailabilityForm(forms.Form):
    availability = forms.ChoiceField(choices=Availability.choices)


class LanguageForm(forms.Form):
    language = forms.ChoiceField(label=_("Idioma"), choices=Language.choices)


class NotificationsForm(forms.Form):
    notify_sound = forms.BooleanField(label=_("Sonido corto"), required=False)
    notify_browser = forms.BooleanField(label=_("Aviso del navegador (también con la pestaña en segundo plano)"),
                                        required=False)


class ApiTokenForm(forms.Form):
    name = forms.CharField(label=_("Nombre del token"), max_length=100)
