"""Message attachments: stored through Django's default storage under attachments/<conversation>/, described on
the message as {"name", "content_type", "size", "path"} and served only to users who may see the conversation."""

from __future__ import annotations

import re
import uuid
from typing import Any, Final

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from core.errors import ActionError

# Attachments are customer-controlled bytes served from our own origin, so only types that cannot run script when
# opened are shown inline. SVG, HTML, XML and anything unknown would run the sender's script as the agent.
PREVIEW_IMAGE_TYPES: Final = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
INLINE_TYPES: Final = PREVIEW_IMAGE_TYPES
# Kept as declared but downloaded when opened: PDF (Chromium refuses to run its PDF viewer under a sandbox CSP,
# so an inline PDF would show "blocked"), and audio/video, which <audio>/<video> players still load as a
# subresource (browsers ignore Content-Disposition there).
DOWNLOAD_TYPES: Final = frozenset({"application/pdf"})
PLAYABLE_PREFIXES: Final = ("audio/", "video/")
GENERIC_TYPE: Final = "application/octet-stream"
# Even an inline PNG gets a sandboxed, script-less document if a browser ever renders it as a page.
ATTACHMENT_CSP: Final = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'"
_MIME_TOKEN = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*\Z")


def store_attachment(*, conversation_id: int, name: str, content_type: str, data: bytes) -> dict[str, Any]:
    """Stores the bytes and returns the description to keep in Message.attachments."""
    if len(data) > settings.ATTACHMENT_MAX_BYTES:
        raise ActionError("attachment_too_large", _("El adjunto supera el tamaño máximo permitido."),
                          field="attachments")
    safe = get_valid_filename(name or "archivo") or "archivo"
    path = default_storage.save(f"attachments/{conversation_id}/{uuid.uuid4().hex}/{safe}", ContentFile(data))
    return {"name": name or safe, "content_type": content_type or "application/octet-stream", "size": len(data),
            "path": path}


def read_attachment(description: dict[str, Any]) -> bytes:
    with default_storage.open(description["path"], "rb") as fh:
        data: bytes = fh.read()
    return data


def media_type(content_type: object) -> str:
    """The bare, lowercased type ("image/png" from "Image/PNG; name=x"), or "" when it is not a valid one."""
    bare = str(content_type or "").split(";", 1)[0].strip().lower()
    return bare if _MIME_TOKEN.match(bare) else ""


def is_preview_image(content_type: object) -> bool:
    """Whether the timeline may render an <img> for this attachment (raster images only, never SVG)."""
    return media_type(content_type) in PREVIEW_IMAGE_TYPES


def serving(content_type: object) -> tuple[str, bool]:
    """How to serve a stored attachment: (Content-Type to send, inline?). Unknown types become a generic download."""
    bare = media_type(content_type)
    if bare in INLINE_TYPES:
        return bare, True
    if bare in DOWNLOAD_TYPES or bare.startswith(PLAYABLE_PREFIXES):
        return bare, False
    return GENERIC_TYPE, False
