"""Which web pages may talk to a site's widget endpoints, and the CORS headers that tell browsers so.

An origin is `scheme://host[:port]`, compared exactly; `https://*.example.com` also admits every subdomain of
example.com. Centralita's own pages (the demo page, same host) are always allowed. This is a browser-side fence:
a script outside a browser can send any Origin header, which is why visitors also need a signed token and every
visitor is rate-limited.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from django.http import HttpResponseBase

ALLOWED_HEADERS = "Content-Type, X-Visitor-Token"
ALLOWED_METHODS = "GET, POST, OPTIONS"
PREFLIGHT_MAX_AGE = "600"


def normalize_origin(raw: str) -> str | None:
    """`HTTPS://Shop.Example.com/` → `https://shop.example.com`; None when it is not a bare origin."""
    text = raw.strip().rstrip("/").lower()
    if not text:
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.scheme not in {"http", "https"} or not host or parts.path or parts.query or parts.fragment:
        return None
    if parts.username or parts.password:
        return None
    if "*" in host and (not host.startswith("*.") or "*" in host[2:] or host.count(".") < 2):
        return None  # only a leading "*." wildcard over a registrable-looking domain, never "*" or "*.com"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def origin_matches(origin: str, pattern: str) -> bool:
    if origin == pattern:
        return True
    scheme, _sep, rest = pattern.partition("://")
    if not rest.startswith("*."):
        return False
    o_scheme, _sep, o_rest = origin.partition("://")
    suffix = rest[1:]  # ".example.com[:port]"
    o_host, _c, o_port = o_rest.partition(":")
    s_host, _c, s_port = suffix.partition(":")
    return o_scheme == scheme and o_port == s_port and o_host.endswith(s_host) and len(o_host) > len(s_host)


def is_same_origin(origin: str, host: str) -> bool:
    """Centralita's own pages: the Origin's host[:port] is the host the request was addressed to."""
    try:
        netloc = urlsplit(origin).netloc.lower()
    except ValueError:
        return False
    return bool(host) and netloc == host.lower()


def origin_allowed(origin: str, *, allowed: Iterable[str], host: str) -> bool:
    if is_same_origin(origin, host):
        return True
    clean = normalize_origin(origin)
    return clean is not None and any(origin_matches(clean, pattern) for pattern in allowed)


def add_cors_headers(response: HttpResponseBase, origin: str, *, preflight: bool = False) -> HttpResponseBase:
    """Echo the one allowed origin (never `*`: responses depend on the site), without credentials (no cookies)."""
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Expose-Headers"] = "Retry-After"
    if preflight:
        response["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    vary = response.get("Vary")
    response["Vary"] = f"{vary}, Origin" if vary and "origin" not in vary.lower() else (vary or "Origin")
    return response
