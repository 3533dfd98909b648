"""Attachment helpers for the message-body templates: whether an attachment may get an <img> preview."""

from __future__ import annotations

from django import template

from inbox import attachments

register = template.Library()


@register.filter
def is_preview_image(content_type: object) -> bool:
    """True only for the raster allow-list in inbox.attachments (an SVG <img> is safe, but opening it is not)."""
    return attachments.is_preview_image(content_type)
