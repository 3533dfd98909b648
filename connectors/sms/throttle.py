"""Pacing of sends per account (`SmsAccount.rate_per_second`), so that Twilio's 429 stays the exception.

`reserve(account_id, rate)` counts this send in the current wall-clock second (a counter in the cache: Redis when
REDIS_URL is set, so every worker shares it; the process's own memory otherwise, where one worker runs). Within the
rate it returns 0.0 (send now); beyond it, the seconds to wait: until the next second plus the send's place in the
line, so that a backlog leaves at the rate instead of all at once. A cache that fails is ignored (0.0): pacing is a
courtesy, Twilio's 429 (honoured by the sender) is the guarantee. Campaigns pace their batches with the same call.
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)


def reserve(account_id: int, rate: int, *, now: float | None = None) -> float:
    now = time.time() if now is None else now
    second = int(now)
    key = f"sms:rate:{account_id}:{second}"
    try:
        cache.add(key, 0, timeout=5)
        used = int(cache.incr(key))
    except ValueError:  # the key expired between add and incr
        cache.set(key, 1, timeout=5)
        used = 1
    except Exception:  # the cache is down: send, Twilio's 429 is the backstop
        logger.warning("sms pacing unavailable (cache error); sending unpaced", exc_info=True)
        return 0.0
    rate = max(1, rate)
    if used <= rate:
        return 0.0
    return (second + 1 - now) + (used - rate - 1) / rate
