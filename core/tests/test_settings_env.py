"""Settings read from the environment, checked in a fresh interpreter (settings are read once per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'\n"
    "from django.conf import settings\n"
    "db = settings.DATABASES['default']\n"
    "pool = db.get('OPTIONS', {}).get('pool')\n"
    "pool = pool and {k: getattr(v, '__qualname__', v) for k, v in pool.items()}\n"
    "print(json.dumps({'pool': pool, 'max_age': db['CONN_MAX_AGE'],\n"
    "                  'mailer': settings.MAILERS['default']['BACKEND']}))\n"
)


def _settings(tmp_path: Path, **env: str) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DB_POOL_SIZE", "SMTP_HOST"}}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, check=True,
                         env={**base, "DEBUG": "1", "DATA_DIR": str(tmp_path), **env})
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_postgresql_gets_a_connection_pool_by_default(tmp_path):
    # given a PostgreSQL URL and no pool setting / when settings load / then a bounded pool, no persistent conns,
    # whose connections are checked before use (one a restart or a proxy closed is replaced, not handed out)
    s = _settings(tmp_path, DATABASE_URL="postgres://u@127.0.0.1:5432/x")
    assert s["pool"] == {"min_size": 1, "max_size": 16, "timeout": 10,
                         "check": "ConnectionPool.check_connection"} and s["max_age"] == 0


def test_pool_can_be_turned_off_for_pgbouncer(tmp_path):
    s = _settings(tmp_path, DATABASE_URL="postgres://u@127.0.0.1:5432/x", DB_POOL_SIZE="0", DB_CONN_MAX_AGE="30")
    assert s["pool"] is None and s["max_age"] == 30


def test_notifications_use_smtp_only_when_configured(tmp_path):
    assert _settings(tmp_path)["mailer"] == "django.core.mail.backends.console.EmailBackend"
    assert _settings(tmp_path, SMTP_HOST="smtp.example.com")["mailer"] == "django.core.mail.backends.smtp.EmailBackend"
