"""Rendering email HTML: sanitized again at render time (it was sanitized at ingest), so meta written by any
other path can never put markup on the conversation page."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from connectors.mail.quoting import sanitize

register = template.Library()


@register.filter
def mail_html(value: object) -> SafeString:
    return mark_safe(sanitize(str(value or "")))  # noqa: S308  # nh3 output: only allow-listed tags and attributes
