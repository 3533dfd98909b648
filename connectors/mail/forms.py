from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from connectors.mail.models import Mailbox, Security

_KEEP = _("Vacío: se conserva la guardada.")


class MailboxForm(forms.Form):
    address = forms.EmailField(label=_("Dirección"), help_text=_("La dirección a la que escriben los clientes."))
    display_name = forms.CharField(label=_("Nombre visible"), max_length=100, required=False)
    inbox_code = forms.ChoiceField(label=_("Bandeja de destino"), required=False,
                                   help_text=_("Vacía: las conversaciones nuevas entran en Global."))
    enabled = forms.BooleanField(label=_("Activo"), required=False, initial=True)
    imap_host = forms.CharField(label=_("Servidor IMAP"), max_length=200, required=False,
                                help_text=_("Vacío si el correo llega solo por webhook del proveedor."))
    imap_port = forms.IntegerField(label=_("Puerto IMAP"), initial=993, min_value=1, max_value=65535)
    imap_security = forms.ChoiceField(label=_("Cifrado IMAP"), choices=Security.choices, initial=Security.SSL)
    imap_user = forms.CharField(label=_("Usuario IMAP"), max_length=200, required=False,
                                help_text=_("Vacío: la dirección."))
    imap_password = forms.CharField(label=_("Contraseña IMAP"), max_length=200, required=False,
                                    widget=forms.PasswordInput(render_value=False), help_text=_KEEP)
    imap_folder = forms.CharField(label=_("Carpeta IMAP"), max_length=200, initial="INBOX")
    poll_interval = forms.IntegerField(label=_("Intervalo de consulta (segundos)"), initial=60, min_value=10,
                                       max_value=86400)
    smtp_host = forms.CharField(label=_("Servidor SMTP"), max_length=200, required=False)
    smtp_port = forms.IntegerField(label=_("Puerto SMTP"), initial=587, min_value=1, max_value=65535)
    smtp_security = forms.ChoiceField(label=_("Cifrado SMTP"), choices=Security.choices, initial=Security.STARTTLS)
    smtp_user = forms.CharField(label=_("Usuario SMTP"), max_length=200, required=False)
    smtp_password = forms.CharField(label=_("Contraseña SMTP"), max_length=200, required=False,
                                    widget=forms.PasswordInput(render_value=False), help_text=_KEEP)
    reply_address = forms.CharField(
        label=_("Dirección de respuesta"), max_length=200, required=False,
        help_text=_("Con {token}, p. ej. reply+{token}@entrada.ejemplo.com. Vacía: soporte+{token}@ su dominio "
                    "(direcciones con «+», que casi todos los servidores entregan al buzón principal)."))
    mailgun_signing_key = forms.CharField(label=_("Clave de firma de webhooks de Mailgun"), max_length=200,
                                          required=False, widget=forms.PasswordInput(render_value=False),
                                          help_text=_KEEP)

    def __init__(self, *args: Any, inboxes: list[tuple[str, str]] = (), **kwargs: Any) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)
        self.fields["inbox_code"].choices = [("", "Global"), *inboxes]  # type: ignore[attr-defined]

    def action_kwargs(self) -> dict[str, Any]:
        d = dict(self.cleaned_data)
        for secret in ("imap_password", "smtp_password", "mailgun_signing_key"):
            d[secret] = d[secret] or None  # empty keeps the stored secret
        return d

    @staticmethod
    def initial_for(mailbox: Mailbox) -> dict[str, Any]:
        fields = ("address", "display_name", "enabled", "imap_host", "imap_port", "imap_security", "imap_user",
                  "imap_folder", "poll_interval", "smtp_host", "smtp_port", "smtp_security", "smtp_user",
                  "reply_address")
        return {**{f: getattr(mailbox, f) for f in fields}, "inbox_code": mailbox.inbox.code if mailbox.inbox else ""}


class MailProfileForm(forms.Form):
    signature = forms.CharField(label=_("Firma"), required=False, max_length=2000,
                                widget=forms.Textarea(attrs={"rows": 5}),
                                help_text=_("Se agrega al final de sus respuestas por correo."))
    notifications = forms.BooleanField(label=_("Recibir avisos por correo (asignaciones, menciones, tareas "
                                               "vencidas)"), required=False)
