"""Regions one app adds to another app's page without the page's app importing it: the order builder (orders)
on the call screen (leads) and on the conversation page (inbox). The page's app owns a `Panels[Subject]`; an app
registers, from its AppConfig.ready(), a context function of (user, subject) — None when the region does not
show for this user and subject — and the template that renders it; the page renders each by position, then in
registration order.

A region with a long list (a customer's orders, their conversations) shows its first rows and a "show more" button;
it registers a `page` function of (user, subject, offset) — None when the user may not see it — and the template of
those rows, which the page's app serves at a URL of its own (`Panels.render_page`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString


@dataclass(frozen=True)
class Panel[S]:
    context: Callable[[Any, S], dict[str, Any] | None]
    template: str
    position: int = 100  # lower first; equal positions keep registration order
    page: Callable[[Any, S, int], dict[str, Any] | None] | None = None  # (user, subject, offset) → more rows' context
    page_template: str = ""


class Panels[S]:
    def __init__(self) -> None:
        self._panels: dict[str, Panel[S]] = {}

    def register(self, name: str, *, context: Callable[[Any, S], dict[str, Any] | None], template: str,
                 position: int = 100, page: Callable[[Any, S, int], dict[str, Any] | None] | None = None,
                 page_template: str = "") -> None:
        self._panels[name] = Panel(context, template, position, page, page_template)

    def render(self, request: HttpRequest, user: Any, subject: S) -> list[SafeString]:
        rendered = []
        for panel in sorted(self._panels.values(), key=lambda p: p.position):
            context = panel.context(user, subject)
            if context is not None:
                rendered.append(SafeString(render_to_string(panel.template, context, request=request)))
        return rendered

    def render_page(self, name: str, request: HttpRequest, user: Any, subject: S, offset: int) -> SafeString | None:
        """The rows of region `name` from `offset` on; None when there is no such paged region or the user may not
        see it."""
        panel = self._panels.get(name)
        if panel is None or panel.page is None:
            return None
        context = panel.page(user, subject, offset)
        if context is None:
            return None
        return SafeString(render_to_string(panel.page_template, context, request=request))


# Regions at the top of every signed-in page, above the page's own content (the announcements banner): an app
# registers a context function of (user, request) returning None when it has nothing to show.
PAGE_TOP: Panels[HttpRequest] = Panels()
