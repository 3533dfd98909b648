from django import forms
from django.utils.translation import gettext_lazy as _

from crm.models import KommoAccount


class KommoConnectForm(forms.Form):
    subdomain = forms.CharField(label=_("Subdominio de Kommo"), max_length=100,
                                help_text=_("«miempresa» en miempresa.kommo.com"))
    auth_mode = forms.ChoiceField(label=_("Autenticación"), choices=KommoAccount.AuthMode.choices)
    token = forms.CharField(label=_("Token de larga duración"), required=False,
                            widget=forms.PasswordInput(render_value=False),
                            help_text=_("Al reconectar, vacío = conservar el guardado."))
    client_id = forms.CharField(label=_("ID de integración (OAuth)"), required=False)
    client_secret = forms.CharField(label=_("Clave secreta (OAuth)"), required=False,
                                    widget=forms.PasswordInput(render_value=False),
                                    help_text=_("Al reconectar con el mismo ID de integración, vacío = conservar la "
                                                "guardada."))
    redirect_uri = forms.URLField(label=_("URI de redirección (OAuth)"), required=False,
                                  help_text=_("…/integrations/kommo/oauth/callback/ de este sitio"))
    base_url = forms.URLField(label=_("URL base de la API (opcional)"), required=False,
                              help_text=_("Solo para pruebas: un Kommo local."))
    to_call_stage = forms.CharField(label=_("Etapa «Para Llamar»"), max_length=120,
                                    help_text=_("Nombre, «Embudo / Etapa» o id"))
    confirmed_stage = forms.CharField(label=_("Etapa «Venta Confirmada»"), max_length=120)
    register_webhook = forms.BooleanField(label=_("Registrar el webhook en Kommo automáticamente"), required=False,
                                          initial=True)


class SimulateLeadForm(forms.Form):
    lead_name = forms.CharField(label=_("Nombre del lead"), max_length=200, initial="Pedido web")
    contact_name = forms.CharField(label=_("Nombre del cliente"), max_length=200)
    phone = forms.CharField(label=_("Teléfono"), max_length=40, required=False)
    email = forms.EmailField(label=_("Correo"), required=False)
    tags = forms.CharField(label=_("Etiquetas (separadas por comas)"), required=False)
