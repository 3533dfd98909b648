from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from inbox.models import Inbox


class AccountForm(forms.Form):
    """Connect (or edit) an account. The auth token is never rendered back: blank keeps the stored one."""

    name = forms.CharField(label=_("Nombre"), max_length=100,
                           help_text=_("Para reconocerla aquí, p. ej. «Ventas Colombia»."))
    account_sid = forms.CharField(label=_("Account SID"), max_length=34,
                                  help_text=_("Twilio → Console → Account Info. Empieza por «AC»."))
    auth_token = forms.CharField(label=_("Auth Token"), required=False, max_length=200,
                                 widget=forms.PasswordInput(render_value=False),
                                 help_text=_("Firma los webhooks. Vacío = conservar el guardado."))
    from_number = forms.CharField(label=_("Número remitente (E.164)"), max_length=20, required=False,
                                  help_text=_("Su número de Twilio, p. ej. +15017122661. O bien un Messaging "
                                              "Service:"))
    messaging_service_sid = forms.CharField(label=_("Messaging Service SID"), max_length=34, required=False,
                                            help_text=_("Empieza por «MG». Déjelo vacío si indicó un número."))
    inbox = forms.ModelChoiceField(label=_("Bandeja"), queryset=Inbox.objects.all(), required=False,
                                   empty_label=_("Global"), to_field_name="code")
    rate_per_second = forms.IntegerField(label=_("Envíos por segundo"), min_value=1, max_value=1000, initial=1,
                                         help_text=_("El límite de su número en Twilio: 1 para un número largo de "
                                                     "EE. UU.; más para un Messaging Service o un código corto."))
    cost_per_segment = forms.DecimalField(label=_("Costo por segmento"), min_value=Decimal(0), max_digits=12,
                                          decimal_places=4, initial=Decimal(0), localize=True,
                                          help_text=_("Para estimar el costo de las campañas (hasta 4 decimales)."))
    currency = forms.CharField(label=_("Moneda"), max_length=3, min_length=3,
                               help_text=_("Código ISO 4217: USD, COP, MXN…"))
    base_url = forms.URLField(label=_("URL base de la API (opcional)"), required=False, assume_scheme="https",
                              help_text=_("Vacío = la API de Twilio (https://api.twilio.com). Otra dirección solo "
                                          "para un proveedor compatible con Twilio o para pruebas locales."))


class SimulateForm(forms.Form):
    phone = forms.CharField(label=_("Teléfono del cliente"), max_length=40, initial="+57 300 555 0102")
    text = forms.CharField(label=_("Mensaje"), max_length=1600, initial="Hola, ¿me confirman el horario de atención?",
                           widget=forms.Textarea(attrs={"rows": 2}))
