"""Campaigns: a message to an audience of customers over WhatsApp (an approved template), email or SMS, sent at a
controlled rate, once per customer, with its results (delivery, reads, clicks, replies, conversions, opt-outs) and
their money (cost, revenue, ROI).

A campaign's recipients are stored when it is launched (the audience resolved once, each customer left out kept with
the reason), then sent by one sender at a time (campaigns.sending). Every recipient row is the idempotency key of its
message: unique per (campaign, customer, channel), claimed by a compare-and-set before its one vendor call."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.choices import (
    CampaignChannel,
    CampaignState,
    ClickTarget,
    Objective,
    RecipientState,
    ScheduleMode,
    SkipReason,
)
from connectors.mail.models import Mailbox
from connectors.whatsapp.models import MessageTemplate, WhatsappNumber
from core.text import fold
from customers.models import Customer


def normalize_keyword(text: str) -> str:
    """A message or an opt-out keyword as they are compared: accents, case, punctuation and extra spaces aside
    ("No más." and "NO-MAS" both read "no mas")."""
    return " ".join("".join(ch if ch.isalnum() else " " for ch in fold(text)).split())


class CampaignSettings(models.Model):
    """The organisation's campaign settings (one row): opt-out keywords and their confirmation, the cost of a
    message per channel, and each channel's default sending rate."""

    opt_out_keywords = models.CharField(
        _("palabras de baja"), max_length=500, default="BAJA, STOP, NO MAS, CANCELAR, DESUSCRIBIR",
        help_text=_("Separadas por comas. Se comparan sin tildes ni mayúsculas con el mensaje completo del cliente."))
    opt_out_reply = models.CharField(
        _("confirmación de baja"), max_length=500,
        default="Listo, no le enviaremos más mensajes de campañas por este canal. Si cambia de opinión, escríbanos.")
    cost_whatsapp = models.DecimalField(_("costo por mensaje de WhatsApp"), max_digits=10, decimal_places=4,
                                        default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))])
    cost_email = models.DecimalField(_("costo por correo"), max_digits=10, decimal_places=4, default=Decimal("0"),
                                     validators=[MinValueValidator(Decimal("0"))])
    cost_sms = models.DecimalField(_("costo por segmento de SMS"), max_digits=10, decimal_places=4,
                                   default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))])
    whatsapp_daily_limit = models.PositiveIntegerField(
        _("límite diario de WhatsApp (nivel de mensajería)"), default=1000,
        help_text=_("Clientes distintos por número en 24 horas, según el nivel que Meta le asignó (1.000, 10.000, "
                    "100.000…)."))
    whatsapp_rate = models.PositiveSmallIntegerField(_("mensajes de WhatsApp por segundo"), default=20,
                                                     validators=[MinValueValidator(1), MaxValueValidator(1000)])
    email_rate = models.PositiveSmallIntegerField(_("correos por segundo"), default=5,
                                                  validators=[MinValueValidator(1), MaxValueValidator(1000)])
    sms_rate = models.PositiveSmallIntegerField(_("SMS por segundo"), default=1,
                                                validators=[MinValueValidator(1), MaxValueValidator(1000)])
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("configuración de campañas")
        verbose_name_plural = _("configuración de campañas")

    def __str__(self) -> str:
        return str(_("Configuración de campañas"))

    @classmethod
    def load(cls) -> CampaignSettings:
        found = cls.objects.order_by("pk").first()
        return found if found is not None else cls.objects.create()

    def keywords(self) -> list[str]:
        return [k for k in dict.fromkeys(normalize_keyword(part) for part in self.opt_out_keywords.split(",")) if k]

    def cost_for(self, channel: str) -> Decimal:
        return {CampaignChannel.WHATSAPP: self.cost_whatsapp, CampaignChannel.EMAIL: self.cost_email,
                CampaignChannel.SMS: self.cost_sms}.get(CampaignChannel(channel), Decimal("0"))

    def rate_for(self, channel: str) -> int:
        return {CampaignChannel.WHATSAPP: self.whatsapp_rate, CampaignChannel.EMAIL: self.email_rate,
                CampaignChannel.SMS: self.sms_rate}.get(CampaignChannel(channel), 1)


