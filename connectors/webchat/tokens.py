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


ATTACHMENT_SALT = "centralita.webchat.attachment"


def attachment_link_max_age() -> int:
    """How long a file link works. Short: the widget gets fresh links each time it loads the conversation, and a
    link copied elsewhere stops working (WEBCHAT_ATTACHMENT_LINK_DAYS, 7 by default)."""
    return int(getattr(settings, "WEBCHAT_ATTACHMENT_LINK_DAYS", 7)) * 86400


def sign_attachment(*, message_id: int, index: int) -> str:
    """The link that lets a visitor open a file an agent sent them (a page on another site cannot send the
    visitor's token header with a plain link, so the link carries its own signature)."""
    return signing.dumps([message_id, index], salt=ATTACHMENT_SALT)


def read_attachment_token(token: str) -> tuple[int, int] | None:
    if not token or len(token) > 200:
        return None
    try:
        data = signing.loads(token, salt=ATTACHMENT_SALT, max_age=attachment_link_max_age())
    except signing.BadSignature:
        return None
    if (not isinstance(data, list) or len(data) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in data)):
        return None
    return data[0], data[1]
