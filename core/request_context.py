"""Where the current request came from, for the audit log, without threading `request` through actions."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings


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


# --- the client's address ----------------------------------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _parse(raw: str | None) -> Address | None:
    value = (raw or "").strip().strip('"')
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "203.0.113.7:5123"
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # "::ffff:10.0.0.1" from a dual-stack socket is 10.0.0.1
    return mapped or address


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def resolve_client_ip(peer: str | None, forwarded_for: str | None) -> str | None:
    """The client's address: the direct peer, unless it is one of settings.TRUSTED_PROXIES.

    Only then is X-Forwarded-For read, from the right: each trusted proxy appended the address it saw, so the
    right-most entry that is not a trusted proxy is the first one no proxy of ours vouches for — everything to its
    left was written by the client and may be invented. The peer is REMOTE_ADDR (the ASGI scope's client), which
    is why daphne must run without --proxy-headers: with it daphne overwrites the peer with the left-most entry.
    """
    direct = _parse(peer)
    if direct is None:
        return None
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _trusted(direct, networks) or not forwarded_for:
        return str(direct)
    client = direct
    for raw in reversed(forwarded_for.split(",")):
        hop = _parse(raw)
        if hop is None:
            # Garbage where an address belongs: stop at the last hop a trusted proxy vouched for.
            break
        client = hop
        if not _trusted(hop, networks):
            break
    return str(client)


def peer_is_trusted_proxy(peer: str | None) -> bool:
    direct = _parse(peer)
    return direct is not None and _trusted(direct, _networks(tuple(settings.TRUSTED_PROXIES)))


def client_ip_from_scope(scope: Mapping[str, Any]) -> str | None:
    """resolve_client_ip for raw ASGI apps and consumers (the scope's client and X-Forwarded-For headers)."""
    client = scope.get("client")
    forwarded = b",".join(value for name, value in scope.get("headers") or [] if name.lower() == b"x-forwarded-for")
    return resolve_client_ip(client[0] if client else None, forwarded.decode("latin-1") or None)
