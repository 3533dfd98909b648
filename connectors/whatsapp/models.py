from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.deliveries import WebhookDeliveryBase
from core.fields import EncryptedTextField


class WhatsappNumber(models.Model):
    """A WhatsApp Business phone number connected to Centralita (one row per Meta phone-number id).

    `access_token`, `app_secret` and `verify_token` are secrets, encrypted at rest (core.fields.EncryptedTextField):
    pages show them masked (forms leave them blank and a blank field keeps the stored value). The app secret
    verifies every webhook (X-Hub-Signature-256); the verify token answers Meta's GET handshake when the callback
    URL is registered.
    """

    phone_number_id = models.CharField(_("identificador del número (phone number ID)"), max_length=40, unique=True)
    waba_id = models.CharField(_("identificador de la cuenta de WhatsApp Business (WABA ID)"), max_length=40)
    display_phone_number = models.CharField(_("número visible"), max_length=40, blank=True)
    verified_name = models.CharField(_("nombre verificado"), max_length=200, blank=True)
    access_token = EncryptedTextField(_("token de acceso"))
    app_secret = EncryptedTextField(_("clave secreta de la app"), max_length=200)
    verify_token = EncryptedTextField(_("token de verificación del webhook"), max_length=200)
    inbox = models.ForeignKey("inbox.Inbox", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              verbose_name=_("bandeja"), help_text=_("Vacío = bandeja Global"))
    base_url = models.URLField(_("URL base de la Graph API"), blank=True,
                               help_text=_("Vacío = WHATSAPP_BASE_URL o https://graph.facebook.com"))
    is_active = models.BooleanField(_("activo"), default=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    templates_synced_at = models.DateTimeField(null=True, blank=True)
    templates_sync_error = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("número de WhatsApp")
        verbose_name_plural = _("números de WhatsApp")
        ordering = ["display_phone_number", "id"]

    def __str__(self) -> str:
        return self.display_phone_number or self.phone_number_id

    @property
    def channel_ref(self) -> str:
        return f"wa:{self.phone_number_id}"


class WhatsappContact(models.Model):
    """A customer as seen by one business number: their `wa_id` (digits, no +; or, for a user known only by
    username, the business-scoped user id) and the 24-hour window clock.

    `last_inbound_at` is the time of the customer's newest message to this number (Meta's timestamp, so a late
    redelivery never moves it backwards). Replies go to `wa_id`, which may differ from how the phone is written
    elsewhere (e.g. Mexico's +521 prefix)."""

    number = models.ForeignKey(WhatsappNumber, on_delete=models.CASCADE, related_name="contacts")
    wa_id = models.CharField(max_length=160)  # digits, or a business-scoped user id (CC. + up to 128 chars)
    customer = models.ForeignKey("customers.Customer", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    profile_name = models.CharField(max_length=200, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["number", "wa_id"], name="wa_contact_unique")]
        indexes = [models.Index(fields=["number", "customer"], name="wa_contact_customer_idx")]

    def __str__(self) -> str:
        return f"{self.number_id}:{self.wa_id}"


class WebhookDelivery(WebhookDeliveryBase):
    """A raw webhook POST from Meta, stored before anything is parsed (nothing accepted is ever lost) and processed
    by a task (core.deliveries).

    Rejected deliveries (missing or bad signature) are kept too, with the reason, and never processed; their body
    is truncated (REJECTED_BODY_LIMIT) so that an unsigned flood cannot fill the database."""

    number = models.ForeignKey(WhatsappNumber, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="deliveries")

    class Meta(WebhookDeliveryBase.Meta):
        verbose_name = _("webhook de WhatsApp")
        verbose_name_plural = _("webhooks de WhatsApp")
        indexes = [models.Index(fields=["state", "received_at"], name="wa_delivery_state_idx")]

    def __str__(self) -> str:
        return f"whatsapp #{self.pk} {self.state}"


class StatusReceipt(models.Model):
    """One (wamid, status) Meta reported: the dedupe key for redelivered status webhooks.

    `message` is empty while the wamid is unknown (the status overtook the send's response); the sender applies
    such pending receipts once it stores the wamid."""

    wamid = models.CharField(max_length=200)
    status = models.CharField(max_length=12)
    message = models.ForeignKey("inbox.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    error = models.CharField(max_length=300, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    applied = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["wamid", "status"], name="wa_status_once")]
        indexes = [models.Index(fields=["wamid"], condition=Q(applied=False), name="wa_status_pending_idx")]

    def __str__(self) -> str:
        return f"{self.wamid} {self.status}"


class OutboundSend(models.Model):
    """Delivery bookkeeping of one outbound inbox message through the Cloud API (the sender's outbox row).

    A message may need several WhatsApp messages (one per attachment, then the text): `wamids` lists those already
    accepted by Meta, so a retry resumes after them and never sends a part twice."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pendiente")
        RETRYING = "retrying", _("Reintentando")
        SENT = "sent", _("Enviado")
        FAILED = "failed", _("Fallido")

    message = models.OneToOneField("inbox.Message", on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    wamids = models.JSONField(default=list, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="wa_outbound_due_idx")]

    def __str__(self) -> str:
        return f"{self.message_id} {self.state}"


class MessageTemplate(models.Model):
    """A message template of a WhatsApp Business Account, as last synced from the Graph API."""

    waba_id = models.CharField(max_length=40)
    template_id = models.CharField(max_length=40, blank=True)
    name = models.CharField(_("nombre"), max_length=512)
    language = models.CharField(_("idioma"), max_length=15)
    status = models.CharField(_("estado"), max_length=30)
    category = models.CharField(_("categoría"), max_length=30, blank=True)
    parameter_format = models.CharField(max_length=12, default="POSITIONAL")
    components = models.JSONField(default=list, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("plantilla de WhatsApp")
        verbose_name_plural = _("plantillas de WhatsApp")
        ordering = ["name", "language"]
        constraints = [models.UniqueConstraint(fields=["waba_id", "name", "language"], name="wa_template_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    @property
    def is_approved(self) -> bool:
        return self.status.upper() == "APPROVED"
