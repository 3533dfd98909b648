"""The connector's settings: Django settings first (tests override them there), then the environment, then the
defaults below. Read at call time, so `settings` overrides in tests and a changed environment both apply."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from config.env import env_bool, env_int, env_str

DEFAULT_BASE_URL = "https://api.twilio.com"


def _get(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def demo_mode() -> bool:
    """`make run` starts a fake Twilio and sets SMS_DEMO=1: the admin page offers "Simular SMS entrante"."""
    return bool(_get("SMS_DEMO", env_bool("SMS_DEMO")))


def client_backoff() -> float:
    """First in-call retry delay (seconds) of a read (GET) for 5xx and network errors; doubles per retry."""
    return float(_get("SMS_CLIENT_BACKOFF", None) or env_str("SMS_CLIENT_BACKOFF", "0.5"))


def send_max_attempts() -> int:
    """Sender attempts before an outbound SMS is marked failed (each 429, 5xx or network error counts one)."""
    return int(_get("SMS_SEND_MAX_ATTEMPTS", None) or env_int("SMS_SEND_MAX_ATTEMPTS", 8))


def processing_max_attempts() -> int:
    """Attempts to process a stored webhook before it is marked failed."""
    return int(_get("SMS_PROCESSING_MAX_ATTEMPTS", None) or env_int("SMS_PROCESSING_MAX_ATTEMPTS", 8))
