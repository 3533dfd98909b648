"""The bot pages' forms: a new flow, importing an export, the flow's settings and the statistics' version filter.
They parse; bots.actions validates again and decides."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bots.models import KEYWORDS_MAX, NAME_MAX
from inbox.models import Inbox

IMPORT_MAX_BYTES = 1_000_000  # an export of 200 steps is ~100 KB


class NewFlowForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Nombre"), max_length=NAME_MAX,
                           help_text=gettext_lazy("Lo ven solo las personas del equipo, p. ej.: Estado del pedido"))
    description = forms.CharField(label=gettext_lazy("Descripción"), required=False, max_length=500,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    start_with = forms.ChoiceField(
        label=gettext_lazy("Empezar con"), widget=forms.RadioSelect, initial="example",
        choices=[("example", gettext_lazy("Un ejemplo: saludo, menú, consulta del pedido y derivación a una persona")),
                 ("empty", gettext_lazy("Un diagrama vacío"))])


class ImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Archivo exportado (.json)"),
                           widget=forms.ClearableFileInput(attrs={"accept": ".json,application/json"}))

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > IMPORT_MAX_BYTES:
            raise forms.ValidationError(_("El archivo supera 1 MB: no parece un flujo exportado de Centralita."))
        return upload


class FlowSettingsForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Nombre"), max_length=NAME_MAX)
    description = forms.CharField(label=gettext_lazy("Descripción"), required=False, max_length=500,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    inbox = forms.ChoiceField(
        label=gettext_lazy("Empieza en la bandeja"), required=False,
        help_text=gettext_lazy("Un mensaje de un cliente en esa bandeja, sin nadie que lo atienda, inicia este flujo. "
                               "También puede iniciarlo una regla de automatización."))
    handoff_keywords = forms.CharField(
        label=gettext_lazy("Palabras para pedir una persona"), required=False, max_length=KEYWORDS_MAX,
        help_text=gettext_lazy("Separadas por comas. Si el cliente escribe una, el bot deriva la conversación."))
    expire_minutes = forms.IntegerField(
        label=gettext_lazy("Expira tras (minutos sin respuesta)"), min_value=1, max_value=7 * 24 * 60,
        widget=forms.NumberInput(attrs={"class": "bot-num"}))
    expire_text = forms.CharField(label=gettext_lazy("Mensaje al expirar"), required=False, max_length=1000,
                                  widget=forms.Textarea(attrs={"rows": 2}),
                                  help_text=gettext_lazy("Vacío: la conversación queda en la bandeja sin aviso."))
    max_retries = forms.IntegerField(
        label=gettext_lazy("Reintentos ante una respuesta no reconocida"), min_value=0, max_value=10,
        widget=forms.NumberInput(attrs={"class": "bot-num"}),
        help_text=gettext_lazy("Después, el bot deriva la conversación a una persona."))
    enabled = forms.BooleanField(label=gettext_lazy("Activo"), required=False,
                                 help_text=gettext_lazy("Apagado, la versión publicada no empieza conversaciones "
                                                        "nuevas."))

    def __init__(self, *args: Any, inboxes: list[Inbox], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inbox = self.fields["inbox"]
        assert isinstance(inbox, forms.ChoiceField)
        inbox.choices = [("", _("Ninguna")), *[(i.code, i.name) for i in inboxes]]


class StatsFilterForm(forms.Form):
    version = forms.TypedChoiceField(label=gettext_lazy("Versión"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, versions: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        version = self.fields["version"]
        assert isinstance(version, forms.TypedChoiceField)
        version.choices = [("", _("Todas las versiones")), *[(n, _("Versión %d") % n) for n in versions]]


def example_graph() -> dict[str, Any]:
    """A first flow people can read and change: greet, offer a menu, look up the order, hand over to a person.
    Texts in the language of whoever creates it (what the customers of this team read)."""
    return {"start": "saludo", "steps": {
        "saludo": {"type": "send", "x": 40, "y": 140, "next": {"next": "menu"},
                   "text": _("¡Hola {{cliente.primer_nombre}}! Soy el asistente virtual.")},
        "menu": {"type": "ask", "x": 330, "y": 140, "input": "choice", "var": "opcion",
                 "text": _("¿En qué le puedo ayudar?"),
                 "choices": [{"id": "pedido", "title": _("Estado de mi pedido")},
                             {"id": "humano", "title": _("Hablar con alguien")}],
                 "next": {"pedido": "numero", "humano": "agente"}},
        "numero": {"type": "ask", "x": 620, "y": 40, "input": "number", "var": "numero",
                   "text": _("¿Cuál es el número de su pedido?"), "next": {"next": "buscar"}},
        "buscar": {"type": "lookup", "x": 910, "y": 40, "what": "order", "query": "{{var.numero}}",
                   "next": {"found": "estado", "not_found": "agente"}},
        "estado": {"type": "end", "x": 1200, "y": 20,
                   "text": _("Su pedido {{var.pedido_numero}} está {{var.pedido_estado}}. ¡Gracias por escribirnos!")},
        "agente": {"type": "handoff", "x": 1200, "y": 260,
                   "text": _("Le comunico con una persona del equipo; en un momento le responde.")},
    }}
