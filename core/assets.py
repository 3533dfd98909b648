"""Stylesheets and scripts one app adds to another app's page (beside the regions of core.panels): the order
builder's on the call screen and the workspace, the quick-reply picker's on the workspace. An app registers them
from its AppConfig.ready(); the page's template renders them with `{% page_assets "<page>" "css"|"js" %}`."""

from __future__ import annotations

from collections import defaultdict

_ASSETS: dict[tuple[str, str], list[str]] = defaultdict(list)


def register(page: str, *, css: tuple[str, ...] = (), js: tuple[str, ...] = ()) -> None:
    for kind, paths in (("css", css), ("js", js)):
        for path in paths:
            if path not in _ASSETS[page, kind]:
                _ASSETS[page, kind].append(path)


def assets(page: str, kind: str) -> list[str]:
    return list(_ASSETS.get((page, kind), []))
