from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Team
from announcements.choices import AnnouncementCategory, AnnouncementState
from announcements.models import BODY_MAX, TITLE_MAX

DATETIME_INPUT = "%Y-%m-%dT%H:%M"
IMAGE_ACCEPT = "image/png,image/jpeg,image/gif,image/webp"


class FilterForm(forms.Form):
    category = forms.ChoiceField(label=_("Categoría"), required=False,
                                 choices=[("", _("Todas")), *AnnouncementCategory.choices])
    state = forms.ChoiceField(label=_("Estado"), required=False,
                              choices=[("", _("Sin archivar")), *AnnouncementState.choices])
    pending = forms.BooleanField(label=_("Solo los que me faltan"), required=False)


class AnnouncementForm(forms.Form):
    title = forms.CharField(label=_("Título"), max_length=TITLE_MAX)
    body = forms.CharField(label=_("Texto"), required=False, max_length=BODY_MAX,
                           widget=forms.Textarea(attrs={"rows": 10}),
                           help_text=_("En Markdown: **negrita**, *cursiva*, listas con «-», enlaces "
                                       "[texto](https://…). El HTML peligroso se descarta."))
    category = forms.ChoiceField(label=_("Categoría"), choices=AnnouncementCategory.choices)
    audience = forms.ChoiceField(label=_("Para quién"), widget=forms.RadioSelect,
                                 choices=[("todos", _("Todas las personas")), ("equipos", _("Equipos elegidos"))])
    teams = forms.TypedMultipleChoiceField(label=_("Equipos"), required=False, coerce=int,
                                           widget=forms.CheckboxSelectMultiple)
    requires_ack = forms.BooleanField(
        label=_("Pedir confirmación de lectura («Leído y entendido»)"), required=False,
        help_text=_("El aviso queda arriba de cada página hasta que la persona lo confirme, y usted ve quién lo "
                    "confirmó y quién no."))
    pinned_until = forms.DateField(label=_("Fijado hasta (opcional)"), required=False,
                                   widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                                   help_text=_("Aparece primero en la lista hasta ese día, inclusive."))
    publish_at = forms.DateTimeField(
        label=_("Programar la publicación (opcional)"), required=False, input_formats=[DATETIME_INPUT],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_INPUT),
        help_text=_("Vacío: se publica al pulsar «Publicar». Con fecha futura, «Publicar» lo programa."))
    image = forms.FileField(label=_("Imagen (opcional)"), required=False,
                            widget=forms.FileInput(attrs={"accept": IMAGE_ACCEPT}),
                            help_text=_("PNG, JPEG, GIF o WebP; hasta 5 MB."))
    remove_image = forms.BooleanField(label=_("Quitar la imagen actual"), required=False)

    def __init__(self, *args: Any, teams: list[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["teams"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.choices = [(t.pk, t.name) for t in teams]


class PinForm(forms.Form):
    pinned_until = forms.DateField(label=_("Fijado hasta"), required=False,
                                   widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
