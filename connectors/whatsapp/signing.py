"""X-Hub-Signature-256 (contract §2): HMAC-SHA256 of the raw body bytes with the app secret, hex, "sha256=" prefix.

Pure functions with no Django import, so the fast ASGI intake can call them on the event loop."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def signature_header(body: bytes, app_secret: str) -> str:
    return PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(body: bytes, app_secret: str, header: str) -> bool:
    """Constant-time comparison over the raw bytes (never re-serialized JSON)."""
    if not header.startswith(PREFIX):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len(PREFIX):].strip().lower())