class Campaign(models.Model):
    name = models.CharField(_("nombre"), max_length=150)
    objective = models.CharField(_("objetivo"), max_length=20, choices=Objective.choices, default=Objective.SALES)
    channel = models.CharField(_("canal"), max_length=10, choices=CampaignChannel.choices,
                               default=CampaignChannel.WHATSAPP)
    state = models.CharField(_("estado"), max_length=12, choices=CampaignState.choices, default=CampaignState.DRAFT)
    # Audience: customers in any of the segments, tags or lists chosen (all customers when none is), narrowed to the
    # lead states chosen. {"segments": [codes], "tags": [ids], "lists": [codes], "lead_states": [values]}
    audience = models.JSONField(_("audiencia"), default=dict, blank=True)
    # WhatsApp: an approved template of a number, its variables mapped to customer fields or fixed text:
    # {"1": {"source": "field", "value": "first_name"}, "2": {"source": "text", "value": "20%"}}
    wa_number = models.ForeignKey(WhatsappNumber, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+", verbose_name=_("número de WhatsApp"))
    wa_template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", verbose_name=_("plantilla"))
    wa_variables = models.JSONField(default=dict, blank=True)
    wa_header_image = models.URLField(_("imagen del encabezado"), blank=True)
    # Email: sent from a connected mailbox's SMTP server (replies reach its inbox)
    mailbox = models.ForeignKey(Mailbox, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                verbose_name=_("buzón remitente"))
    subject = models.CharField(_("asunto"), max_length=200, blank=True)
    preheader = models.CharField(_("texto de vista previa"), max_length=200, blank=True)
    body = models.TextField(_("mensaje"), blank=True)  # email: Markdown; SMS: plain text; both with {{variables}}
    image_url = models.URLField(_("imagen"), blank=True)
    button_label = models.CharField(_("texto del botón"), max_length=60, blank=True)
    link_url = models.URLField(_("enlace de la campaña"), blank=True,
                               help_text=_("A dónde lleva el botón o el enlace; cada clic se cuenta por cliente."))
    # SMS: through a connected account (Twilio's wire format)
    sms_account = models.ForeignKey("sms.SmsAccount", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", verbose_name=_("cuenta de SMS"))
    # Schedule
    schedule_mode = models.CharField(_("envío"), max_length=8, choices=ScheduleMode.choices, default=ScheduleMode.NOW)
    starts_at = models.DateTimeField(_("inicio"), null=True, blank=True)
    window_start = models.TimeField(_("desde las"), default=time(9, 0))
    window_end = models.TimeField(_("hasta las"), default=time(19, 0))
    rate_per_second = models.PositiveSmallIntegerField(_("mensajes por segundo"), null=True, blank=True,
                                                       validators=[MinValueValidator(1), MaxValueValidator(1000)])
    conversion_days = models.PositiveSmallIntegerField(
        _("días para atribuir una compra"), default=7, validators=[MinValueValidator(1), MaxValueValidator(90)])
    cost_per_message = models.DecimalField(_("costo por mensaje"), max_digits=10, decimal_places=4, null=True,
                                           blank=True, validators=[MinValueValidator(Decimal("0"))])
    currency = models.CharField(_("moneda"), max_length=3, default="", blank=True)
    # Bookkeeping
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    launched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    recipients_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    sender_lease_until = models.DateTimeField(null=True, blank=True)  # one sender at a time (campaigns.sending)
    sender_note = models.CharField(max_length=300, blank=True)  # why sending waits (the daily tier, a setting)

    class Meta:
        verbose_name = _("campaña")
        verbose_name_plural = _("campañas")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "starts_at"], name="campaign_state_start_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=CampaignState.values), name="campaign_state_valid"),
            models.CheckConstraint(condition=Q(channel__in=CampaignChannel.values), name="campaign_channel_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignTransition(models.Model):
    """The history of a campaign's states: who launched, paused, resumed, cancelled it and when."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=12, choices=CampaignState.choices)
    to_state = models.CharField(max_length=12, choices=CampaignState.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.from_state} → {self.to_state}"


class CampaignRecipient(models.Model):
    """One customer of a campaign on its channel: the idempotency key of their message and its results."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=10, choices=CampaignChannel.choices)
    address = models.CharField(max_length=254, blank=True)  # E.164 phone or email address
    state = models.CharField(max_length=10, choices=RecipientState.choices, default=RecipientState.PENDING)
    skip_reason = models.CharField(max_length=20, choices=SkipReason.choices, blank=True)
    send_after = models.DateTimeField(null=True, blank=True)  # not before (the customer's local window)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempt_started_at = models.DateTimeField(null=True, blank=True)  # a vendor call began (outcome maybe unknown)
    external_id = models.CharField(max_length=200, blank=True)  # wamid, SMS sid, email Message-ID
    error = models.CharField(max_length=300, blank=True)
    parts = models.PositiveSmallIntegerField(default=0)  # SMS segments (1 for the other channels)
    cost = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    clicks = models.PositiveIntegerField(default=0)
    replied_at = models.DateTimeField(null=True, blank=True)
    reply_conversation_id = models.BigIntegerField(null=True, blank=True)
    converted_at = models.DateTimeField(null=True, blank=True)
    order_id = models.BigIntegerField(null=True, blank=True)
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("destinatario")
        verbose_name_plural = _("destinatarios")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "customer", "channel"], name="campaign_recipient_unique"),
            models.CheckConstraint(condition=Q(state__in=RecipientState.values), name="campaign_recipient_state_valid"),
        ]
        indexes = [
            models.Index(fields=["campaign", "state", "id"], name="campaign_recipient_queue_idx"),
            models.Index(fields=["customer", "sent_at"], name="campaign_recipient_cust_idx"),
            models.Index(fields=["channel", "external_id"], name="campaign_recipient_ext_idx",
                         condition=~Q(external_id=""), ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.customer_id}"


class CampaignClick(models.Model):
    """One click on a campaign's tracked link (the recipient keeps the first click's time and the count)."""

    recipient = models.ForeignKey(CampaignRecipient, on_delete=models.CASCADE, related_name="click_log")
    target = models.CharField(max_length=10, choices=ClickTarget.choices, default=ClickTarget.LINK)
    at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.recipient_id}@{self.at:%Y-%m-%d %H:%M}"
