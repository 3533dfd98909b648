"""The HTTP access log, written by the app instead of daphne (logger ``centralita.access``), without secrets.

Daphne's ``--access-log`` writes the full request URI, so the Kommo and email webhook URLs, whose path *is* their
credential, and query strings such as Meta's ``hub.verify_token`` ended up in a plain-text file. This ASGI
middleware wraps the whole application (config/asgi.py), so it sees the fast webhook routes that skip Django's
middleware too, and logs one line per request:

    203.0.113.7 "POST [crm:webhook]" 200 0 3ms
    203.0.113.7 "GET /settings/mail/4/?page=…" 200 5120 41ms

* A path under a route whose view is marked ``@secret_path`` is logged as that route's name. The prefix check
  runs on the decoded path, so an unresolvable variant (no trailing slash, percent-encoded letters) is caught too.
* Query strings keep their parameter names only; every value is replaced by "…" (tokens, OAuth codes, search terms
  with customers' names).
* Other paths are logged as sent (percent-encoded, so a %0A cannot forge a log line).

Daphne must run with ``-v 0`` and without ``--access-log`` (scripts/run.sh, ``manage.py serve``, the systemd unit);
``ACCESS_LOG_FILE`` sends these lines to a file of their own (the settings' LOGGING).

Django itself logs the path of every 4xx/5xx answer ("Not Found: /integrations/mail/raw/<token>/") and mails
admins the request of a 500: ``RedactSecretPaths``, a filter on every log handler, rewrites those too.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, quote

from django.apps import apps
from django.urls import URLResolver, get_resolver

from core.request_context import client_ip_from_scope

logger = logging.getLogger("centralita.access")
MAX_TARGET = 400


def secret_path[View: Callable[..., Any]](view: View) -> View:
    """Marks a view whose URL carries a secret: the access log writes its route name, never the path."""
    view.secret_path = True  # type: ignore[attr-defined]
    return view


def _walk(patterns: list[Any], prefix: str, namespace: str) -> Iterator[tuple[str, str]]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern).lstrip("^")
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(pattern.url_patterns, route, inner)
        elif getattr(pattern.callback, "secret_path", False):
            # The literal part of the route, up to its first converter or regex construct.
            yield "/" + re.split(r"[<(\[\\?*+$]", route, maxsplit=1)[0], namespace + (pattern.name or "")


@cache
def secret_prefixes() -> tuple[tuple[str, str], ...]:
    """(literal path prefix, route name) of every route marked @secret_path, from the URLconf."""

    return tuple(_walk(get_resolver().url_patterns, "", ""))


def secret_route(path: str) -> str | None:
    """The route name ("[crm:webhook]") standing in for `path` when it is under a secret route, else None."""
    for prefix, name in secret_prefixes():
        if path.startswith(prefix):
            return f"[{name}]"
    return None


def loggable_target(path: str, raw_path: bytes | None, query_string: bytes) -> str:
    """The request target as it may appear in a log: secret routes by name, query values masked."""
    route = secret_route(path)
    if route is not None:
        return route
    # As sent (percent-encoded), so a decoded %0A cannot start a forged line.
    shown = raw_path.decode("ascii", "backslashreplace") if raw_path else quote(path, safe="/:@!$&'()*+,;=~")
    if query_string:
        names = [key for key, _value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)]
        shown += "?" + "&".join(f"{key.encode('ascii', 'backslashreplace').decode('ascii')}=…" for key in names)
    return shown[:MAX_TARGET]


class AccessLogMiddleware:
    """ASGI middleware: one `centralita.access` line per HTTP request and per websocket session."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket") or not logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        state: dict[str, Any] = {"status": None, "size": 0, "accepted": False}

        async def observed_send(message: dict[str, Any]) -> None:
            kind_of = message.get("type")
            if kind_of == "http.response.start":
                state["status"] = message.get("status")
            elif kind_of == "http.response.body":
                state["size"] += len(message.get("body", b""))
            elif kind_of == "websocket.accept":
                state["accepted"] = True
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            self._log(scope, state, started)

    @staticmethod
    def _log(scope: dict[str, Any], state: dict[str, Any], started: float) -> None:
        try:
            target = loggable_target(scope.get("path", ""), scope.get("raw_path"), scope.get("query_string", b""))
            elapsed = round((time.monotonic() - started) * 1000)
            client = client_ip_from_scope(scope) or "-"
            if scope["type"] == "websocket":
                status = 101 if state["accepted"] else 403
                logger.info('%s "WS %s" %s - %dms', client, target, status, elapsed)
            else:
                logger.info('%s "%s %s" %s %d %dms', client, scope.get("method", "-"), target,
                            state["status"] or 500, state["size"], elapsed)
        except Exception:  # the log must never break a request
            logger.exception("access log line not written")


class RedactSecretPaths(logging.Filter):
    """On every log handler (settings.LOGGING): a path under a secret route, passed as a log argument (Django's
    "Not Found: %s", core.api's "Internal Server Error: %s"), is replaced by its route name, and the request of
    such a record is dropped, so the admins' error mail does not carry the URL either."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not apps.ready:  # the URLconf cannot be read yet, and nothing has been requested
            return True
        try:
            request = getattr(record, "request", None)
            if request is not None and secret_route(getattr(request, "path", "") or "") is not None:
                record.request = None
            if isinstance(record.args, tuple) and record.args:
                # Django escapes these arguments (unicode_escape); the secret prefixes are plain ASCII either way.
                record.args = tuple((secret_route(arg) or arg) if isinstance(arg, str) else arg for arg in record.args)
        except Exception:  # noqa: S110 - a filter must never lose the record
            pass
        return True
