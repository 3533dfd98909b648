"""Forms of the team chat's pages (they parse; teamchat.actions decides)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from teamchat.models import NAME_MAX, TOPIC_MAX


def _people_choices(people: list[User]) -> list[tuple[int, str]]:
    return [(u.pk, u.display_name) for u in people]


class ChannelForm(forms.Form):
    name = forms.CharField(label=_("Nombre"), max_length=NAME_MAX)
    topic = forms.CharField(label=_("Descripción"), max_length=TOPIC_MAX, required=False,
                            help_text=_("Para qué es el canal, en una línea."))
    private = forms.BooleanField(label=_("Privado: solo entran las personas que usted invite"), required=False)
    members = forms.TypedMultipleChoiceField(label=_("Miembros"), coerce=int, required=False,
                                             widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, people: list[User], editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["members"].choices = _people_choices(people)  # type: ignore[attr-defined]
        if editing:
            del self.fields["private"]
            del self.fields["members"]


class DirectForm(forms.Form):
    people = forms.TypedMultipleChoiceField(label=_("Personas"), coerce=int, widget=forms.CheckboxSelectMultiple,
                                            help_text=_("Una persona para un mensaje directo; hasta ocho para un "
                                                        "grupo."))

    def __init__(self, *args: Any, people: list[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["people"].choices = _people_choices(people)  # type: ignore[attr-defined]


class MembersForm(forms.Form):
    members = forms.TypedMultipleChoiceField(label=_("Agregar personas"), coerce=int,
                                             widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, people: list[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["members"].choices = _people_choices(people)  # type: ignore[attr-defined]


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Buscar en los mensajes"), max_length=200, required=False)


class RetentionForm(forms.Form):
    retention_days = forms.IntegerField(
        label=_("Conservar los mensajes (días)"), min_value=0, max_value=36500,
        help_text=_("0 los conserva siempre. Cada noche se borran los mensajes más antiguos que este plazo, con sus "
                    "archivos; el registro de auditoría anota cuántos."))
