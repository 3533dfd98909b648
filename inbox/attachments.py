"""Message attachments: stored through Django's default storage under attachments/<conversation>/, described on
the message as {"name", "content_type", "size", "path"} and served only to users who may see the conversation."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from core.errors import ActionError

if TYPE_CHECKING:
    from accounts.models import User
    from inbox.models import Conversation

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
    return store_file(f"attachments/{conversation_id}", name=name, content_type=content_type, data=data)


def store_file(folder: str, *, name: str, content_type: str, data: bytes) -> dict[str, Any]:
    """Stores the bytes under `folder` (a fresh subfolder each time) and returns their description."""
    if len(data) > settings.ATTACHMENT_MAX_BYTES:
        raise ActionError("attachment_too_large", _("El adjunto supera el tamaño máximo permitido."),
                          field="attachments")
    path = default_storage.save(f"{folder}/{uuid.uuid4().hex}/{storage_name(name)}", ContentFile(data))
    return {"name": name or "archivo", "content_type": content_type or "application/octet-stream", "size": len(data),
            "path": path}


STORED_NAME_BYTES: Final = 100


def storage_name(name: str) -> str:
    """The name on disk: letters, digits, dots and dashes only (the description keeps the name as sent), at most
    STORED_NAME_BYTES bytes with its extension kept — file systems count bytes, and accents take two. A name with
    nothing usable ("😀", "..") is stored as "archivo"."""
    try:
        safe = get_valid_filename(name or "archivo")
    except SuspiciousFileOperation:
        safe = "archivo"
    stem, ext = os.path.splitext(safe)
    ext = ext.encode()[:16].decode("utf-8", "ignore")
    stem = stem.encode()[:STORED_NAME_BYTES - len(ext.encode())].decode("utf-8", "ignore")
    return (stem or "archivo") + ext


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


# --- files an agent attaches to an answer or a note -------------------------------------------------------------

MAX_FILES_PER_MESSAGE: Final = 10
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Upload:
    """A file to attach, as received (a browser's form, the API's base64, a quick reply's stored file)."""

    name: str
    content_type: str
    data: bytes


# A source turns a reference posted with the form ("quick_reply:12") into the file it names, after checking that
# the user may use it in this conversation (raise ActionError otherwise). Apps register theirs in ready(), so the
# inbox attaches a quick reply's file without depending on the app that keeps quick replies.
Source = Callable[["User", "Conversation", str], Upload]
_SOURCES: dict[str, Source] = {}


def register_source(kind: str, source: Source) -> None:
    _SOURCES[kind] = source


def resolve_reference(user: User, conversation: Conversation, reference: str) -> Upload:
    kind, _sep, rest = str(reference).partition(":")
    source = _SOURCES.get(kind)
    if source is None or not rest:
        raise ActionError("invalid_attachment", _("El archivo elegido ya no está disponible."), field="attachments")
    return source(user, conversation, rest)


def clean_name(name: str) -> str:
    """A file name safe to keep and show: no control characters (PostgreSQL's JSON refuses NUL), at most 200
    characters, never empty."""
    cleaned = _CONTROL.sub("", str(name or "")).strip().replace("/", "_").replace("\\", "_")[-200:]
    return cleaned or _("archivo")


def check_uploads(uploads: Sequence[Upload]) -> None:
    """The limits of one message: at most MAX_FILES_PER_MESSAGE files, each and all together within
    ATTACHMENT_MAX_BYTES, none empty."""
    if len(uploads) > MAX_FILES_PER_MESSAGE:
        raise ActionError("too_many_attachments", _("Adjunte como máximo %(n)d archivos por mensaje.")
                          % {"n": MAX_FILES_PER_MESSAGE}, field="attachments")
    for upload in uploads:
        if not upload.data:
            raise ActionError("empty_attachment", _("El archivo «%(name)s» está vacío.")
                              % {"name": clean_name(upload.name)}, field="attachments")
    if sum(len(u.data) for u in uploads) > settings.ATTACHMENT_MAX_BYTES:
        raise ActionError("attachment_too_large", _("Los adjuntos superan juntos el máximo de %(mb)d MB.")
                          % {"mb": settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)}, field="attachments")


def store_uploads(folder: str, uploads: Sequence[Upload]) -> list[dict[str, Any]]:
    """Checks and stores the files of one message (`attachments/<conversation>`) or one quick reply; their
    descriptions, in order."""
    check_uploads(uploads)
    stored: list[dict[str, Any]] = []
    try:
        # (extend keeps the files stored before a failure, so they are deleted below)
        stored.extend(store_file(folder, name=clean_name(upload.name),
                                 content_type=media_type(upload.content_type) or GENERIC_TYPE, data=upload.data)
                      for upload in uploads)
    except Exception:
        discard(stored)
        raise
    return stored


def discard(descriptions: Sequence[dict[str, Any]]) -> None:
    """Deletes stored files whose message was not saved after all (its transaction failed)."""
    for description in descriptions:
        path = description.get("path")
        if path:
            default_storage.delete(path)


def file_response(description: object) -> FileResponse:
    """Serves a stored file as `serving` decides (inline raster images, everything else downloaded), sandboxed and
    never sniffed. The caller checked who may have it; a missing file is a 404."""
    if not isinstance(description, dict):
        raise Http404
    path = description.get("path")
    if not isinstance(path, str) or not path or not default_storage.exists(path):
        raise Http404
    content_type, inline = serving(description.get("content_type"))
    # FileResponse quotes the name (RFC 5987 filename*= for non-ASCII), so CR/LF or quotes cannot inject headers
    response = FileResponse(default_storage.open(path, "rb"), as_attachment=not inline,
                            filename=str(description.get("name") or "archivo"), content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = ATTACHMENT_CSP
    return response
