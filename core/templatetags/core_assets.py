"""`{% page_assets "inbox.workspace" "css" %}`: the static files apps registered for a page (core.assets)."""

from __future__ import annotations

from django import template
from django.templatetags.static import static
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from core.assets import assets

register = template.Library()


@register.simple_tag
def page_assets(page: str, kind: str) -> SafeString:
    paths = assets(page, kind)
    if kind == "css":
        return format_html_join("", '<link rel="stylesheet" href="{}">', ((static(p),) for p in paths))
    return format_html_join("", '<script src="{}" defer></script>', ((static(p),) for p in paths))


@register.simple_tag(takes_context=True)
def page_top_regions(context: template.Context) -> SafeString:
    """The regions apps registered on core.panels.PAGE_TOP, rendered for the signed-in user of this request."""
    from core.panels import PAGE_TOP  # noqa: PLC0415 - a template library loads before the apps' registries fill

    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return SafeString("")
    return SafeString("".join(PAGE_TOP.render(request, request.user, request)))
