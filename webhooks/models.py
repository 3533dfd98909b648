from __future__ import annotations

import secrets
import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.events import EVENT_TYPES
from core.fields import EncryptedTextField


def event_choices() -> list[tuple[str, str]]:
    """Every domain event type an endpoint may subscribe to (the catalogue of core.events), with its label."""
    return [(code, f"{cls.label} · {code}" if cls.label else code) for code, cls in sorted(EVENT_TYPES.items())]


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    """A URL of another system (billing, logistics) that receives signed events. The signing secret is encrypted at
    rest and shown once, when the endpoint is registered."""

    url = models.URLField(_("URL"), max_length=500)
    events = models.JSONField(_("eventos"), default=list)
    secret = EncryptedTextField(_("secreto de firma"), max_length=100, default=new_secret)
    description = models.CharField(_("descripción"), max_length=200, blank=True)
    is_active = models.BooleanField(_("activo"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("webhook saliente")
        verbose_name_plural = _("webhooks salientes")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class WebhookMessage(models.Model):
    """One event for one endpoint (outbox row). `event_id` is unique and sent with every attempt, so the
    receiver can deduplicate retries."""

    class State(models.TextChoices):
        PENDING = "pendiente", _("Pendiente")
        DELIVERED = "entregado", _("Entregado")
        RETRYING = "reintentando", _("Reintentando")
        FAILED = "fallido", _("Fallido")

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="messages")
    event = models.CharField(max_length=64)
    # The event log row (core.EventLog) this message carries: one message per endpoint and event, however many
    # times the fan-out runs (after commit, and the safety net). Not a foreign key: the log is pruned on its own.
    source_event = models.BigIntegerField(null=True, blank=True)
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    payload = models.JSONField()
    state = models.CharField(max_length=14, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["state", "next_attempt_at", "id"], name="webhookmsg_due_idx")]
        constraints = [models.UniqueConstraint(fields=["endpoint", "source_event"], name="webhookmsg_once_per_event")]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} {self.state}"
