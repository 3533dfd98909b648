"""Message attachments: stored through Django's default storage under attachments/<conversation>/, described on
the message as {"name", "content_type", "size", "path"} and served only to users who may see the conversation."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from core.errors import ActionError


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
