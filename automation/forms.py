from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from automation.actions import BODY_MAX_LENGTH
from automation.choices import QuickReplyScope
from inbox.models import Inbox


class QuickReplyForm(forms.Form):
    title = forms.CharField(label=_("Título"), max_length=100)
    shortcut = forms.CharField(label=_("Atajo"), max_length=31, help_text=_(
        "Se escribe «/» y el atajo en la respuesta (p. ej. /saludo). Letras sin tildes, números, «-» o «_»."))
    body = forms.CharField(label=_("Texto"), max_length=BODY_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 5}),
                           help_text=_("Puede usar variables, p. ej. {{cliente.primer_nombre}} (ver la lista)."))
    category = forms.CharField(label=_("Categoría"), max_length=50, required=False,
                               widget=forms.TextInput(attrs={"list": "qr-categories"}))
    scope = forms.ChoiceField(label=_("Visible para"), choices=QuickReplyScope.choices,
                              initial=QuickReplyScope.MINE)
    inbox = forms.ChoiceField(label=_("Bandeja"), required=False, help_text=_("Solo si es visible para una bandeja."))

    def __init__(self, *args: object, can_share: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        inbox, scope = self.fields["inbox"], self.fields["scope"]
        assert isinstance(inbox, forms.ChoiceField) and isinstance(scope, forms.ChoiceField)
        inbox.choices = [("", "—")] + [(i.code, i.name) for i in Inbox.objects.order_by("name")]
        if not can_share:  # agents keep their own; the shared ones are the supervisors'
            scope.choices = [(QuickReplyScope.MINE.value, QuickReplyScope.MINE.label)]
            self.fields["inbox"].widget = forms.HiddenInput()


class QuickReplyFilterForm(forms.Form):
    q = forms.CharField(label=_("Buscar"), required=False, widget=forms.TextInput(
        attrs={"type": "search", "placeholder": _("Atajo, título o texto"), "aria-label": _("Buscar")}))
    category = forms.CharField(label=_("Categoría"), required=False, widget=forms.TextInput(
        attrs={"list": "qr-categories", "aria-label": _("Categoría"), "placeholder": _("Categoría")}))
