"""Test settings: the real settings with in-process layers and a test DB name pinned.

DATABASE_URL / REDIS_URL still choose SQLite or PostgreSQL (and Redis) for the whole run.
"""

import os
import re
import tempfile
from pathlib import Path

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("TASK_BACKEND", "dummy")
os.environ.setdefault("CHANNEL_LAYER", "memory")

from config.settings import *  # noqa: F403
from config.settings import DATA_DIR, DATABASES

DEBUG = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; never in production
WHITENOISE_AUTOREFRESH = True
KOMMO_CLIENT_BACKOFF = 0.02  # the fake Kommo answers at once; retries need no real waiting in tests
# Explicit test DB name: the forked live server must open the same database (STACK.md pitfall 9);
# for SQLite it must be a file the child process can see.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-{_worker}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_centralita_{_worker}"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # No pool in tests: live-server threads would keep pooled connections open across the flush between
    # transactional tests (TRUNCATE then waits on them). The pool is exercised by the benchmarks and
    # core/tests/test_settings_env.py checks it is configured.
    DATABASES["default"].get("OPTIONS", {}).pop("pool", None)

# Attachments written by tests go to a throwaway folder, never to data/media.
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="centralita-test-media-"))

# Each xdist worker its own Redis database for the cache: RedisCache.clear() is FLUSHDB, and the per-test cache
# reset of one worker must not wipe the other's counters (a rate limit mid-test).
if CACHES["default"]["BACKEND"] == "core.cache.TolerantRedisCache":
    _cache_db = 8 + (int(_worker[2:]) + 1 if _worker.startswith("gw") and _worker[2:].isdigit() else 0)
    CACHES["default"]["LOCATION"] = re.sub(r"/\d*$", f"/{_cache_db}", str(CACHES["default"]["LOCATION"]).rstrip("/"))
