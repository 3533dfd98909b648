from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from core.request_context import RequestOrigin, reset_origin, set_origin


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is trusted only behind a configured proxy (docs/deployment.md).
    return request.META.get("REMOTE_ADDR") or None


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
