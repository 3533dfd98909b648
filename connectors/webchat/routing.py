"""The visitor websocket sits beside the staff one, outside its same-origin validator and session middleware:
visitors come from the customers' websites, and VisitorConsumer checks their origin against the site itself."""

from __future__ import annotations

from typing import Any

from connectors.webchat.consumers import VisitorConsumer

WEBSOCKET_PATH = "/ws/webchat/"


def with_webchat_websocket(staff_app: Any) -> Any:
    """An ASGI app sending /ws/webchat/ to the visitor consumer and every other websocket to `staff_app`."""
    visitor_app = VisitorConsumer.as_asgi()

    async def app(scope: Any, receive: Any, send: Any) -> Any:
        if scope.get("path") == WEBSOCKET_PATH:
            return await visitor_app(scope, receive, send)
        return await staff_app(scope, receive, send)

    return app
