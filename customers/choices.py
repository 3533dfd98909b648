"""Choices of customers. The lead state lives here because the customer list filters on it (customers sits below
leads); leads.choices.WorkStatus is this class."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class LeadState(models.TextChoices):
    """A lead's status in the call center, derived from its notes and whether it was closed; a customer's lead
    state is the one of their most recent lead."""

    NONE = "ninguno", _("Ninguno")
    IN_PROGRESS = "en_proceso", _("En proceso")
    DONE = "completado", _("Completado")


class ContactChannel(models.TextChoices):
    """Where a customer can be reached (the inbox's channels, calls, and SMS for campaigns)."""

    WHATSAPP = "whatsapp", _("WhatsApp")
    EMAIL = "email", _("Correo")
    WEBCHAT = "webchat", _("Chat web")
    PHONE = "phone", _("Teléfono")
    SMS = "sms", _("SMS")


class ConsentChannel(models.TextChoices):
    """The channels a campaign can use, each with its own consent."""

    WHATSAPP = "whatsapp", _("WhatsApp")
    EMAIL = "email", _("Correo")
    SMS = "sms", _("SMS")


class ConsentStatus(models.TextChoices):
    OPTED_IN = "opted_in", _("Acepta")
    OPTED_OUT = "opted_out", _("No acepta")


class Language(models.TextChoices):
    """A customer's language (named in the reader's language, unlike the interface's own language switcher)."""

    SPANISH = "es", pgettext_lazy("customer language", "Español")
    ENGLISH = "en", pgettext_lazy("customer language", "Inglés")
