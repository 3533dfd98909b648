from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from inbox.choices import Channel, CloseReason, ConversationOutcome, ConversationState, CustomerState, Priority


class InboxFilterForm(forms.Form):
    q = forms.CharField(required=False, widget=forms.TextInput(attrs={
        "type": "search", "placeholder": _("Texto, cliente, teléfono, correo o etiqueta")}))
    inbox = forms.ChoiceField(required=False)
    state = forms.ChoiceField(required=False, choices=[("open", _("Abiertas")), ("", _("Todas")),
                                                       *ConversationState.choices])
    agent = forms.CharField(required=False)
    channel = forms.ChoiceField(required=False, choices=[("", _("Todos los canales")), *Channel.choices])
    priority = forms.ChoiceField(required=False, choices=[("", _("Toda prioridad")), *Priority.choices])
    tag = forms.CharField(required=False)
    unowned = forms.BooleanField(required=False, label=_("Sin dueño"))
    unanswered = forms.BooleanField(required=False, label=_("Sin respuesta"))

    def __init__(self, *args: object, inboxes: list[tuple[str, str]] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["inbox"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("Todas las bandejas")), *(inboxes or [])]


class ReplyForm(forms.Form):
    kind = forms.ChoiceField(choices=[("reply", _("Responder al cliente")), ("note", _("Nota interna"))])
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


class CommentFields(forms.Form):
    """The guide's recommended structure for a descriptive comment."""

    contexto = forms.CharField(label=_("Contexto"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    acciones = forms.CharField(label=_("Acciones realizadas"), required=False)
    proximos = forms.CharField(label=_("Próximos pasos"), required=False)
    faltantes = forms.CharField(label=_("Datos faltantes"), required=False)
    canal = forms.CharField(label=_("Canal externo"), required=False)

    def composed(self) -> str:
        labels = {"contexto": _("Contexto"), "acciones": _("Acciones realizadas"), "proximos": _("Próximos pasos"),
                  "faltantes": _("Datos faltantes"), "canal": _("Canal externo")}
        return "\n".join(f"{labels[k]}: {v}" for k, v in self.cleaned_data.items() if v and k in labels)


class CloseForm(CommentFields):
    reason = forms.ChoiceField(label=_("Motivo de cierre"), choices=CloseReason.choices)
    outcome = forms.ChoiceField(label=_("Resultado"), required=False,
                                choices=[("", "—"), *ConversationOutcome.choices])
    customer_state = forms.ChoiceField(label=_("Estado del cliente"), required=False,
                                       choices=[("", "—"), *CustomerState.choices])


class ClassifyForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Resultado"), required=False,
                                choices=[("", "—"), *ConversationOutcome.choices])
    customer_state = forms.ChoiceField(label=_("Estado del cliente"), required=False,
                                       choices=[("", "—"), *CustomerState.choices])


class TransferForm(CommentFields):
    to_user = forms.CharField(label=_("Agente"), required=False)
    to_inbox = forms.ChoiceField(label=_("Bandeja"), required=False)


class TaskForm(forms.Form):
    title = forms.CharField(label=_("Tarea"), max_length=250)
    responsible = forms.CharField(label=_("Responsable (usuario)"), required=False)
    due_at = forms.DateTimeField(label=_("Vence"), required=False,
                                 widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
