"""The cache of scale mode: Django's Redis cache, degrading to "no cache" while Redis is unreachable.

The cache only saves work (dashboard results, inbox counts, who is viewing a conversation, web-chat rate counters);
Redis being down for a few seconds must not turn pages and the API into 500s. Every operation here answers as a
cache miss when Redis cannot be reached (or does not answer within the short socket timeouts set in settings),
and logs one warning per outage rather than one per call. After a failure it does not ask Redis again for DOWN_FOR
seconds, so a Redis that hangs costs one timeout every two seconds, not one per cache call. Rate limits fail open
meanwhile (docs/operations.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache.backends.redis import RedisCache

from core.outages import REDIS_DOWN

logger = logging.getLogger(__name__)
WARN_EVERY = 60.0
DOWN_FOR = 2.0


class TolerantRedisCache(RedisCache):
    _last_warning = 0.0
    _down_until = 0.0  # after a failure, Redis is not asked again for DOWN_FOR seconds (no timeout per call)

    def _degrade[T](self, operation: str, fallback: T, call: Callable[[], T]) -> T:
        if time.monotonic() < TolerantRedisCache._down_until:
            return fallback
        try:
            return call()
        except REDIS_DOWN as exc:
            now = time.monotonic()
            TolerantRedisCache._down_until = now + DOWN_FOR
            if now - TolerantRedisCache._last_warning > WARN_EVERY:
                TolerantRedisCache._last_warning = now
                logger.warning("cache unavailable (%s on %s): working without it", exc, operation)
            return fallback

    def add(self, key: Any, value: Any, timeout: Any = None, version: int | None = None) -> bool:
        return self._degrade("add", False, lambda: super(TolerantRedisCache, self).add(key, value, timeout, version))

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._degrade("get", default, lambda: super(TolerantRedisCache, self).get(key, default, version))

    def set(self, key: Any, value: Any, timeout: Any = None, version: int | None = None) -> None:
        self._degrade("set", None, lambda: super(TolerantRedisCache, self).set(key, value, timeout, version))

    def touch(self, key: Any, timeout: Any = None, version: int | None = None) -> bool:
        return self._degrade("touch", False, lambda: super(TolerantRedisCache, self).touch(key, timeout, version))

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._degrade("delete", False, lambda: super(TolerantRedisCache, self).delete(key, version))

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        return self._degrade("get_many", {}, lambda: super(TolerantRedisCache, self).get_many(keys, version))

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._degrade("has_key", False, lambda: super(TolerantRedisCache, self).has_key(key, version))

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        # As for a counter that starts now: a rate limit cannot count while Redis is away (fails open).
        return self._degrade("incr", delta, lambda: super(TolerantRedisCache, self).incr(key, delta, version))

    def set_many(self, data: dict[Any, Any], timeout: Any = None, version: int | None = None) -> list[Any]:
        return self._degrade("set_many", list(data),
                             lambda: super(TolerantRedisCache, self).set_many(data, timeout, version))

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        self._degrade("delete_many", None, lambda: super(TolerantRedisCache, self).delete_many(keys, version))

    def clear(self) -> None:
        self._degrade("clear", None, lambda: super(TolerantRedisCache, self).clear())
