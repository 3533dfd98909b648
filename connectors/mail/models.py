"""Email channel: mailboxes (IMAP in, SMTP out, or an ESP posting parsed mail), the intake log, the outbound
send record, agents' signatures and the bookkeeping of task-due notifications."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import crypto
from core.fields import EncryptedTextField, LookupHashField


def new_webhook_token() -> str:
    return secrets.token_urlsafe(24)


class Security(models.TextChoices):
    SSL = "ssl", _("SSL/TLS directo")
    STARTTLS = "starttls", _("STARTTLS")
    NONE = "none", _("Sin cifrado (solo pruebas locales)")


class Mailbox(models.Model):
    """One support address. Mail reaches it by IMAP polling (imap_host set) and/or by an ESP's inbound webhook
    (webhook_token in the URL); answers leave through its SMTP server. Conversations remember it as
    `channel_ref="mail:<id>"`, so a reply leaves from the address the customer wrote to.

    Passwords, the Mailgun key and the webhook token are encrypted at rest (core.fields.EncryptedTextField); the
    webhook finds its mailbox through `webhook_token_hash` (see `with_webhook_token`)."""

    address = models.EmailField(_("dirección"), unique=True)
    display_name = models.CharField(_("nombre visible"), max_length=100, blank=True)
    inbox = models.ForeignKey("inbox.Inbox", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("bandeja de destino"))
    enabled = models.BooleanField(_("activo"), default=True)

    imap_host = models.CharField(_("servidor IMAP"), max_length=200, blank=True)
    imap_port = models.PositiveIntegerField(_("puerto IMAP"), default=993)
    imap_security = models.CharField(_("cifrado IMAP"), max_length=10, choices=Security.choices,
                                     default=Security.SSL)
    imap_user = models.CharField(_("usuario IMAP"), max_length=200, blank=True)
    imap_password = EncryptedTextField(_("contraseña IMAP"), max_length=200, blank=True)
    imap_folder = models.CharField(_("carpeta IMAP"), max_length=200, default="INBOX")
    poll_interval = models.PositiveIntegerField(_("intervalo de consulta (segundos)"), default=60)

    smtp_host = models.CharField(_("servidor SMTP"), max_length=200, blank=True)
    smtp_port = models.PositiveIntegerField(_("puerto SMTP"), default=587)
    smtp_security = models.CharField(_("cifrado SMTP"), max_length=10, choices=Security.choices,
                                     default=Security.STARTTLS)
    smtp_user = models.CharField(_("usuario SMTP"), max_length=200, blank=True)
    smtp_password = EncryptedTextField(_("contraseña SMTP"), max_length=200, blank=True)

    # "reply+{token}@inbound.example.com"; empty = plus-address of `address` (soporte+{token}@example.com).
    reply_address = models.CharField(_("dirección de respuesta"), max_length=200, blank=True)
    webhook_token = EncryptedTextField(max_length=64, default=new_webhook_token)
    webhook_token_hash = LookupHashField(source="webhook_token", unique=True)
    mailgun_signing_key = EncryptedTextField(_("clave de firma de Mailgun"), max_length=200, blank=True)

    # IMAP bookkeeping: UIDs only mean something within one UIDVALIDITY of the folder.
    uid_validity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    poll_lease_until = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("buzón de correo")
        verbose_name_plural = _("buzones de correo")
        ordering = ["address"]
        constraints = [
            models.CheckConstraint(condition=Q(imap_security__in=Security.values), name="mailbox_imap_security_valid"),
            models.CheckConstraint(condition=Q(smtp_security__in=Security.values), name="mailbox_smtp_security_valid"),
        ]

    def __str__(self) -> str:
        return self.address

    def save(self, *, force_insert: bool | tuple[models.base.ModelBase, ...] = False, force_update: bool = False,
             using: str | None = None, update_fields: Iterable[str] | None = None) -> None:
        if update_fields is not None and "webhook_token" in update_fields:
            update_fields = {*update_fields, "webhook_token_hash"}  # the hash must follow the token it finds
        super().save(force_insert=force_insert, force_update=force_update, using=using, update_fields=update_fields)

    @classmethod
    def with_webhook_token(cls, token: str) -> models.QuerySet[Mailbox]:
        """The mailbox whose webhook URL carries `token` (by keyed hash: the token itself is stored encrypted)."""
        return cls.objects.filter(webhook_token_hash__in=crypto.lookup_hashes(token))

    @property
    def channel_ref(self) -> str:
        return f"mail:{self.pk}"

    @property
    def polls(self) -> bool:
        return bool(self.enabled and self.imap_host)

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[-1].lower()


class InboundMail(models.Model):
    """The intake log: one row per mail taken from IMAP or posted by an ESP, with what became of it. Webhook rows
    keep the raw body (stored before anything is parsed, so nothing posted is lost); IMAP rows do not (the
    server keeps the message)."""

    class Source(models.TextChoices):
        IMAP = "imap", "IMAP"
        MAILGUN = "mailgun", "Mailgun"
        POSTMARK = "postmark", "Postmark"
        RAW = "raw", _("MIME crudo")

    class Status(models.TextChoices):
        RECEIVED = "received", _("Recibido")
        STORED = "stored", _("Guardado")
        DUPLICATE = "duplicate", _("Duplicado")
        AUTO_REPLY = "auto_reply", _("Respuesta automática")
        BOUNCE = "bounce", _("Rebote")
        IGNORED = "ignored", _("Ignorado")
        REJECTED = "rejected", _("Rechazado")
        FAILED = "failed", _("Fallido")

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="inbound")
    source = models.CharField(max_length=10, choices=Source.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED)
    reason = models.CharField(max_length=200, blank=True)  # which rule classified it (auto-reply, bounce…)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    raw = models.BinaryField(blank=True, default=b"")
    content_type = models.CharField(max_length=200, blank=True)
    rfc_message_id = models.CharField(max_length=500, blank=True)
    from_address = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=250, blank=True)
    imap_uid = models.BigIntegerField(null=True, blank=True)
    uid_validity = models.BigIntegerField(null=True, blank=True)
    conversation_id = models.IntegerField(null=True, blank=True)
    message_id = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("correo recibido")
        verbose_name_plural = _("correos recibidos")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "uid_validity", "imap_uid"], condition=Q(imap_uid__isnull=False),
                                    name="inboundmail_unique_imap_uid"),
        ]
        indexes = [models.Index(fields=["mailbox", "-created_at"], name="inboundmail_mailbox_idx"),
                   models.Index(fields=["mailbox", "rfc_message_id"], name="inboundmail_msgid_idx")]

    def __str__(self) -> str:
        return f"{self.mailbox_id} {self.source} {self.status}"


class OutboundMail(models.Model):
    """How one outbound inbox message left by SMTP: the headers we gave it (stable across retries, so a resend
    after a crash carries the same Message-ID) and the retry state."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pendiente")
        SENT = "sent", _("Enviado")
        FAILED = "failed", _("Fallido")

    message = models.OneToOneField("inbox.Message", on_delete=models.CASCADE, related_name="+")
    mailbox = models.ForeignKey(Mailbox, null=True, on_delete=models.SET_NULL, related_name="outbound")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    rfc_message_id = models.CharField(max_length=500)
    in_reply_to = models.CharField(max_length=500, blank=True)
    references = models.TextField(blank=True)
    recipients = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="outboundmail_due_idx")]

    def __str__(self) -> str:
        return f"{self.message_id} {self.state}"


class MailProfile(models.Model):
    """Per-user email settings kept here so the accounts app needs no migration: the signature appended to
    answers and the opt-out from notification emails."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mail_profile")
    signature = models.TextField(_("firma"), blank=True)
    notifications = models.BooleanField(_("recibir notificaciones por correo"), default=True)

    class Meta:
        verbose_name = _("preferencias de correo")
        verbose_name_plural = _("preferencias de correo")

    def __str__(self) -> str:
        return str(self.user_id)


class TaskDueNotice(models.Model):
    """A task-due email went out for this task and due date (a new due date notifies again)."""

    task = models.ForeignKey("inbox.Task", on_delete=models.CASCADE, related_name="+")
    due_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "due_at"], name="taskduenotice_once")]

    def __str__(self) -> str:
        return f"{self.task_id} {self.due_at}"
