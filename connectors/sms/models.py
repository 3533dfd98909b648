from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from connectors.sms.conf import DEFAULT_BASE_URL
from core.deliveries import WebhookDeliveryBase
from core.fields import EncryptedTextField


def default_currency() -> str:
    return str(settings.CURRENCY)


class SmsAccount(models.Model):
    """A Twilio account (or a provider speaking Twilio's Programmable Messaging API) and the sender Centralita uses
    on it: a phone number in E.164 (`from_number`) or a messaging service (`messaging_service_sid`).

    `auth_token` is a secret, encrypted at rest (core.fields.EncryptedTextField) and never shown again: it
    authenticates our requests (HTTP Basic with the account SID) and verifies every webhook (X-Twilio-Signature).
    `rate_per_second` paces our sends (a US long code takes 1 per second; a messaging service or short code more),
    so Twilio's 429 stays the exception. `cost_per_segment` is what one SMS segment costs, in `currency`, for the
    estimates campaigns show; it keeps four decimals, unlike the two of order amounts, because a segment costs a
    fraction of a cent in USD (0.0079)."""

    name = models.CharField(_("nombre"), max_length=100)
    account_sid = models.CharField(_("Account SID"), max_length=34)
    auth_token = EncryptedTextField(_("Auth Token"), max_length=200)
    from_number = models.CharField(_("número remitente (E.164)"), max_length=20, blank=True)
    messaging_service_sid = models.CharField(_("Messaging Service SID"), max_length=34, blank=True)
    base_url = models.URLField(_("URL base de la API"), default=DEFAULT_BASE_URL)
    rate_per_second = models.PositiveSmallIntegerField(_("envíos por segundo"), default=1)
    cost_per_segment = models.DecimalField(_("costo por segmento"), max_digits=12, decimal_places=4, default=0)
    currency = models.CharField(_("moneda"), max_length=3, default=default_currency)
    inbox = models.ForeignKey("inbox.Inbox", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              verbose_name=_("bandeja"), help_text=_("Vacío = bandeja Global"))
    is_active = models.BooleanField(_("activa"), default=True)
    connected_at = models.DateTimeField(_("verificada"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("cuenta de SMS")
        verbose_name_plural = _("cuentas de SMS")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account_sid", "from_number", "messaging_service_sid"],
                                    name="sms_account_sender_unique"),
            models.CheckConstraint(condition=~Q(from_number="") | ~Q(messaging_service_sid=""),
                                   name="sms_account_has_sender"),
            models.CheckConstraint(condition=Q(rate_per_second__gte=1), name="sms_account_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sender})"

    @property
    def sender(self) -> str:
        return self.from_number or self.messaging_service_sid

    @property
    def channel_ref(self) -> str:
        """Pins a conversation to this account (inbox.Conversation.channel_ref)."""
        return f"sms:{self.pk}"


class WebhookDelivery(WebhookDeliveryBase):
    """A raw webhook POST from Twilio (an inbound SMS or a status callback), stored before anything is parsed
    (nothing accepted is ever lost) and processed by a task (core.deliveries).

    Rejected deliveries (missing or bad signature, too large) are kept too, with the reason, and never processed;
    their body is truncated (intake.REJECTED_BODY_LIMIT) so that an unsigned flood cannot fill the database.
    `message_sid` and `status` are read from the body when it is stored, for the admin list only."""

    class Kind(models.TextChoices):
        INBOUND = "inbound", _("Mensaje entrante")
        STATUS = "status", _("Estado de entrega")

    account = models.ForeignKey(SmsAccount, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="deliveries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    message_sid = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=20, blank=True)

    class Meta(WebhookDeliveryBase.Meta):
        verbose_name = _("webhook de SMS")
        verbose_name_plural = _("webhooks de SMS")
        indexes = [models.Index(fields=["state", "received_at"], name="sms_delivery_state_idx")]

    def __str__(self) -> str:
        return f"sms #{self.pk} {self.kind} {self.state}"


class StatusReceipt(models.Model):
    """One (MessageSid, MessageStatus) Twilio reported: the dedupe key for redelivered status callbacks.

    `applied` once it reached its owner: an inbox message (`message`), or a registered listener (statuses.py,
    e.g. campaigns; `handled_by` names which). A status for a sid nobody knows yet (it overtook the send's answer)
    stays pending and is applied when the sender stores that sid, or offered again by the safety net."""

    sid = models.CharField(max_length=64)
    status = models.CharField(max_length=20)
    error = models.CharField(max_length=300, blank=True)
    message = models.ForeignKey("inbox.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    handled_by = models.CharField(max_length=100, blank=True)
    reported_at = models.DateTimeField(default=timezone.now)
    applied = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sid", "status"], name="sms_status_once")]
        indexes = [models.Index(fields=["sid"], condition=Q(applied=False), name="sms_status_pending_idx")]

    def __str__(self) -> str:
        return f"{self.sid} {self.status}"


class OutboundSend(models.Model):
    """Delivery bookkeeping of one outbound inbox message through Twilio (the sender's outbox row).

    `sid` is Twilio's once it accepted the message; `uncertain_since` marks an attempt whose answer was lost (a read
    timeout after the POST left): the next attempt first looks for that message in Twilio's list before sending
    again (outbound.py)."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pendiente")
        RETRYING = "retrying", _("Reintentando")
        SENT = "sent", _("Enviado")
        FAILED = "failed", _("Fallido")

    message = models.OneToOneField("inbox.Message", on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(SmsAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    sid = models.CharField(max_length=64, blank=True)
    segments = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    uncertain_since = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="sms_outbound_due_idx"),
                   models.Index(fields=["sid"], condition=~Q(sid=""), name="sms_outbound_sid_idx")]

    def __str__(self) -> str:
        return f"{self.message_id} {self.state}"
