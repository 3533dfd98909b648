"""What the webhook intakes share (Kommo, WhatsApp): storing a group-committed batch of raw bodies."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

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
