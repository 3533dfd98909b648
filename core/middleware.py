from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from core.crypto import SecretDecryptionError
from core.request_context import (
    RequestOrigin,
    peer_is_trusted_proxy,
    reset_origin,
    resolve_client_ip,
    set_origin,
)
from core.views import healthz, readyz

logger = logging.getLogger(__name__)


def client_ip(request: HttpRequest) -> str | None:
    """The one place a request's client address is read: login throttling, rate limits, audit, intake rows.

    X-Forwarded-For counts only when the direct peer is in TRUSTED_PROXIES (docs/deployment.md).
    """
    return resolve_client_ip(request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR"))


PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {"/healthz": healthz, "/readyz": readyz}


class HealthProbeMiddleware:
    """Answers /healthz and /readyz before anything reads the Host header, so a probe on 127.0.0.1 (a container
    healthcheck, a load balancer hitting the backend's address) gets its answer when ALLOWED_HOSTS holds only the
    public name. Runs first: no session, CSRF, locale or redirect work for a probe; nothing else is exempted."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        if probe is not None and request.method in {"GET", "HEAD"}:
            return probe(request)
        return self.get_response(request)


class TrustedProxyHeadersMiddleware:
    """Drops X-Forwarded-Proto unless a trusted proxy sent the request, so SECURE_PROXY_SSL_HEADER cannot be forged.

    Daphne runs without --proxy-headers (it would trust the left-most, client-written address), so the scheme
    behind a TLS-terminating proxy comes from this header instead. Must run before SecurityMiddleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "HTTP_X_FORWARDED_PROTO" in request.META and not peer_is_trusted_proxy(request.META.get("REMOTE_ADDR")):
            del request.META["HTTP_X_FORWARDED_PROTO"]
        return self.get_response(request)


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        via = "api" if request.path.startswith("/api/") else "web"
        token = set_origin(
            RequestOrigin(ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")[:300], via=via)
        )
        try:
            return self.get_response(request)
        finally:
            reset_origin(token)


class ApiJsonErrorsMiddleware:
    """Errors Django answers itself under /api/ (unknown path, a crash outside a view) become the JSON envelope.

    Errors inside API views are mapped by `core.api.install_error_handlers`; this catches what never
    reached ninja, so an API client never has to parse an HTML page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/api/") or response.get("Content-Type", "").startswith("application/json"):
            return response
        if response.status_code == 404:
            return JsonResponse({"detail": _("No se encontró el recurso solicitado."), "code": "not_found"},
                                status=404)
        if response.status_code == 405:
            allowed = JsonResponse({"detail": _("Método no permitido."), "code": "method_not_allowed"}, status=405)
            allowed["Allow"] = response.get("Allow", "")
            return allowed
        if response.status_code == 500:
            return JsonResponse({"detail": _("Error interno del servidor. Inténtelo de nuevo más tarde."),
                                 "code": "server_error"}, status=500)
        return response


class SecretDecryptionErrorMiddleware:
    """A stored secret that no FIELD_ENCRYPTION_KEY opens (a wrong or missing key after a deploy) answers 503 with
    a sentence, and logs one line naming the field and the fix, instead of a 500 with a stack trace. Last in
    MIDDLEWARE, so its process_exception runs first. API views are covered by core.api's handler."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, SecretDecryptionError):
            return None
        logger.error("%s", exception)
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": exception.user_message(), "code": exception.code}, status=503)
        return HttpResponse(exception.user_message(), status=503, content_type="text/plain; charset=utf-8")
