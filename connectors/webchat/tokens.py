"""Visitor tokens: the widget keeps one in localStorage and shows it on every call (header or socket frame).

A token is Django-signed (SECRET_KEY, its own salt) and names the site and the visitor row, so it can be neither
forged nor replayed against another site. It is not a secret from the visitor (it is their own identity) and
carries no personal data. Tokens are renewed on every history load, so only a visitor who has not come back for
WEBCHAT_VISITOR_TOKEN_DAYS starts over.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

SALT = "centralita.webchat.visitor"


def token_max_age() -> int:
    return int(getattr(settings, "WEBCHAT_VISITOR_TOKEN_DAYS", 180)) * 86400


@dataclass(frozen=True)
class VisitorClaim:
    site_id: int
    visitor_key: str


def sign_visitor(*, site_id: int, visitor_key: str) -> str:
    return signing.dumps({"s": site_id, "v": visitor_key}, salt=SALT)


def read_visitor_token(token: str) -> VisitorClaim | None:
    """The claim inside a valid, unexpired token; None for anything else (forged, expired, garbage)."""
    if not token or len(token) > 300:
        return None
    try:
        data = signing.loads(token, salt=SALT, max_age=token_max_age())
    except signing.BadSignature:  # SignatureExpired is a subclass
        return None
    if not isinstance(data, dict) or not isinstance(data.get("s"), int) or not isinstance(data.get("v"), str):
        return None
    return VisitorClaim(site_id=data["s"], visitor_key=data["v"])
