"""Centralita settings: defaults, then the environment (config.env), then computed values.

Embedded mode (nothing set): SQLite file under data/, database-backed task queue, SQLite channel layer.
Scale mode (DATABASE_URL=postgres://… and REDIS_URL=redis://…): PostgreSQL, RQ on Redis, channels-redis.
See docs/configuration.md for every variable.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from config.env import env_bool, env_int, env_list, env_str
from core.crypto import check_fernet_keys, fernet_key_from_secret
from core.fileperms import make_private_dir

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "data")))
# A fresh clone has no data/ (git ignores it); SQLite needs the folder. It holds the database, logs and attachments:
# owner-only (0700), and SQLite files are made 0600 when opened (core.fileperms).
make_private_dir(DATA_DIR)

# --- Mode and secrets -------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: set SECRET_KEY in the environment, or DEBUG=1 for development mode."
        )
    SECRET_KEY = "centralita-development-only-key-never-use-in-production"  # noqa: S105

# Secrets at rest (vendor tokens, passwords): Fernet keys, comma-separated; the first encrypts, all decrypt
# (rotation: prepend a new key, run `manage.py rotate_encryption_keys`, then drop the old one). docs/security.md.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEY", [])
if not FIELD_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY is not set: set it to a Fernet key (python -c \"from cryptography.fernet import "
            "Fernet; print(Fernet.generate_key().decode())\"), or DEBUG=1 for development mode."
        )
    # Development only: a key derived from SECRET_KEY, so `make run` and the tests need no setup.
    FIELD_ENCRYPTION_KEYS = [fernet_key_from_secret(SECRET_KEY)]
check_fernet_keys("FIELD_ENCRYPTION_KEY", FIELD_ENCRYPTION_KEYS)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Reverse proxies (IPs or CIDRs) whose X-Forwarded-For / X-Forwarded-Proto are believed; empty: the headers are
# ignored and the TCP peer is the client (core.request_context.resolve_client_ip, docs/deployment.md).
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_proxy!r} is not an IP address or CIDR network") from _exc
# Only from a trusted proxy: core.middleware.TrustedProxyHeadersMiddleware strips the header from anyone else.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None

# --- Applications ---------------------------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",  # must come first so `runserver` serves websockets (STACK.md pitfall 12)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "channels_lite",
    "django_tasks_db",
    "django_htmx",
    "lucide",
    "ninja",
    "core",
    "accounts",
    "realtime",
    "customers",
    "leads",
    "crm",
    "catalog",
    "calls",
    "orders",
    "webhooks",
    "inbox",
    "connectors.whatsapp",
    "connectors.mail",
    "connectors.webchat",
    "connectors.sms",
    "automation",
    "knowledge",
    "bots",
    "campaigns",
    "insight",
    "reports",
    "teamchat",
    "announcements",
    "auditlog",
]

MIDDLEWARE = [
    "core.middleware.HealthProbeMiddleware",  # probes answer whatever the Host (ALLOWED_HOSTS: the public name)
    "core.middleware.TrustedProxyHeadersMiddleware",  # first: the scheme must be settled before anything reads it
    "django.middleware.security.SecurityMiddleware",
    # Adds the policy (SECURE_CSP) to every answer that has none of its own; attachments keep their sandbox CSP.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "core.middleware.RequestContextMiddleware",
    "core.middleware.ApiJsonErrorsMiddleware",
    "core.middleware.SecretDecryptionErrorMiddleware",  # last: a wrong FIELD_ENCRYPTION_KEY answers 503, not 500
]
# Largest request body (JSON, form fields; uploaded files do not count). The API answers 413 beyond it.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Longest texts accepted, in characters, on every path (pages, API, imports); docs/api.md "Limits". Like peers:
# WhatsApp refuses a text message over 4,096 characters; an email reply may carry a long quoted thread.
MESSAGE_MAX_LENGTH = 10_000  # a message on the API and phone channels, and any channel not listed below
MESSAGE_MAX_LENGTH_BY_CHANNEL = {"whatsapp": 4_096, "email": 100_000, "webchat": 2_000,
                                 "sms": 1_600}  # Twilio's Body limit (it splits it into segments)
NOTE_MAX_LENGTH = 5_000  # an internal note on a conversation or a lead

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",  # {{ csp_nonce }} for the few inline blocks
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
DEFAULT_SQLITE_PATH = DATA_DIR / "centralita.sqlite3"
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DEFAULT_SQLITE_PATH}")
_db: dict[str, Any] = dict(
    dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True)
)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + IMMEDIATE transactions: web, worker and scheduler share the file without
    # "database is locked" errors (STACK.md pitfall 14).
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        # Seconds a statement waits for another process's write lock before "database is locked"; the worker
        # and the scheduler retry past that (docs/operations.md), so a long import delays them, never kills them.
        "timeout": env_int("SQLITE_BUSY_TIMEOUT", 20),
    }
elif env_int("DB_POOL_SIZE", 16) > 0:
    # Under ASGI every request may run on a different thread: persistent per-thread connections (CONN_MAX_AGE)
    # pile up until PostgreSQL refuses more. A psycopg pool per process bounds them (Django docs, "Connection
    # pool"); DB_POOL_SIZE=0 falls back to DB_CONN_MAX_AGE (e.g. behind PgBouncer).
    _db["CONN_MAX_AGE"] = 0
    _db["CONN_HEALTH_CHECKS"] = False
    from psycopg_pool import ConnectionPool

    # `check`: a connection is tested (an empty query) before the pool hands it out, so one that PostgreSQL or a
    # proxy closed while it sat in the pool (a restart, an idle timeout) is replaced instead of failing a request
    # or a worker's next job.
    _db.setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": env_int("DB_POOL_SIZE", 16),
                                             "timeout": 10, "check": ConnectionPool.check_connection}
if _db["ENGINE"].startswith("django.db.backends.postgresql"):
    # No JIT: it compiles queries the planner over-estimates (a correlated count per chat membership: 175 ms of
    # compiling for 7.5 ms of running, measured by the team chat's unread-count bench); short OLTP queries never
    # gain from it.
    _db.setdefault("OPTIONS", {})["options"] = "-c jit=off"
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
IS_POSTGRES = _db["ENGINE"].startswith("django.db.backends.postgresql")
if IS_POSTGRES:
    INSTALLED_APPS += ["channels_postgres"]  # its tables back the Redis-less channel layer on PostgreSQL

# --- Redis, tasks, channel layer, cache --------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
TASK_BACKEND = env_str("TASK_BACKEND", "rq" if REDIS_URL else "db")
# Without Redis the layer goes through the database: channels-lite on SQLite, LISTEN/NOTIFY on PostgreSQL.
CHANNEL_LAYER = env_str("CHANNEL_LAYER", "redis" if REDIS_URL else ("postgres" if IS_POSTGRES else "lite"))
TASK_QUEUES = ["default", "crm", "messaging"]

_TASK_BACKENDS = {
    "db": "django_tasks_db.DatabaseBackend",
    "rq": "django_tasks_rq.RQBackend",
    "dummy": "django.tasks.backends.dummy.DummyBackend",
    "immediate": "django.tasks.backends.immediate.ImmediateBackend",
}
if TASK_BACKEND not in _TASK_BACKENDS:
    raise ImproperlyConfigured(f"TASK_BACKEND must be one of {sorted(_TASK_BACKENDS)}, got {TASK_BACKEND!r}")
if TASK_BACKEND == "rq" and not REDIS_URL:
    raise ImproperlyConfigured("TASK_BACKEND=rq needs REDIS_URL.")
TASKS = {"default": {"BACKEND": _TASK_BACKENDS[TASK_BACKEND], "QUEUES": TASK_QUEUES}}
if TASK_BACKEND == "rq":
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    # Short socket timeouts for enqueueing from web processes: a Redis that hangs (a network partition) must not hold
    # a webhook's answer for minutes; the work is stored and the safety nets queue it later. RQ's worker raises the
    # read timeout it needs for its own blocking dequeue.
    _rq_url = f"{REDIS_URL}{'&' if '?' in REDIS_URL else '?'}socket_connect_timeout=1&socket_timeout=5"
    RQ_QUEUES = {name: {"URL": _rq_url, "DEFAULT_TIMEOUT": 600} for name in TASK_QUEUES}

if CHANNEL_LAYER == "redis":
    if not REDIS_URL:
        raise ImproperlyConfigured("CHANNEL_LAYER=redis needs REDIS_URL.")
    CHANNEL_LAYERS = {
        # One event to 200 people is 200 group sends at once: redis-py's default pool of 100 connections refused
        # half of them (MaxConnectionsError, logged as "not delivered"), measured by the team chat's fan-out bench.
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                    "CONFIG": {"hosts": [{"address": REDIS_URL, "max_connections": 1000}], "capacity": 2000}}
    }
elif CHANNEL_LAYER == "lite":
    # Carries events from the worker process to the web process with no extra server.
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_lite.layers.core.SQLiteChannelLayer", "CONFIG": {"database": "default"}}
    }
elif CHANNEL_LAYER == "postgres":
    if not IS_POSTGRES:
        raise ImproperlyConfigured("CHANNEL_LAYER=postgres needs a PostgreSQL DATABASE_URL.")
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "realtime.layers.PostgresChannelLayer",  # channels-postgres, one listener per loop
            "CONFIG": {**{k: v for k, v in _db.items() if k in {"ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT"}},
                       "TIME_ZONE": None, "PSYCOPG_OPTIONS": {"min_size": 1, "max_size": 4}},
        }
    }
elif CHANNEL_LAYER == "memory":
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
else:
    raise ImproperlyConfigured(f"CHANNEL_LAYER must be lite, postgres, redis or memory, got {CHANNEL_LAYER!r}")

if REDIS_URL:
    # A cache miss, not a 500, while Redis is unreachable (core.cache); short timeouts so a lost Redis costs
    # a request half a second at most.
    CACHES = {"default": {"BACKEND": "core.cache.TolerantRedisCache", "LOCATION": REDIS_URL,
                          "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -----------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "accounts.actions.NotOnlyWhitespacePasswordValidator"},  # Django's four accept "          "
]
# Login throttling within LOGIN_LOCKOUT_SECONDS: LOGIN_FAILURE_LIMIT failures for one username from one address,
# LOGIN_IP_FAILURE_LIMIT from one address across usernames, LOGIN_USERNAME_FAILURE_LIMIT for one username from all
# addresses (a backstop high enough that a stranger cannot lock a colleague out by typing their name five times).
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_IP_FAILURE_LIMIT = env_int("LOGIN_IP_FAILURE_LIMIT", 20)
LOGIN_USERNAME_FAILURE_LIMIT = env_int("LOGIN_USERNAME_FAILURE_LIMIT", 50)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900)

# --- HTTPS, cookies and security headers (docs/deployment.md, "Production security settings") --------------
# Cookies are Secure unless DEBUG. Redirects and HSTS are switched on from the environment in production, where
# `manage.py check --deploy` is clean with the values that page lists (core/tests/test_deploy_checks.py).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=SESSION_COOKIE_SECURE)
# Behind a TLS-terminating proxy this needs TRUSTED_PROXIES (which sets SECURE_PROXY_SSL_HEADER above): without
# it every request looks like plain HTTP and is redirected forever.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
# Load balancers and container health checks probe over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# Sent on HTTPS answers only. Browsers remember it for this long and refuse plain HTTP meanwhile: start low
# (3600), raise to a year (31536000) once everything works; subdomains and preload commit the whole domain.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"  # conversation and lead URLs never leak to links followed off-site
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"  # and CSP frame-ancestors 'none': no page of ours is meant to be framed

# --- Internationalisation --------------------------------------------------------------------------
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "es")
LANGUAGES = [("es", _("Español")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = env_str("TIME_ZONE", "America/Bogota")
USE_I18N = True
USE_TZ = True

# --- Static files ------------------------------------------------------------------------------------
STATIC_URL = "/static/"
# `collectstatic` writes here (for nginx or a CDN); WhiteNoise also serves what is here. It is created empty
# up front: WhiteNoise warns "No directory at: …" at every start when STATIC_ROOT does not exist.
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS: list[Path] = []
WHITENOISE_USE_FINDERS = True  # serve straight from app static dirs; no collectstatic needed to run

# Uploaded and downloaded files (message attachments). Never served publicly: inbox.attachments serves them
# after checking the conversation is visible to the user.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "/media/"
ATTACHMENT_MAX_BYTES = int(env_str("ATTACHMENT_MAX_BYTES", str(25 * 1024 * 1024)))

# A confirmed order's sales count for the customer's open conversation, else for one resolved this many days ago
# at most (the dashboard counts sales through their conversation).
SALE_CONVERSATION_DAYS = env_int("SALE_CONVERSATION_DAYS", 30)

# Conversations older than the dashboard's two-year horizon: "keep" (archived in place, excluded from reports)
# or "delete" (a daily job removes them).
RETENTION_MODE = env_str("RETENTION_MODE", "keep")
if RETENTION_MODE not in {"keep", "delete"}:
    raise ImproperlyConfigured(f"RETENTION_MODE must be keep or delete, got {RETENTION_MODE!r}")

# --- Outgoing system mail (notifications: assignment, mention, task due) -----------------------------
# Customer email goes through each mailbox's own SMTP (connectors.mail); this is Centralita's own mail.
# Without SMTP_HOST notifications are written to the log (console backend) instead of being lost silently.
SMTP_HOST = env_str("SMTP_HOST")
MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {"host": SMTP_HOST, "port": env_int("SMTP_PORT", 587), "username": env_str("SMTP_USER"),
                    "password": env_str("SMTP_PASSWORD"), "use_tls": env_bool("SMTP_TLS", True),
                    "timeout": 20},
    } if SMTP_HOST else {"BACKEND": "django.core.mail.backends.console.EmailBackend"},
}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Centralita <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The largest mail most servers accept (Gmail, Microsoft 365: 25 MB); answers whose files would not fit once
# base64-encoded are refused before they are stored.
MAIL_MAX_MESSAGE_BYTES = int(env_str("MAIL_MAX_MESSAGE_BYTES", str(25 * 1024 * 1024)))
MAIL_CA_FILE = env_str("MAIL_CA_FILE") or None  # a private CA for mail servers with their own certificate

# --- Logging -------------------------------------------------------------------------------------
# LOG_FILE: also write LOG_LEVEL and above to this file (one file per process; `make run` uses data/*.log).
# LOG_CONSOLE_LEVEL: the console's own threshold, so `make run` keeps its terminal to warnings and errors while
# the task chatter goes to the files.
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FILE = env_str("LOG_FILE")
# Every handler drops secret webhook paths from what it writes (core.access_log.RedactSecretPaths).
_log_handlers: dict[str, dict[str, Any]] = {
    "console": {"class": "logging.StreamHandler", "formatter": "plain",
                "level": env_str("LOG_CONSOLE_LEVEL", "NOTSET"), "filters": ["redact_secret_paths"]},
}
if LOG_FILE:
    _log_handlers["file"] = {"class": "logging.FileHandler", "formatter": "plain", "filename": LOG_FILE,
                             "encoding": "utf-8", "filters": ["redact_secret_paths"]}
# ACCESS_LOG_FILE: the HTTP access log (core.access_log, logger centralita.access; secret webhook paths never appear)
# goes to this file only; unset, its lines go wherever LOG_LEVEL INFO lines go (the console, LOG_FILE).
ACCESS_LOG_FILE = env_str("ACCESS_LOG_FILE")
_access_logger: dict[str, Any] = {"level": "INFO"}
if ACCESS_LOG_FILE:
    _access_logger.update(handlers=["access_file"], propagate=False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
                   "access": {"format": "%(asctime)s %(message)s"}},
    "filters": {"require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
                "redact_secret_paths": {"()": "core.access_log.RedactSecretPaths"}},
    "handlers": {**_log_handlers, "mail_admins": {"level": "ERROR",
                                                  "filters": ["require_debug_false", "redact_secret_paths"],
                                                  "class": "django.utils.log.AdminEmailHandler"},
                 **({"access_file": {"class": "logging.FileHandler", "formatter": "access",
                                     "filename": ACCESS_LOG_FILE, "encoding": "utf-8"}} if ACCESS_LOG_FILE else {})},
    "root": {"handlers": list(_log_handlers), "level": LOG_LEVEL},
    "loggers": {
        # Django's default "django" logger has a console handler of its own (DEBUG only) that ignores
        # LOG_CONSOLE_LEVEL and printed every task the worker ran; its records go through the root handlers.
        "django": {"handlers": ["mail_admins"], "level": LOG_LEVEL},
        "django.channels.server": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        # "Group … does not exist, did you call group_add?" for every event sent to a topic nobody has open right
        # now (a normal state: no agent connected): noise, not a warning.
        "channels_postgres.database": {"level": "ERROR"},
        "centralita.access": _access_logger,
    },
}

# --- Product settings -----------------------------------------------------------------------------
PHONE_REGION = env_str("PHONE_REGION", "CO")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")
API_PAGE_SIZE = env_int("API_PAGE_SIZE", 50)
API_MAX_PAGE_SIZE = 500
# Seconds after a user's last websocket closes before they are set "desconectado" (0 disables).
AUTO_OFFLINE_SECONDS = env_int("AUTO_OFFLINE_SECONDS", 120)

# Knowledge base: the public help pages (/ayuda/<es|en>/…, no login, published articles only) and the article links
# the composer and the bot offer. Off by default: an installation opts in once its articles are meant to be public.
KNOWLEDGE_PUBLIC_HELP = env_bool("KNOWLEDGE_PUBLIC_HELP", default=False)
# The bot's HTTP step calls public addresses only; on lets a flow call services on the internal network.
BOT_HTTP_ALLOW_PRIVATE = env_bool("BOT_HTTP_ALLOW_PRIVATE", default=False)

# Orders: the currency of prices and totals (ISO 4217).
CURRENCY = env_str("CURRENCY", "COP")
# The postal address campaign emails show in their footer (anti-spam laws ask for one); empty shows none.
CAMPAIGN_POSTAL_ADDRESS = env_str("CAMPAIGN_POSTAL_ADDRESS", "")
# How amounts show their currency, for the whole organization: "code" (828.800 COP) or "symbol" ($ 828.800).
MONEY_DISPLAY = env_str("MONEY_DISPLAY", "code")
if MONEY_DISPLAY not in ("code", "symbol"):
    raise ImproperlyConfigured("MONEY_DISPLAY must be 'code' or 'symbol'.")
# Kommo sync outbox: attempts before a row is parked as failed (exponential backoff with jitter between them).
KOMMO_SYNC_MAX_ATTEMPTS = env_int("KOMMO_SYNC_MAX_ATTEMPTS", 12)
# Outgoing webhooks: attempts before a message is parked as failed.
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 10)
# Days the domain-event log (GET /api/v1/events) keeps events; older ones are pruned daily.
EVENT_LOG_RETENTION_DAYS = env_int("EVENT_LOG_RETENTION_DAYS", 90)
# Kommo client: first retry delay in seconds within one call (doubles per attempt, 4 attempts).
KOMMO_CLIENT_BACKOFF = float(env_str("KOMMO_CLIENT_BACKOFF", "0.5"))
# Inbox: a customer writing again within this many days reopens the resolved conversation (new cycle).
INBOX_REOPEN_DAYS = env_int("INBOX_REOPEN_DAYS", 7)
# Minutes an assigned conversation may wait for the agent's first answer before returning to the pool.
INBOX_FIRST_ANSWER_MINUTES = env_int("INBOX_FIRST_ANSWER_MINUTES", 15)
# Kommo: override https://{subdomain}.kommo.com (a local fake Kommo in tests and demo mode).
KOMMO_BASE_URL = env_str("KOMMO_BASE_URL")
KOMMO_OAUTH_URL = env_str("KOMMO_OAUTH_URL", "https://www.kommo.com/oauth")
# Demo mode: `make run` starts a fake Kommo and enables the "Simular lead" button.
KOMMO_DEMO = env_bool("KOMMO_DEMO", default=False)

# --- Content-Security-Policy (docs/security.md) -------------------------------------------------------------
# Scripts and styles come only from our own static files: no inline scripts or event-handler attributes, no
# eval, no style="" attributes (core/tests/test_csp.py scans every template). The one inline block, the brand
# colour in base.html, carries the per-request nonce. Attachments answer with a sandbox CSP of their own, which
# the middleware leaves alone (it never replaces a header a view set).


def _origin(url: str, *, websocket: bool = False) -> list[str]:
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme) if websocket else parts.scheme
    return [f"{scheme}://{parts.netloc}"] if scheme and parts.netloc else []


_CSP_POLICY: dict[str, list[str]] = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:", "blob:"],
    # 'self' covers ws(s):// on the same host in current browsers; the public address is listed for older ones.
    "connect-src": [CSP.SELF, *_origin(SITE_URL, websocket=True)],
    "frame-ancestors": [CSP.NONE],  # the web-chat widget is a script on the customer's page, never a frame
    # Browsers also apply form-action to the redirect a form answers with: connecting Kommo by OAuth posts the
    # settings form, which redirects to Kommo's consent page.
    "form-action": [CSP.SELF, *_origin(KOMMO_OAUTH_URL)],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
# CSP_REPORT_ONLY=1: browsers report violations in the console instead of blocking (a way out if a browser
# extension or a proxy's injected script breaks a page, while it is fixed).
CSP_REPORT_ONLY = env_bool("CSP_REPORT_ONLY", default=False)
SECURE_CSP = {} if CSP_REPORT_ONLY else _CSP_POLICY
SECURE_CSP_REPORT_ONLY = _CSP_POLICY if CSP_REPORT_ONLY else {}
