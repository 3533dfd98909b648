from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from automation.actions import BODY_MAX_LENGTH
from automation.choices import QuickReplyScope, RuleEvent, RuleFrequency, RuleMatch
from automation.models import AutomationRule
from automation.rule_spec import WEEKDAYS
from inbox.attachments import Upload
from inbox.choices import Channel
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
    attachment = forms.FileField(label=_("Archivo adjunto"), required=False, allow_empty_file=False,
                                 help_text=_("Opcional: se envía con el texto (un catálogo, una guía, una foto)."))
    remove_attachment = forms.BooleanField(label=_("Quitar el archivo actual"), required=False)

    def __init__(self, *args: object, can_share: bool = False, current_file: str = "", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.current_file = current_file
        if current_file:
            self.fields["attachment"].label = _("Reemplazar el archivo")
        else:
            del self.fields["remove_attachment"]
        inbox, scope = self.fields["inbox"], self.fields["scope"]
        assert isinstance(inbox, forms.ChoiceField) and isinstance(scope, forms.ChoiceField)
        inbox.choices = [("", "—")] + [(i.code, i.name) for i in Inbox.objects.order_by("name")]
        if not can_share:  # agents keep their own; the shared ones are the supervisors'
            scope.choices = [(QuickReplyScope.MINE.value, QuickReplyScope.MINE.label)]
            self.fields["inbox"].widget = forms.HiddenInput()


    def clean_attachment(self) -> Any:
        f = self.cleaned_data.get("attachment")
        if f is not None and (f.size or 0) > settings.ATTACHMENT_MAX_BYTES:
            raise forms.ValidationError(_("El adjunto supera el tamaño máximo permitido."))
        return f

    def upload(self) -> Upload | None:
        f = self.cleaned_data.get("attachment")
        return None if f is None else Upload(name=f.name or "", content_type=f.content_type or "", data=f.read())


class QuickReplyFilterForm(forms.Form):
    q = forms.CharField(label=_("Buscar"), required=False, widget=forms.TextInput(
        attrs={"type": "search", "placeholder": _("Atajo, título o texto"), "aria-label": _("Buscar")}))
    category = forms.CharField(label=_("Categoría"), required=False, widget=forms.TextInput(
        attrs={"list": "qr-categories", "aria-label": _("Categoría"), "placeholder": _("Categoría")}))


class RuleForm(forms.Form):
    """A rule's own fields; its conditions and actions are rows the view reads (automation.views._condition_rows)."""

    name = forms.CharField(label=_("Nombre"), max_length=100)
    description = forms.CharField(label=_("Descripción"), max_length=300, required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    event = forms.ChoiceField(label=_("Cuando"), choices=RuleEvent.choices)
    schedule_days = forms.TypedMultipleChoiceField(
        label=_("Días"), required=False, coerce=int, widget=forms.CheckboxSelectMultiple,
        choices=[(n, capfirst(day)) for n, day in enumerate(WEEKDAYS)])  # type: ignore[type-var]
    schedule_time = forms.CharField(
        label=pgettext_lazy("time of day", "Hora"), required=False, max_length=5, help_text=_(
            "HH:MM, en la zona horaria de la organización. A esa hora se revisan las conversaciones abiertas."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "placeholder": "09:00", "class": "w-5"}))
    match = forms.ChoiceField(label=_("Se cumple con"), choices=RuleMatch.choices, initial=RuleMatch.ALL)
    frequency = forms.ChoiceField(label=_("Frecuencia"), choices=RuleFrequency.choices,
                                  initial=RuleFrequency.EVERY_TIME)
    cooldown_minutes = forms.IntegerField(label=_("Espera entre ejecuciones (minutos)"), required=False, min_value=0,
                                          max_value=30 * 24 * 60, help_text=_(
                                              "No vuelve a aplicarse a la misma conversación en ese tiempo."))
    position = forms.IntegerField(label=_("Orden"), required=False, min_value=0, max_value=100_000, help_text=_(
        "Las reglas de un mismo evento se evalúan de menor a mayor."))
    stop_after = forms.BooleanField(label=_("Si se aplica, no evaluar las reglas siguientes"), required=False)
    active = forms.BooleanField(label=_("Activa"), required=False)

    def __init__(self, *args: Any, instance_values: AutomationRule | None = None, **kwargs: Any) -> None:
        if instance_values is not None:
            rule = instance_values
            kwargs["initial"] = {
                "name": rule.name, "description": rule.description, "event": rule.event, "match": rule.match,
                "frequency": rule.frequency, "position": rule.position, "stop_after": rule.stop_after,
                "active": rule.active,
                "cooldown_minutes": rule.cooldown_seconds // 60 if rule.cooldown_seconds else None,
                "schedule_days": (rule.schedule or {}).get("days") or [],
                "schedule_time": (rule.schedule or {}).get("time") or ""}
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class RuleTestForm(forms.Form):
    event = forms.ChoiceField(label=_("Evento"), choices=RuleEvent.choices)
    channel = forms.ChoiceField(label=_("Canal"), required=False, choices=[("", _("Cualquiera"))] + [
        (v, label) for v, label in Channel.choices if v != Channel.PHONE])
    inbox = forms.ChoiceField(label=_("Bandeja"), required=False)
    message = forms.CharField(label=_("Mensaje de prueba"), required=False, max_length=4096,
                              widget=forms.Textarea(attrs={"rows": 3}))
    rule = forms.IntegerField(required=False, widget=forms.HiddenInput(), min_value=1, max_value=2**31 - 1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inbox = self.fields["inbox"]
        assert isinstance(inbox, forms.ChoiceField)
        inbox.choices = [("", _("Cualquiera"))] + [(i.code, i.name) for i in Inbox.objects.order_by("name")]


class SequenceForm(forms.Form):
    """A sequence's own fields; its messages are rows the view reads (automation.views._step_rows)."""

    name = forms.CharField(label=_("Nombre"), max_length=100)
    description = forms.CharField(label=_("Descripción"), max_length=300, required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    stop_on_reply = forms.BooleanField(label=_("Detener si el cliente responde"), required=False, initial=True)
    stop_on_close = forms.BooleanField(label=_("Detener si la conversación se resuelve"), required=False,
                                       initial=True)
    active = forms.BooleanField(label=_("Activa (las reglas pueden iniciarla)"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
