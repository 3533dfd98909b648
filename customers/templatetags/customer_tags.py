"""Segment badges wherever a customer shows (the conversation header, the call screen): `{% segment_badges id %}`
reads the customer's current segments (one query); lists prefetch them instead (customers.segments.segments_of)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from customers.models import Segment
from customers.segments import segments_of

register = template.Library()


@register.filter
def segment_badge(segment: Segment) -> SafeString:
    """One segment's badge (a filter, not an include: lists draw dozens of them)."""
    return format_html('<span class="badge seg seg-{}" title="{}">{}</span>', segment.tone,
                       segment.description or segment.name, segment.name)


@register.simple_tag
def segment_badges(customer_id: int | None) -> SafeString:
    if customer_id is None:
        return SafeString("")
    return SafeString(" ".join(segment_badge(s) for s in segments_of([customer_id]).get(customer_id, [])))
