"""Per-recipient links: the tracked redirect (clicks), the email's open pixel and its unsubscribe page.

A link names its recipient with a short token — the recipient's id in base 36 and an HMAC of it (60 bits, keyed by
the SECRET_KEY) — so nothing is stored per link and a guessed or altered token is a 404. Short, because an SMS
counts every character."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from django.conf import settings
from django.urls import reverse

from campaigns.models import Campaign
from connectors.sms.actions import status_url
from connectors.sms.models import SmsAccount

IDENT = re.compile(r"[0-9a-z]{1,13}")
URL = re.compile(r"https?://[^\s<>\"')\]]+")
_SALT = b"centralita.campaigns.recipient"


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, rem = divmod(n, 36)
        out = digits[rem] + out
        if not n:
            return out


def _sig(ident: str) -> str:
    mac = hmac.new(settings.SECRET_KEY.encode() + _SALT, ident.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:8]).decode().rstrip("=")[:10]


def token(recipient_id: int) -> str:
    ident = _b36(recipient_id)
    return f"{ident}-{_sig(ident)}"


def recipient_id(value: str) -> int | None:
    """The recipient a token names, or None for a malformed or forged one."""
    ident, sep, sig = (value or "").partition("-")
    if not sep or not IDENT.fullmatch(ident):
        return None
    if not hmac.compare_digest(_sig(ident), sig):
        return None
    try:
        return int(ident, 36)
    except ValueError:
        return None


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def tracked_urls(campaign: Campaign) -> list[str]:
    """The links a campaign's message carries, in a fixed order (the campaign link first, then the body's): a click
    URL names its target by position, so nothing is stored per link."""
    found = [campaign.link_url] if campaign.link_url else []
    found += URL.findall(campaign.body or "")
    return list(dict.fromkeys(u for u in found if u))


def click_url(recipient_id: int, campaign: Campaign, url: str | None = None, links: list[str] | None = None) -> str:
    """The tracked URL of `url` (default: the campaign link) for one recipient; the URL itself when it is not one of
    the campaign's links, or for a test send (recipient 0)."""
    target = url or campaign.link_url
    if not recipient_id:
        return target
    links = links if links is not None else tracked_urls(campaign)
    try:
        index = links.index(target)
    except ValueError:
        return target
    t = token(recipient_id)
    path = reverse("campaigns:click", args=[t]) if index == 0 else reverse("campaigns:click_n", args=[t, index])
    return absolute(path)


def open_url(recipient_id: int) -> str:
    return absolute(reverse("campaigns:open", args=[token(recipient_id)]))


def unsubscribe_url(recipient_id: int) -> str:
    return absolute(reverse("campaigns:unsubscribe", args=[token(recipient_id)]))


def sms_status_callback(account: SmsAccount) -> str:
    """Where Twilio reports an SMS's statuses: the SMS connector's status webhook (it hands campaign sids to us)."""
    return status_url(account)
