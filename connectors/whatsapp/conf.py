"""The connector's settings: Django settings first (tests override them there), then the environment, then the
defaults below. Read at call time, so `settings` overrides in tests and a changed environment both apply."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from config.env import env_bool, env_int, env_str

# Contract §6: pywa supports Graph API 17.0-25.0; v23.0 is the version the contract suggests.
DEFAULT_GRAPH_VERSION = "v23.0"
DEFAULT_BASE_URL = "https://graph.facebook.com"
WINDOW_HOURS = 24  # contract §7: free-form messages only within 24 h of the customer's last message


def _get(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def graph_version() -> str:
    version = str(_get("WHATSAPP_GRAPH_VERSION", "") or env_str("WHATSAPP_GRAPH_VERSION", DEFAULT_GRAPH_VERSION))
    return version if version.startswith("v") else f"v{version}"


def default_base_url() -> str:
    return str(_get("WHATSAPP_BASE_URL", "") or env_str("WHATSAPP_BASE_URL", DEFAULT_BASE_URL)).rstrip("/")


def demo_mode() -> bool:
    """`make run` starts a fake Graph API and sets WHATSAPP_DEMO=1: the admin page offers "Simular mensaje"."""
    return bool(_get("WHATSAPP_DEMO", env_bool("WHATSAPP_DEMO")))


def client_backoff() -> float:
    """First in-call retry delay (seconds) for 429/5xx; doubles per retry."""
    return float(_get("WHATSAPP_CLIENT_BACKOFF", None) or env_str("WHATSAPP_CLIENT_BACKOFF", "0.5"))


def send_max_attempts() -> int:
    """Sender attempts (each with its in-call retries) before an outbound message is marked failed."""
    return int(_get("WHATSAPP_SEND_MAX_ATTEMPTS", None) or env_int("WHATSAPP_SEND_MAX_ATTEMPTS", 6))


def processing_max_attempts() -> int:
    """Attempts to process a stored webhook (media downloads may fail while Meta is unavailable)."""
    return int(_get("WHATSAPP_PROCESSING_MAX_ATTEMPTS", None) or env_int("WHATSAPP_PROCESSING_MAX_ATTEMPTS", 8))
