"""Exponential backoff with jitter, in one place (outboxes, webhook retries, vendor clients).

The n-th retry waits base·2^(n-1) seconds, at most `cap`, times a random factor in [1 - jitter, 1 + jitter], so that
many rows failing together (a vendor outage) do not all come back at the same instant. Each caller keeps its own
constants (a Kommo outbox row can wait half an hour; an HTTP retry inside one call, a second).
"""

from __future__ import annotations

import random
from datetime import timedelta


def jittered(seconds: float, jitter: float = 0.2) -> float:
    return seconds * random.uniform(1 - jitter, 1 + jitter)  # noqa: S311 - spreading retries, not security


def backoff_seconds(attempt: int, *, base: float, cap: float = float("inf"), jitter: float = 0.2) -> float:
    """Seconds before retry number `attempt` (1 = the first retry)."""
    return jittered(min(cap, base * 2 ** max(0, attempt - 1)), jitter)


def backoff(attempt: int, *, base: float, cap: float, jitter: float = 0.2) -> timedelta:
    return timedelta(seconds=backoff_seconds(attempt, base=base, cap=cap, jitter=jitter))
