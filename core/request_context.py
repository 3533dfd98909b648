"""Where the current request came from, for the audit log, without threading `request` through actions."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestOrigin:
    ip: str | None = None
    user_agent: str = ""
    via: str = "web"  # web | api | worker | command | websocket


_origin: ContextVar[RequestOrigin] = ContextVar("centralita_request_origin", default=RequestOrigin(via="system"))  # noqa: B039 - frozen dataclass


def current_origin() -> RequestOrigin:
    return _origin.get()


def set_origin(origin: RequestOrigin) -> object:
    return _origin.set(origin)


def reset_origin(token: object) -> None:
    _origin.reset(token)  # type: ignore[arg-type]
