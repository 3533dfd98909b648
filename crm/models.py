from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(24)


class KommoAccount(models.Model):
    """The connected Kommo account (one per installation, pk=1).

    Kommo's account webhooks are unsigned, so the webhook URL carries `webhook_secret` (unguessable) and
    every delivery's `account[subdomain]`/`account[id]` must match this row.

    Tokens, the client secret and the webhook secret are encrypted at rest (core.fields.EncryptedTextField); pages
    show them masked, and the webhook URL in full only once, right after connecting or rotating.
    """

    class AuthMode(models.TextChoices):
        LONG_LIVED = "long_lived", _("Token de larga duración")
        OAUTH = "oauth", _("OAuth 2.0 (código de autorización)")

    subdomain = models.CharField(_("subdominio"), max_length=100)
    base_url = models.URLField(_("URL base de la API"), blank=True,
                               help_text=_("Vacío = https://SUBDOMINIO.kommo.com"))
    account_id = models.BigIntegerField(_("id de cuenta"), null=True, blank=True)
    auth_mode = models.CharField(_("autenticación"), max_length=12, choices=AuthMode.choices,
                                 default=AuthMode.LONG_LIVED)
    long_lived_token = EncryptedTextField(_("token de larga duración"), blank=True)
    client_id = models.CharField(_("ID de integración (client_id)"), max_length=100, blank=True)
    client_secret = EncryptedTextField(_("clave secreta (client_secret)"), max_length=200, blank=True)
    redirect_uri = models.URLField(_("URI de redirección"), blank=True)
    access_token = EncryptedTextField(blank=True)
    refresh_token = EncryptedTextField(blank=True)
    access_expires_at = models.DateTimeField(null=True, blank=True)
    oauth_state = models.CharField(max_length=64, blank=True)
    # Compared in Python against the singleton row (crm.intake.decide), never filtered on: encrypted, not hashed.
    webhook_secret = EncryptedTextField(max_length=64, default=new_webhook_secret)
    to_call_pipeline_id = models.BigIntegerField(_("embudo de «Para Llamar»"), null=True, blank=True)
    to_call_status_id = models.BigIntegerField(_("etapa «Para Llamar»"), null=True, blank=True)
    to_call_stage_name = models.CharField(max_length=120, blank=True)
    confirmed_pipeline_id = models.BigIntegerField(_("embudo de «Venta Confirmada»"), null=True, blank=True)
    confirmed_status_id = models.BigIntegerField(_("etapa «Venta Confirmada»"), null=True, blank=True)
    confirmed_stage_name = models.CharField(max_length=120, blank=True)
    stage_names = models.JSONField(default=dict, blank=True, help_text="status_id -> stage name cache")
    connected_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name = _("cuenta de Kommo")
        verbose_name_plural = _("cuenta de Kommo")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="kommo_account_singleton")]

    def __str__(self) -> str:
        return self.subdomain

    @property
    def api_base(self) -> str:
        return (self.base_url or f"https://{self.subdomain}.kommo.com").rstrip("/")

    @classmethod
    def current(cls) -> KommoAccount | None:
        return cls.objects.filter(pk=1, is_active=True).first()


class WebhookDelivery(models.Model):
    """A raw inbound webhook body, stored before anything is parsed or processed (nothing is ever lost)."""

    class State(models.TextChoices):
        RECEIVED = "received", _("Recibido")
        PROCESSED = "processed", _("Procesado")
        FAILED = "failed", _("Fallido")
        REJECTED = "rejected", _("Rechazado")

    source = models.CharField(max_length=20, default="kommo")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    body = models.TextField()
    content_type = models.CharField(max_length=100, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    # The process ("host:pid") whose attempt holds the lease in `processed_at`; void once it is dead by its heartbeat.
    lease_holder = models.CharField(max_length=120, blank=True, default="")

    class Meta:
        verbose_name = _("webhook recibido")
        verbose_name_plural = _("webhooks recibidos")
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["state", "received_at"], name="webhook_state_idx")]

    def __str__(self) -> str:
        return f"{self.source} #{self.pk} {self.state}"


class KommoSync(models.Model):
    """Outbox row: a change Centralita owes Kommo (written in the same transaction as the order).

    The worker delivers rows oldest first. Delivery is at-least-once and each step is idempotent: moving the
    lead to a stage and setting its price are naturally so, and the note is only added when Kommo does not
    already have one carrying this row's marker.
    """

    class State(models.TextChoices):
        PENDING = "pendiente", _("Pendiente")
        SYNCED = "sincronizado", _("Sincronizado")
        RETRYING = "reintentando", _("Reintentando")
        FAILED = "fallido", _("Fallido")

    kind = models.CharField(max_length=30, default="order_confirmed")
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="kommo_syncs")
    lead_kommo_id = models.BigIntegerField()
    payload = models.JSONField(default=dict)
    idempotency_key = models.CharField(max_length=100, unique=True)
    state = models.CharField(max_length=14, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    done_steps = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("sincronización con Kommo")
        verbose_name_plural = _("sincronizaciones con Kommo")
        ordering = ["id"]
        indexes = [models.Index(fields=["state", "next_attempt_at", "id"], name="kommosync_due_idx")]

    def __str__(self) -> str:
        return f"{self.idempotency_key} {self.state}"

    @property
    def marker(self) -> str:
        return f"[centralita:{self.idempotency_key}]"
