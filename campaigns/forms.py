"""Forms of the campaign pages: the editor (its fields are read into campaigns.actions.CampaignInput; the action
validates and answers every problem at once), the test send and the settings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from campaigns import variables
from campaigns.actions import CampaignInput
from campaigns.choices import CampaignChannel, Objective, ScheduleMode
from campaigns.models import Campaign, CampaignSettings
from connectors.mail.models import Mailbox
from connectors.sms.models import SmsAccount
from connectors.whatsapp.message_templates import variables as template_variables
from connectors.whatsapp.models import MessageTemplate, WhatsappNumber
from core.errors import ActionError
from customers.choices import LeadState
from customers.models import MarketingList, Segment, Tag

TEXT = "__text__"  # a template variable filled with the same fixed text for everyone
VAR_PREFIX = "wa_var__"
DATETIME_INPUT = "%Y-%m-%dT%H:%M"
# Per channel, the fields a save sends (the other channels' fields keep what they had).
CHANNEL_FIELDS: Mapping[str, tuple[str, ...]] = {
    CampaignChannel.WHATSAPP: ("wa_number", "wa_template", "wa_header_image"),
    CampaignChannel.EMAIL: ("mailbox", "subject", "preheader", "email_body", "image_url", "button_label"),
    CampaignChannel.SMS: ("sms_account", "sms_body"),
}
# An action's field name → the editor's (the message body has one textarea per channel).
BODY_FIELD: Mapping[str, str] = {CampaignChannel.EMAIL: "email_body", CampaignChannel.SMS: "sms_body"}


def _segments() -> list[tuple[str, str]]:
    return list(Segment.objects.filter(active=True).order_by("name").values_list("code", "name"))


def _tags() -> list[tuple[str, str]]:
    return [(str(pk), name) for pk, name in Tag.objects.order_by("name").values_list("pk", "name")[:500]]


def _lists() -> list[tuple[str, str]]:
    return list(MarketingList.objects.order_by("name").values_list("code", "name"))


def _numbers() -> list[tuple[str, Any]]:
    return [("", _("Elija un número")), *((str(n.pk), f"{n.verified_name} · {n}" if n.verified_name else str(n))
                                          for n in WhatsappNumber.objects.order_by("display_phone_number", "pk"))]


def _templates() -> list[tuple[str, Any]]:
    return [("", _("Elija una plantilla")), *((str(t.pk), f"{t.name} ({t.language})")
                                              for t in MessageTemplate.objects.order_by("name", "language"))]


def _mailboxes() -> list[tuple[str, Any]]:
    return [("", _("Elija un buzón")), *((str(m.pk), f"{m.display_name} <{m.address}>" if m.display_name
                                          else m.address) for m in Mailbox.objects.order_by("address"))]


def _sms_accounts() -> list[tuple[str, Any]]:
    return [("", _("Elija una cuenta")), *((str(a.pk), str(a)) for a in SmsAccount.objects.order_by("name", "pk"))]


def _int(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


class CampaignForm(forms.Form):
    """The editor. Most fields are optional here: the action says what is missing or wrong, all at once, and a draft
    may be saved half done (what keeps it from being launched is listed per field)."""

    name = forms.CharField(label=_("Nombre de la campaña"), required=False,
                           widget=forms.TextInput(attrs={"maxlength": 150, "autocomplete": "off"}),
                           help_text=_("Solo lo ven ustedes: en la lista y en los informes."))
    objective = forms.ChoiceField(label=pgettext_lazy("campaign", "Objetivo"), choices=Objective.choices,
                                  widget=forms.RadioSelect)
    segments = forms.MultipleChoiceField(label=_("Segmentos"), required=False, choices=_segments,
                                         widget=forms.CheckboxSelectMultiple)
    tags = forms.MultipleChoiceField(label=_("Etiquetas"), required=False, choices=_tags,
                                     widget=forms.CheckboxSelectMultiple)
    lists = forms.MultipleChoiceField(label=_("Listas de marketing"), required=False, choices=_lists,
                                      widget=forms.CheckboxSelectMultiple)
    lead_states = forms.MultipleChoiceField(label=_("Solo con lead en estado"), required=False,
                                            choices=LeadState.choices, widget=forms.CheckboxSelectMultiple)
    channel = forms.ChoiceField(label=_("Canal"), choices=CampaignChannel.choices, widget=forms.RadioSelect)
    wa_number = forms.ChoiceField(label=_("Número de WhatsApp que envía"), required=False, choices=_numbers)
    wa_template = forms.ChoiceField(label=_("Plantilla aprobada"), required=False, choices=_templates)
    wa_header_image = forms.CharField(
        label=_("Imagen del encabezado (opcional)"), required=False,
        widget=forms.URLInput(attrs={"placeholder": "https://", "maxlength": 200}),
        help_text=_("Solo para plantillas con encabezado de imagen: la dirección pública de la imagen."))
    mailbox = forms.ChoiceField(label=_("Buzón que envía"), required=False, choices=_mailboxes,
                                help_text=_("Las respuestas llegan a su bandeja, como cualquier correo."))
    subject = forms.CharField(label=_("Asunto"), required=False, widget=forms.TextInput(attrs={"maxlength": 200}))
    preheader = forms.CharField(
        label=_("Texto de vista previa (opcional)"), required=False, widget=forms.TextInput(attrs={"maxlength": 200}),
        help_text=_("La línea gris que la bandeja de entrada muestra junto al asunto."))
    email_body = forms.CharField(label=_("Mensaje"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 10, "maxlength": 4000}))
    image_url = forms.CharField(label=_("Imagen (opcional)"), required=False,
                                widget=forms.URLInput(attrs={"placeholder": "https://", "maxlength": 200}))
    button_label = forms.CharField(label=_("Texto del botón (opcional)"), required=False,
                                   widget=forms.TextInput(attrs={"maxlength": 60}))
    sms_account = forms.ChoiceField(label=_("Cuenta de SMS"), required=False, choices=_sms_accounts)
    sms_body = forms.CharField(
        label=_("Mensaje"), required=False,
        widget=forms.Textarea(attrs={"rows": 5, "maxlength": 4000, "data-sms-body": ""}),
        help_text=_("El conteo de abajo es del texto tal como está escrito; con los datos de cada cliente y el "
                    "enlace cambia: la vista previa muestra un caso real."))
    link_url = forms.CharField(
        label=_("Enlace de la campaña (opcional)"), required=False,
        widget=forms.URLInput(attrs={"placeholder": "https://", "maxlength": 200}),
        help_text=_("A dónde lleva el botón o {{enlace}}; cada clic se cuenta por cliente."))
    schedule_mode = forms.ChoiceField(label=_("Cuándo se envía"), choices=ScheduleMode.choices,
                                      widget=forms.RadioSelect)
    starts_at = forms.DateTimeField(
        label=_("Fecha y hora de inicio"), required=False, input_formats=[DATETIME_INPUT],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_INPUT))
    window_start = forms.TimeField(label=_("Desde las"), required=False,
                                   widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    window_end = forms.TimeField(label=_("Hasta las"), required=False,
                                 widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    rate_per_second = forms.IntegerField(
        label=_("Mensajes por segundo (opcional)"), required=False, min_value=1, max_value=1000,
        help_text=_("Vacío: el ritmo del canal en la configuración de campañas."))
    conversion_days = forms.IntegerField(
        label=_("Días para atribuir una compra"), required=False, min_value=1, max_value=90,
        help_text=_("Una compra confirmada en estos días después de recibir el mensaje cuenta como conversión."))
    cost_per_message = forms.CharField(
        label=_("Costo por mensaje (opcional)"), required=False, max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
        help_text=_("Vacío: el costo del canal en la configuración de campañas."))

    def channel_value(self) -> str:
        """The chosen channel, even on a form that did not validate (the sections to show)."""
        value = self.data.get("channel") if self.is_bound else self.initial.get("channel")
        return str(value) if value in CampaignChannel.values else CampaignChannel.WHATSAPP

    def audience(self) -> dict[str, list[Any]]:
        d = self.cleaned_data
        return {"segments": list(d.get("segments") or []), "tags": [int(t) for t in d.get("tags") or []],
                "lists": list(d.get("lists") or []), "lead_states": list(d.get("lead_states") or [])}

    def template_mapping(self, template: MessageTemplate | None) -> dict[str, dict[str, str]]:
        """The chosen template's variables as the action stores them: a customer field, or fixed text."""
        if template is None:
            return {}
        mapping: dict[str, dict[str, str]] = {}
        for key in template_variables(template):
            source = str(self.data.get(f"{VAR_PREFIX}{key}__source") or "")
            if source and source != TEXT:
                mapping[key] = {"source": "field", "value": source}
            else:
                mapping[key] = {"source": "text", "value": str(self.data.get(f"{VAR_PREFIX}{key}__text") or "")}
        return mapping

    def chosen_template(self) -> MessageTemplate | None:
        pk = _int(self.cleaned_data.get("wa_template"))
        return MessageTemplate.objects.filter(pk=pk).first() if pk else None

    def campaign_input(self) -> CampaignInput:
        """What the person wrote, for check_save_campaign: the common fields and the chosen channel's."""
        d = self.cleaned_data
        channel = d["channel"]
        starts_at = d.get("starts_at")
        if isinstance(starts_at, datetime) and timezone.is_naive(starts_at):
            starts_at = timezone.make_aware(starts_at)
        data = CampaignInput(
            name=d.get("name") or "", objective=d["objective"], channel=channel, audience=self.audience(),
            link_url=d.get("link_url") or "", schedule_mode=d["schedule_mode"], starts_at=starts_at,
            window_start=d.get("window_start"), window_end=d.get("window_end"),
            # an emptied field goes back to the channel's rate and cost (0 and "" clear them)
            rate_per_second=d.get("rate_per_second") or 0, conversion_days=d.get("conversion_days"),
            cost_per_message=(d.get("cost_per_message") or "").strip())
        if channel == CampaignChannel.WHATSAPP:
            template = self.chosen_template()
            data.wa_number_id = _int(d.get("wa_number"))
            data.wa_template_id = template.pk if template else None
            data.wa_variables = self.template_mapping(template)
            data.wa_header_image = d.get("wa_header_image") or ""
        elif channel == CampaignChannel.EMAIL:
            data.mailbox_id = _int(d.get("mailbox"))
            data.subject, data.preheader = d.get("subject") or "", d.get("preheader") or ""
            data.body = d.get("email_body") or ""
            data.image_url, data.button_label = d.get("image_url") or "", d.get("button_label") or ""
        else:
            data.sms_account_id = _int(d.get("sms_account"))
            data.body = d.get("sms_body") or ""
        return data

    def field_for(self, key: str) -> str | None:
        """The editor's field for an action's error key (None: shown with its section)."""
        if key == "body":
            return BODY_FIELD.get(self.channel_value())
        return key if key in self.fields else None

    def show_errors(self, exc: ActionError) -> dict[str, str]:
        """The action's refusal: each field's problem next to it; returns those that belong to a section rather
        than a field (the audience, the template's variables)."""
        errors: dict[str, str] = exc.details.get("errors") or {exc.details.get("field") or "": exc.message}
        sections: dict[str, str] = {}
        for key, message in errors.items():
            target = self.field_for(key)
            if target is not None:
                self.add_error(target, message)
            elif key in {"audience", "segments", "tags", "lists", "lead_states", "wa_variables"}:
                sections["audience" if key != "wa_variables" else key] = message
            else:
                self.add_error(None, message)
        return sections

    @staticmethod
    def initial_for(campaign: Campaign | None) -> dict[str, Any]:
        if campaign is None:
            number = WhatsappNumber.objects.filter(is_active=True).order_by("pk").first()
            mailbox = Mailbox.objects.exclude(smtp_host="").order_by("pk").first()
            account = SmsAccount.objects.filter(is_active=True).order_by("pk").first()
            return {"objective": Objective.SALES, "channel": CampaignChannel.WHATSAPP,
                    "schedule_mode": ScheduleMode.NOW, "window_start": time(9, 0), "window_end": time(19, 0),
                    "conversion_days": 7, "wa_number": number.pk if number else "",
                    "mailbox": mailbox.pk if mailbox else "", "sms_account": account.pk if account else ""}
        audience = campaign.audience or {}
        cost = campaign.cost_per_message
        return {
            "name": campaign.name, "objective": campaign.objective, "channel": campaign.channel,
            "segments": audience.get("segments", []), "tags": [str(t) for t in audience.get("tags", [])],
            "lists": audience.get("lists", []), "lead_states": audience.get("lead_states", []),
            "wa_number": campaign.wa_number_id or "", "wa_template": campaign.wa_template_id or "",
            "wa_header_image": campaign.wa_header_image, "mailbox": campaign.mailbox_id or "",
            "subject": campaign.subject, "preheader": campaign.preheader, "email_body": campaign.body,
            "sms_body": campaign.body, "image_url": campaign.image_url, "button_label": campaign.button_label,
            "link_url": campaign.link_url, "sms_account": campaign.sms_account_id or "",
            "schedule_mode": campaign.schedule_mode,
            "starts_at": timezone.localtime(campaign.starts_at) if campaign.starts_at else None,
            "window_start": campaign.window_start, "window_end": campaign.window_end,
            "rate_per_second": campaign.rate_per_second, "conversion_days": campaign.conversion_days,
            "cost_per_message": number_format(cost.normalize()) if cost is not None else "",
        }


