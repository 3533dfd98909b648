"""What the webhook intakes share (Kommo, WhatsApp): reading a capped body, storing a group-committed batch of raw
bodies."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from django.db import DatabaseError, DataError, IntegrityError, InterfaceError, OperationalError

logger = logging.getLogger(__name__)


def store_batch_or_each[T](store: Callable[[list[T]], list[int]], items: Sequence[T], *,
                           what: str) -> list[int | None]:
    """Stores the batch with `store` (one transaction). If that fails for one request's data (IntegrityError,
    DataError), each is stored on its own (None = this one could not be stored; one alone re-raises); a locked or
    lost database re-raises at once for the whole batch."""
    try:
        return list(store(list(items)))
    except (OperationalError, InterfaceError):
        raise  # the database itself (locked, connection lost): one by one would only multiply the waits
    except DatabaseError:
        if len(items) == 1:
            raise
        logger.warning("%s batch of %d not stored at once; storing each on its own", what, len(items))
    ids: list[int | None] = []
    last: IntegrityError | DataError | None = None
    for item in items:
        try:
            ids.extend(store([item]))
        except (OperationalError, InterfaceError):
            raise  # the database went away mid-way: the rest would wait for the same lock or connection
        except (IntegrityError, DataError) as exc:  # this request's own data
            logger.exception("%s not stored", what)
            ids.append(None)
            last = exc
    if last is not None and all(pk is None for pk in ids):
        raise last  # the database itself is in trouble, not one request: the caller resets the connection
    return ids


async def read_capped_body(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                           limit: int) -> tuple[bytes, bool]:
    """The request body of an ASGI HTTP request, and whether it is larger than `limit` bytes.

    An over-size body is refused before it is read: when `Content-Length` announces more than `limit`, nothing is
    read; otherwise reading stops at the chunk that crosses the limit (the rest is never buffered). The caller then
    answers 413 at once; returned is what was read, at most `limit` bytes (kept as evidence on a rejected row)."""
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                announced = int(value)
            except ValueError:
                announced = 0
            if announced > limit:
                return b"", True
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        if size + len(chunk) > limit:
            chunks.append(chunk[:limit - size])
            return b"".join(chunks), True
        size += len(chunk)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks), False
