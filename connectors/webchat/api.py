"""The widget's REST endpoints (public: no session, no CSRF cookie): configuration, pre-chat, history and sending
as a fallback for the socket. Shaped like Chatwoot's widget API: the site token in the query string (`?site=`),
the visitor's signed token in the `X-Visitor-Token` header, JSON in and out.

CSRF protection does not apply: nothing here reads cookies, so a forged cross-site request carries no identity;
what authorizes a call is the site token, the visitor token and the site's allowed origins (CORS).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from connectors.webchat import actions, limits
from connectors.webchat.models import ChatSite
from connectors.webchat.origins import add_cors_headers
from connectors.webchat.selectors import (
    cached_agents_available,
    history,
    message_payload,
    visitor_payload,
    widget_config,
)
from connectors.webchat.tokens import sign_visitor
from core.api import InvalidBody, strict_json_loads
from core.errors import ActionError
from core.middleware import client_ip

MAX_BODY = 32_768  # bytes; a 2,000-character message in JSON is far below
View = Callable[[HttpRequest, ChatSite], HttpResponse]


def _error(exc: ActionError) -> JsonResponse:
    response = JsonResponse({"code": exc.code, "message": exc.message, **exc.details}, status=exc.status)
    if exc.details.get("retry_after"):
        response["Retry-After"] = str(exc.details["retry_after"])
    return response


def widget_endpoint(methods: tuple[str, ...]) -> Callable[[View], Callable[[HttpRequest], HttpResponseBase]]:
    """Site lookup, origin check, CORS (with preflight) and error mapping for every widget endpoint."""

    def decorator(view: View) -> Callable[[HttpRequest], HttpResponseBase]:
        @csrf_exempt
        @never_cache
        @wraps(view)
        def wrapped(request: HttpRequest) -> HttpResponseBase:
            origin = request.headers.get("Origin", "")
            try:
                site = actions.access_site(request.GET.get("site", ""))
                actions.check_origin(site, origin=origin, host=request.get_host())
            except ActionError as exc:
                return _error(exc)  # no CORS headers: the browser hides the answer from a foreign page
            if request.method == "OPTIONS":
                response: HttpResponseBase = HttpResponse(status=204)
            elif request.method not in methods:
                response = JsonResponse({"code": "method_not_allowed", "message": _("Método no permitido.")},
                                        status=405)
                response["Allow"] = ", ".join((*methods, "OPTIONS"))
            else:
                try:
                    response = view(request, site)
                except ActionError as exc:
                    response = _error(exc)
            return add_cors_headers(response, origin, preflight=request.method == "OPTIONS") if origin else response

        return wrapped

    return decorator


def _json_body(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_BODY:
        raise ActionError("too_large", _("La solicitud es demasiado grande."))
    try:
        # The API's strict reading: a lone surrogate or a 30-digit number is a clear 400 here, before any work.
        data = strict_json_loads(request.body or b"{}", allow_nul=True)  # control characters are dropped later
    except InvalidBody as exc:
        if exc.field:
            raise ActionError("invalid_text", exc.message, field=exc.field) from None
        raise ActionError("invalid_json", exc.message) from None
    except ValueError:
        raise ActionError("invalid_json", _("JSON inválido.")) from None
    if not isinstance(data, dict):
        raise ActionError("invalid_json", _("Se espera un objeto JSON."))
    return data


def _visitor(request: HttpRequest, site: ChatSite) -> Any:
    return actions.access_visitor(site, request.headers.get("X-Visitor-Token", ""))


def _client_key(request: HttpRequest) -> str:
    # The resolved client address (X-Forwarded-For only from TRUSTED_PROXIES), so a visitor cannot pick its own key.
    return client_ip(request) or ""


def _int_param(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name, "")
    return int(raw) if raw.isdigit() else None


@widget_endpoint(("GET",))
def config(request: HttpRequest, site: ChatSite) -> HttpResponse:
    return JsonResponse(widget_config(site))


@widget_endpoint(("POST",))
def visitors(request: HttpRequest, site: ChatSite) -> HttpResponse:
    """The pre-chat form: creates a visitor (201) or, with a visitor token, completes their details (200)."""
    data = _json_body(request)
    token = request.headers.get("X-Visitor-Token", "")
    current = _visitor(request, site) if token else None
    visitor = actions.check_save_visitor(
        site, visitor=current, name=str(data.get("name") or ""), email=str(data.get("email") or ""),
        phone=str(data.get("phone") or ""), page_url=str(data.get("page_url") or ""),
        client_key=_client_key(request), online=cached_agents_available(site))
    return JsonResponse({"visitor_token": sign_visitor(site_id=site.pk, visitor_key=visitor.key),
                         "visitor": visitor_payload(visitor)}, status=200 if current else 201)


@widget_endpoint(("GET", "POST"))
def messages(request: HttpRequest, site: ChatSite) -> HttpResponse:
    """GET: history (`before=<id>` pages back, `after=<id>` syncs after a reconnect). POST: send a message
    (`{"content", "echo_id", "reply"?}`; `reply` = `{"id", "message_id"}` when a bot's option was pressed); 201
    when stored now, 200 when the echo id was already stored."""
    visitor = _visitor(request, site)
    if request.method == "GET":
        retry = limits.hit("history", visitor.key)
        if retry:
            raise actions.RateLimited("rate_limited", _("Demasiadas solicitudes; espera un momento."),
                                      retry_after=retry)
        rows, more = history(visitor, before=_int_param(request, "before"), after=_int_param(request, "after"))
        return JsonResponse({"messages": [message_payload(m) for m in rows], "has_more": more,
                             "visitor": visitor_payload(visitor),
                             # renewed on each load, so a returning visitor's token never runs out
                             "visitor_token": sign_visitor(site_id=site.pk, visitor_key=visitor.key)})
    data = _json_body(request)
    message, created = actions.check_visitor_message(
        site, visitor, content=str(data.get("content") or ""), echo_id=str(data.get("echo_id") or ""),
        page_url=str(data.get("page_url") or ""), reply=data.get("reply"))
    return JsonResponse(message_payload(message), status=201 if created else 200)
