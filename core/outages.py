"""What "a dependency is away" raises — not bad data, not a bug — defined once for everything that rides out an
outage: the worker and the scheduler, enqueueing after commit, the cache, the shared Kommo rate limiter, webhook
processing. (redis is a dependency of every install; the embedded mode just never connects.)"""

from __future__ import annotations

import redis.exceptions
from django.db import InterfaceError, OperationalError

REDIS_DOWN: tuple[type[Exception], ...] = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
# SQLite "database is locked" past the busy timeout, a lost PostgreSQL connection
DATABASE_DOWN: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
DEPENDENCY_DOWN: tuple[type[Exception], ...] = (*DATABASE_DOWN, *REDIS_DOWN)
