"""Small formatters of the workspace: a compact waiting time ("3 h", "2 d") that the page's script keeps fresh."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _

register = template.Library()

MINUTE, HOUR, DAY = 60, 3600, 86400


@register.filter
def short_wait(since: datetime | None, now: datetime | None = None) -> str:
    """How long ago `since` was, in the largest whole unit: "menos de 1 min", "12 min", "3 h", "5 d"."""
    if since is None:
        return ""
    seconds = max(0, int(((now or timezone.now()) - since).total_seconds()))
    if seconds < MINUTE:
        return _("menos de 1 min")
    if seconds < HOUR:
        return _("%d min") % (seconds // MINUTE)
    if seconds < DAY:
        return _("%d h") % (seconds // HOUR)
    return _("%d d") % (seconds // DAY)
