"""Template filters shared by the report pages."""

from __future__ import annotations

from django import template

from core.text import human_duration

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    """Seconds as a short human duration ("45 s", "3 min 20 s", "2 h 05 min", "3 d 4 h"); "—" for none."""
    return human_duration(seconds)
