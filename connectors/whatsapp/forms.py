from django import forms
from django.utils.translation import gettext_lazy as _

from inbox.models import Inbox


class NumberForm(forms.Form):
    """Connect (or update) a number. Secrets are never rendered back: blank keeps the stored value."""

    phone_number_id = forms.CharField(label=_("Identificador del número (Phone number ID)"), max_length=40,
                                      help_text=_("Meta → WhatsApp → Configuración de la API"))
    waba_id = forms.CharField(label=_("Identificador de la cuenta de WhatsApp Business (WABA ID)"), max_length=40)
    token = forms.CharField(label=_("Token de acceso"), required=False, widget=forms.PasswordInput(render_value=False),
                            help_text=_("Token permanente de un usuario del sistema. Vacío = conservar el guardado."))
    app_secret = forms.CharField(label=_("Clave secreta de la app"), required=False,
                                 widget=forms.PasswordInput(render_value=False),
                                 help_text=_("Meta → Configuración de la app → Básica. Vacío = conservar la guardada."))
    verify_token = forms.CharField(label=_("Token de verificación del webhook"), required=False, max_length=200,
                                   widget=forms.PasswordInput(render_value=False),
                                   help_text=_("El mismo que escriba en Meta. Vacío = conservar el guardado o "
                                               "generar uno nuevo (se muestra una sola vez)."))
    inbox = forms.ModelChoiceField(label=_("Bandeja"), queryset=Inbox.objects.all(), required=False,
                                   empty_label=_("Global"), to_field_name="code")
    base_url = forms.URLField(label=_("URL base de la Graph API (opcional)"), required=False, assume_scheme="https",
                              help_text=_("Solo para pruebas: una API local."))


class SimulateForm(forms.Form):
    name = forms.CharField(label=_("Nombre del cliente"), max_length=200, initial="Mariana Ospina")
    phone = forms.CharField(label=_("Teléfono (WhatsApp)"), max_length=40, initial="+57 300 555 0101")
    text = forms.CharField(label=_("Mensaje"), max_length=1000, initial="Hola, ¿tienen envíos a Medellín?",
                           widget=forms.Textarea(attrs={"rows": 2}))
