"""Regions one app adds to another app's page without the page's app importing it: the order builder (orders)
on the call screen (leads) and on the conversation page (inbox). The page's app owns a `Panels[Subject]`; an app
registers, from its AppConfig.ready(), a context function of (user, subject) — None when the region does not
show for this user and subject — and the template that renders it; the page renders each by position, then in
registration order."""

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


class Panels[S]:
    def __init__(self) -> None:
        self._panels: dict[str, Panel[S]] = {}

    def register(self, name: str, *, context: Callable[[Any, S], dict[str, Any] | None], template: str,
                 position: int = 100) -> None:
        self._panels[name] = Panel(context, template, position)

    def render(self, request: HttpRequest, user: Any, subject: S) -> list[SafeString]:
        rendered = []
        for panel in sorted(self._panels.values(), key=lambda p: p.position):
            context = panel.context(user, subject)
            if context is not None:
                rendered.append(SafeString(render_to_string(panel.template, context, request=request)))
        return rendered
