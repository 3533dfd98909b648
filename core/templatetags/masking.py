"""`{{ value|masked }}`: a stored secret for display ("••••abcd"), never in full (core.crypto.mask)."""

from __future__ import annotations

from django import template

from core.crypto import mask

register = template.Library()


@register.filter
def masked(value: str | None) -> str:
    return mask(value or "")
