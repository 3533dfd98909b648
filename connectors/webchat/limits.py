"""Fixed-window rate limits in Django's cache (per process with the embedded LocMem cache, shared through Redis at
scale). Windows are short, so a counter lost on restart only gives a visitor a fresh minute."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int


def limit(name: str) -> Limit:
    """Configurable in settings (WEBCHAT_LIMITS = {"message": (20, 60), ...}); these defaults otherwise."""
    defaults = {
        "message": (20, 60),       # messages a visitor may send per minute: brisk typing, not a script
        "visitor": (20, 3600),     # new visitors per address per hour: a household or office, not a bot farm
        "history": (60, 60),       # history loads per visitor per minute (reconnects re-sync)
        # typing signals per visitor: the widget sends one every 3 s while typing, and one more right after each
        # sent message (sending resets it), so a visitor who types, sends and types on sends 2–3 within seconds
        "typing": (4, 6),
    }
    count, seconds = {**defaults, **getattr(settings, "WEBCHAT_LIMITS", {})}[name]
    return Limit(int(count), int(seconds))


def hit(name: str, key: str, *, now: float | None = None) -> int:
    """Counts one event; returns 0 when allowed, else the seconds until the window resets (for Retry-After)."""
    rule = limit(name)
    now = time.time() if now is None else now
    window = int(now // rule.seconds)
    cache_key = f"webchat:rl:{name}:{key}:{window}"
    cache.add(cache_key, 0, timeout=rule.seconds + 1)
    try:
        used = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=rule.seconds + 1)
        used = 1
    if used <= rule.count:
        return 0
    return max(1, int((window + 1) * rule.seconds - now) + 1)
