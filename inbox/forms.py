from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from inbox.attachments import MAX_FILES_PER_MESSAGE, Upload
from inbox.choices import (
    MANUAL_CLOSE_REASONS,
    Channel,
    ConversationOutcome,
    ConversationState,
    CustomerState,
    Priority,
)


class InboxFilterForm(forms.Form):
    q = forms.CharField(required=False, widget=forms.TextInput(attrs={
        "type": "search", "placeholder": _("Buscar texto, cliente, teléfono…")}), label=_("Buscar"))
    inbox = forms.ChoiceField(required=False, label=_("Bandeja"))
    state = forms.ChoiceField(required=False, label=_("Estado"), choices=[
        ("open", _("Abiertas")), ("", _("Todos los estados")), *ConversationState.choices])
    agent = forms.CharField(required=False, label=_("Responsable"))
    channel = forms.ChoiceField(required=False, label=_("Canal"),
                                choices=[("", _("Todos los canales")), *Channel.choices])
    priority = forms.ChoiceField(required=False, label=_("Prioridad"),
                                 choices=[("", _("Toda prioridad")), *Priority.choices])
    tag = forms.CharField(required=False, label=_("Etiqueta"))
    unowned = forms.BooleanField(required=False, label=_("Sin dueño"))
    unanswered = forms.BooleanField(required=False, label=_("Sin respuesta"))
    sort = forms.ChoiceField(required=False, label=_("Orden"), choices=[
        ("", _("Automático")), ("waiting", _("Espera más larga primero")), ("priority", _("Prioridad")),
        ("sla", _("Vencimiento del SLA")), ("activity", _("Actividad más reciente"))])

    def __init__(self, *args: object, inboxes: list[tuple[str, str]] | None = None, **kwargs: object) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["inbox"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("Todas las bandejas")), *(inboxes or [])]


class ReplyForm(forms.Form):
    """An answer or a note: text, files (`attachments`, several) and files chosen elsewhere (`attachment_refs`, a
    quick reply's "quick_reply:12"); text or a file is required."""

    kind = forms.ChoiceField(choices=[("reply", _("Responder al cliente")), ("note", _("Nota interna"))])
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    attachment_refs = forms.Field(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._files = self.files.getlist("attachments") if hasattr(self.files, "getlist") else []

    def clean_attachment_refs(self) -> list[str]:
        refs = self.data.getlist("attachment_refs") if hasattr(self.data, "getlist") else []
        return [str(r)[:100] for r in refs if str(r).strip()][:MAX_FILES_PER_MESSAGE]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if len(self._files) + len(data.get("attachment_refs") or []) > MAX_FILES_PER_MESSAGE:
            raise forms.ValidationError(_("Adjunte como máximo %(n)d archivos por mensaje.")
                                        % {"n": MAX_FILES_PER_MESSAGE})
        # Sizes as the browser declared them, checked before anything is read into memory.
        if sum(f.size or 0 for f in self._files) > settings.ATTACHMENT_MAX_BYTES:
            raise forms.ValidationError(_("Los adjuntos superan juntos el máximo de %(mb)d MB.")
                                        % {"mb": settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)})
        if ("body" not in self.errors and not (data.get("body") or "").strip() and not self._files
                and not data.get("attachment_refs")):
            raise forms.ValidationError(_("Escriba el mensaje o adjunte un archivo."))
        return data

    def uploads(self) -> list[Upload]:
        return [Upload(name=f.name or "", content_type=f.content_type or "", data=f.read()) for f in self._files]


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
    reason = forms.ChoiceField(label=_("Motivo de cierre"), choices=[(r.value, r.label) for r in MANUAL_CLOSE_REASONS])
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
    to_user = forms.CharField(label=_("Agente"), required=False, max_length=150)
    to_inbox = forms.ChoiceField(label=_("Bandeja"), required=False)


class TaskForm(forms.Form):
    title = forms.CharField(label=_("Tarea"), max_length=250)
    responsible = forms.CharField(label=_("Responsable"), required=False, max_length=150)
    due_at = forms.DateTimeField(label=_("Vence"), required=False,
                                 widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))


class AssociationsForm(forms.Form):
    company = forms.CharField(label=_("Empresa"), required=False, max_length=200)
    ticket_ref = forms.CharField(label=_("Referencia de ticket"), required=False, max_length=100)


class HandledOutsideForm(forms.Form):
    external_channel = forms.CharField(label=_("Canal externo"), max_length=100, widget=forms.TextInput(
        attrs={"placeholder": _("Teléfono, WhatsApp personal, correo…")}))
    comment = forms.CharField(label=_("Comentario"), widget=forms.Textarea(attrs={"rows": 2}))


class BulkForm(forms.Form):
    """The list's bulk bar: the selected ids and one action with its parameters."""

    ids = forms.TypedMultipleChoiceField(coerce=int, choices=(), required=True)
    op = forms.ChoiceField(label=_("Acción"), choices=[("assign", _("Asignar")), ("move", _("Mover a bandeja")),
                                                        ("tag", _("Etiquetar")), ("close", _("Resolver"))])
    assignee = forms.IntegerField(required=False)
    to_inbox = forms.CharField(required=False, max_length=50)
    tag = forms.CharField(required=False, max_length=60)
    reason = forms.ChoiceField(required=False, choices=[("", "—"), *((r.value, r.label) for r in MANUAL_CLOSE_REASONS)])
    comment = forms.CharField(required=False, max_length=4000)

    def clean_ids(self) -> list[int]:
        return list(self.cleaned_data["ids"])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["ids"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.valid_value = lambda value: str(value).isdigit()  # type: ignore[method-assign]
