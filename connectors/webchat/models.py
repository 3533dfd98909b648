from __future__ import annotations

import secrets
import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from inbox.models import Conversation, Inbox


def new_site_token() -> str:
    # Public (it is pasted into web pages) but unguessable, so nobody can enumerate the sites of an install.
    return secrets.token_urlsafe(24)


def new_visitor_key() -> str:
    return uuid.uuid4().hex


class Position(models.TextChoices):
    RIGHT = "derecha", _("Abajo a la derecha")
    LEFT = "izquierda", _("Abajo a la izquierda")


class ContactRequirement(models.TextChoices):
    NONE = "ninguno", _("No pedir correo ni teléfono")
    EMAIL = "correo", _("Correo obligatorio")
    PHONE = "telefono", _("Teléfono obligatorio")
    EITHER = "correo_o_telefono", _("Correo o teléfono (uno de los dos)")


class ChatSite(models.Model):
    """One website (or app) that embeds the chat widget: its look, texts, pre-chat form and target inbox."""

    name = models.CharField(_("nombre"), max_length=100, unique=True)
    token = models.CharField(_("token público"), max_length=64, unique=True, default=new_site_token)
    allowed_origins = models.JSONField(_("orígenes permitidos"), default=list, blank=True)
    primary_color = models.CharField(_("color principal"), max_length=7, default="#0b5cad")
    text_color = models.CharField(_("color del texto sobre el color principal"), max_length=7, default="#ffffff")
    position = models.CharField(_("posición"), max_length=10, choices=Position.choices, default=Position.RIGHT)
    title = models.CharField(_("título"), max_length=80, blank=True)
    welcome_text = models.TextField(_("mensaje de bienvenida"), max_length=500, blank=True)
    offline_text = models.TextField(_("mensaje sin agentes disponibles"), max_length=500, blank=True)
    require_name = models.BooleanField(_("pedir el nombre"), default=True)
    require_contact = models.CharField(_("datos de contacto obligatorios"), max_length=20,
                                       choices=ContactRequirement.choices, default=ContactRequirement.EITHER)
    inbox = models.ForeignKey(Inbox, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("bandeja de destino"))
    enabled = models.BooleanField(_("activo"), default=True)
    is_demo = models.BooleanField(default=False, editable=False)  # the site /webchat/demo/ hosts
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("sitio de chat web")
        verbose_name_plural = _("sitios de chat web")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(position__in=Position.values), name="webchat_site_position_valid"),
            models.CheckConstraint(condition=Q(require_contact__in=ContactRequirement.values),
                                   name="webchat_site_contact_valid"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def channel_ref(self) -> str:
        return f"webchat:{self.pk}"


class Visitor(models.Model):
    """Someone chatting through a site's widget. The browser keeps a signed token naming `key`; the row links the
    visitor to the customer and to the one conversation they may read (never more: see actions.py)."""

    site = models.ForeignKey(ChatSite, on_delete=models.CASCADE, related_name="visitors")
    key = models.CharField(max_length=32, unique=True, default=new_visitor_key)
    name = models.CharField(_("nombre"), max_length=120, blank=True)
    email = models.CharField(_("correo"), max_length=254, blank=True)
    phone = models.CharField(_("teléfono"), max_length=20, blank=True)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="webchat_visitors")
    # Messages of `conversation` older than this stay hidden from the visitor (a reopened thread may hold
    # history from before this visitor joined it).
    joined_at = models.DateTimeField(null=True, blank=True)
    last_page_url = models.CharField(_("última página"), max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("visitante")
        verbose_name_plural = _("visitantes")

    def __str__(self) -> str:
        return f"{self.site_id}:{self.key[:8]}"

    @property
    def has_contact(self) -> bool:
        return bool(self.email or self.phone)


class WhatsAppLinkSettings(models.Model):
    """The message prefilled by the "Abrir en WhatsApp" buttons (one row, pk=1)."""

    message_template = models.TextField(_("mensaje de WhatsApp"), max_length=1000, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("enlace de WhatsApp")
        verbose_name_plural = _("enlace de WhatsApp")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="webchat_walink_singleton")]

    def __str__(self) -> str:
        return "wa.me"

    @classmethod
    def load(cls) -> WhatsAppLinkSettings:
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj
