"""Regions other apps add to the call screen (the lead page) without leads importing them: the order builder
(orders) is one. An app registers, from its AppConfig.ready(), a context function — None when the region does not
show for this user and lead — and the template that renders it; the call screen renders each in order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from accounts.models import User
from leads.models import Lead

PanelContext = Callable[[User, Lead], dict[str, Any] | None]


@dataclass(frozen=True)
class Panel:
    context: PanelContext
    template: str


_panels: dict[str, Panel] = {}


def register(name: str, *, context: PanelContext, template: str) -> None:
    _panels[name] = Panel(context, template)


def render_panels(request: HttpRequest, user: User, lead: Lead) -> list[SafeString]:
    rendered = []
    for panel in _panels.values():
        context = panel.context(user, lead)
        if context is not None:
            rendered.append(SafeString(render_to_string(panel.template, context, request=request)))
    return rendered
