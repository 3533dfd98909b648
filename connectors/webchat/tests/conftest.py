from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from connectors.webchat.tests.factories import ChatSiteFactory, VisitorFactory, token_for

ORIGIN = "https://tienda.example"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    # Rate-limit counters and the cached "agents online" answer must not leak between tests.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def site(db: Any) -> Any:
    return ChatSiteFactory()


@pytest.fixture
def visitor(site: Any) -> Any:
    return VisitorFactory(site=site)


@pytest.fixture
def online_agent(db: Any) -> Any:
    """Someone available to answer Global (no teams: always inside business hours)."""
    return UserFactory(username="vale", full_name="Valeria Gómez", role=Role.AGENTE, availability="disponible")


@pytest.fixture
def widget(client: Any, site: Any) -> Any:
    """Calls the widget API like the embedded script does: from the shop's origin, with the visitor's token."""

    class Widget:
        def __init__(self) -> None:
            self.token = ""

        def _headers(self, origin: str) -> dict[str, str]:
            headers = {"HTTP_ORIGIN": origin} if origin else {}
            if self.token:
                headers["HTTP_X_VISITOR_TOKEN"] = self.token
            return headers

        def get(self, path: str, *, origin: str = ORIGIN, site_token: str | None = None, **params: Any) -> Any:
            params["site"] = site.token if site_token is None else site_token
            return client.get(f"/webchat/api/v1/{path}", params, **self._headers(origin))

        def post(self, path: str, body: dict[str, Any], *, origin: str = ORIGIN) -> Any:
            return client.post(f"/webchat/api/v1/{path}?site={site.token}", body, content_type="application/json",
                               **self._headers(origin))

        def join(self, **details: Any) -> Any:
            self.token = ""  # a new visitor (another browser)
            response = self.post("visitors", {"name": "Lucía Pérez", **details})
            assert response.status_code == 201, response.content
            self.token = response.json()["visitor_token"]
            return response

        def use(self, visitor: Any) -> None:
            self.token = token_for(visitor)

    return Widget()


@pytest.fixture
def one_limiter_window(time_machine):
    """Freezes the clock 1 s into the next hour, so every request of a rate-limit test falls in one window of the
    fixed-window limiter (connectors.webchat.limits), whatever its length (a minute, an hour): two real requests
    could straddle a boundary and both pass."""
    time_machine.move_to((int(time.time()) // 3600 + 1) * 3600 + 1, tick=False)
