"""Race-free upserts keyed by an external id (a Kommo lead or contact id, a phone, a channel's message id).

`select_for_update()` cannot lock a row that does not exist yet: two workers applying two webhooks about the same
new Kommo lead both find nothing and both insert, and the second insert fails on the unique key. `race_free` runs
the upsert inside a savepoint and, when it fails on a unique key, rolls back to the savepoint and runs it again:
by then the other transaction has committed (PostgreSQL makes the second insert wait for the first transaction and
raises only once it committed), so the second run finds the row and updates it. On SQLite the same code is simply
never raced (transactions start IMMEDIATE: one writer at a time).

The retried function must be an upsert — safe to run again from the start, writing only through the database (its
on-commit hooks of a rolled-back savepoint are discarded by Django).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from django.db import IntegrityError, transaction

logger = logging.getLogger(__name__)
ATTEMPTS = 3  # a key can be raced once per concurrent writer; two retries cover a burst of three


def race_free[**P, R](func: Callable[P, R]) -> Callable[P, R]:
    """Runs `func` in a savepoint, again (up to ATTEMPTS times) when a concurrent insert of the same key won."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with transaction.atomic():
                    return func(*args, **kwargs)
            except IntegrityError:
                if attempt == ATTEMPTS:
                    raise
                logger.info("%s: a concurrent insert of the same key won; running again (%d)",
                            func.__qualname__, attempt)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    return wrapper