def variable_choices() -> list[tuple[str, str]]:
    """What a template variable can be filled with: a customer field, or fixed text."""
    return [*((name, str(f.label)) for name, f in variables.FIELDS.items()), (TEXT, str(_("Texto fijo…")))]


class TestSendForm(forms.Form):
    address = forms.CharField(label=_("Enviar la prueba a"), max_length=254)


class SettingsForm(forms.ModelForm[CampaignSettings]):
    """The organisation's campaign settings: validated here (the model's limits), saved by check_save_settings."""

    class Meta:
        model = CampaignSettings
        fields = ["opt_out_keywords", "opt_out_reply", "cost_whatsapp", "cost_email", "cost_sms",
                  "whatsapp_daily_limit", "whatsapp_rate", "email_rate", "sms_rate"]
        widgets = {"opt_out_reply": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("cost_whatsapp", "cost_email", "cost_sms"):
            field = self.fields[name]
            field.localize = True  # "0,0079" in Spanish, "0.0079" in English (a number input refuses the comma)
            field.widget = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})
            field.widget.is_localized = True
            value = self.initial.get(name)
            if isinstance(value, Decimal):  # "0,0125" and "55", never "55,0000"
                self.initial[name] = Decimal(format(value.normalize(), "f"))
            field.help_text = _("En %(currency)s, con hasta cuatro decimales.") % {"currency": settings.CURRENCY}
        self.fields["cost_sms"].help_text = _(
            "En %(currency)s por segmento, con hasta cuatro decimales. Si la cuenta de SMS tiene su propio costo, "
            "se usa ese.") % {"currency": settings.CURRENCY}

    def values(self) -> dict[str, Any]:
        d = dict(self.cleaned_data)
        for name in ("cost_whatsapp", "cost_email", "cost_sms"):
            d[name] = Decimal(d[name]).quantize(Decimal("0.0001"))
        return d
