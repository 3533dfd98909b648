from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from connectors.webchat.models import ChatSite, ContactRequirement, Position
from inbox.models import Inbox


class ChatSiteForm(forms.Form):
    name = forms.CharField(label=_("Nombre"), max_length=100,
                           help_text=_("Para reconocerlo aquí, p. ej. «Tienda en línea»."))
    allowed_origins = forms.CharField(
        label=_("Orígenes permitidos"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Uno por línea: esquema y dominio de las páginas que muestran el chat, p. ej. "
                    "https://www.ejemplo.com o https://*.ejemplo.com. Las páginas de Centralita siempre pueden."))
    primary_color = forms.CharField(label=_("Color principal"), max_length=7,
                                    widget=forms.TextInput(attrs={"type": "color"}))
    text_color = forms.CharField(label=_("Color del texto sobre el color principal"), max_length=7,
                                 widget=forms.TextInput(attrs={"type": "color"}))
    position = forms.ChoiceField(label=_("Posición de la burbuja"), choices=Position.choices)
    title = forms.CharField(label=_("Título"), max_length=80, required=False,
                            help_text=_("Vacío: «Chatea con nosotros»."))
    welcome_text = forms.CharField(label=_("Mensaje de bienvenida"), max_length=500, required=False,
                                   widget=forms.Textarea(attrs={"rows": 2}),
                                   help_text=_("Vacío: «¡Hola! ¿En qué podemos ayudarte?»."))
    offline_text = forms.CharField(label=_("Mensaje cuando no hay agentes disponibles"), max_length=500,
                                   required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                   help_text=_("Se muestra fuera del horario de atención o si nadie está "
                                               "disponible; el chat pide entonces un correo o teléfono."))
    require_name = forms.BooleanField(label=_("Pedir el nombre antes de chatear"), required=False)
    require_contact = forms.ChoiceField(label=_("Datos de contacto antes de chatear"),
                                        choices=ContactRequirement.choices)
    inbox = forms.ModelChoiceField(label=_("Bandeja de destino"), queryset=Inbox.objects.all(), required=False,
                                   empty_label=_("Global"))
    enabled = forms.BooleanField(label=_("Activo"), required=False)

    @classmethod
    def initial_for(cls, site: ChatSite | None) -> dict[str, Any]:
        if site is None:
            return {"primary_color": "#0b5cad", "text_color": "#ffffff", "position": Position.RIGHT,
                    "require_name": True, "require_contact": ContactRequirement.EITHER, "enabled": True}
        return {"name": site.name, "allowed_origins": "\n".join(site.allowed_origins),
                "primary_color": site.primary_color, "text_color": site.text_color, "position": site.position,
                "title": site.title, "welcome_text": site.welcome_text, "offline_text": site.offline_text,
                "require_name": site.require_name, "require_contact": site.require_contact, "inbox": site.inbox_id,
                "enabled": site.enabled}

    def action_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {"name": d["name"], "allowed_origins": d["allowed_origins"].splitlines(),
                "primary_color": d["primary_color"], "text_color": d["text_color"], "position": d["position"],
                "title": d["title"], "welcome_text": d["welcome_text"], "offline_text": d["offline_text"],
                "require_name": d["require_name"], "require_contact": d["require_contact"],
                "inbox_id": d["inbox"].pk if d["inbox"] else None, "enabled": d["enabled"]}


class WhatsAppTemplateForm(forms.Form):
    template = forms.CharField(
        label=_("Mensaje de «Abrir en WhatsApp»"), max_length=1000, required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Marcadores: {nombre} (nombre de pila del cliente), {nombre_completo}, {empresa}, {agente}. "
                    "Vacío: «Hola {nombre}, te escribimos de {empresa}.»"))
