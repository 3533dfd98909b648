from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class QuickReplyScope(models.TextChoices):
    """Who sees a quick reply: its author only, the people of one inbox, or everyone who answers."""

    MINE = "mias", _("Solo yo")
    INBOX = "bandeja", _("Una bandeja")
    EVERYONE = "todos", _("Todo el equipo")


# Suggested categories (free text: an organization adds its own).
QUICK_REPLY_CATEGORIES = (_("ventas"), _("soporte"), _("reclamos"), _("pagos"), _("envíos"))
