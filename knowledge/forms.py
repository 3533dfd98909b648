from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from customers.choices import Language
from knowledge.choices import ArticleState
from knowledge.models import BODY_MAX, SLUG_MAX, TITLE_MAX, Category


class ArticleFilterForm(forms.Form):
    q = forms.CharField(label=_("Buscar"), required=False, max_length=200)
    category = forms.TypedChoiceField(label=_("Categoría"), required=False, coerce=int, empty_value=None)
    language = forms.ChoiceField(label=_("Idioma"), required=False,
                                 choices=[("", _("Todos")), *Language.choices])
    state = forms.ChoiceField(label=_("Estado"), required=False, choices=[("", _("Todos")), *ArticleState.choices])

    def __init__(self, *args: Any, categories: list[Category], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        category = self.fields["category"]
        assert isinstance(category, forms.TypedChoiceField)
        category.choices = [("", _("Todas")), *[(c.pk, c.name) for c in categories]]


class ArticleForm(forms.Form):
    title = forms.CharField(label=_("Título"), max_length=TITLE_MAX)
    body = forms.CharField(label=_("Texto"), required=False, max_length=BODY_MAX,
                           widget=forms.Textarea(attrs={"rows": 16}),
                           help_text=_("En Markdown: **negrita**, *cursiva*, listas con «-», enlaces "
                                       "[texto](https://…). El HTML peligroso se descarta."))
    # "" is no category (the action's category_id 0)
    category = forms.TypedChoiceField(label=_("Categoría"), required=False, coerce=int, empty_value=None)
    language = forms.ChoiceField(label=_("Idioma"), choices=Language.choices)
    tags = forms.CharField(label=_("Etiquetas"), required=False, max_length=800,
                           help_text=_("Separadas por comas, p. ej.: envíos, devoluciones"))
    slug = forms.CharField(label=_("Identificador en la dirección"), required=False, max_length=SLUG_MAX,
                           help_text=_("Vacío: se forma a partir del título."))

    def __init__(self, *args: Any, categories: list[Category], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        category = self.fields["category"]
        assert isinstance(category, forms.TypedChoiceField)
        category.choices = [("", _("Sin categoría")), *[(c.pk, c.name) for c in categories]]


class CategoryForm(forms.Form):
    name = forms.CharField(label=_("Nombre"), max_length=80)
    position = forms.IntegerField(label=_("Posición"), required=False, min_value=0, max_value=10_000)
