"""Shared pieces of the REST API: authentication, pagination and the error envelope.

Every error answers JSON `{"detail": <human message>, "code": <stable code>, ...}`.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DataError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.pagination import PaginationBase
from ninja.parser import Parser
from ninja.security import HttpBearer, SessionAuth

from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError, PermissionDeniedError


class BearerTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        from accounts.actions import authenticate_api_token

        user = authenticate_api_token(token.strip())
        if user is not None:
            request.user = user
        return user


class SessionCsrfAuth(SessionAuth):
    """The browser session, CSRF-checked only once there is a logged-in session to protect.

    ninja's SessionAuth checks CSRF before looking at the user, so a script without a token got
    403 "CSRF check Failed" on writes instead of the 401 that tells it to authenticate.
    """

    def __call__(self, request: HttpRequest) -> Any:
        if not request.user.is_authenticated:
            return None
        return super().__call__(request)


API_AUTH = [BearerTokenAuth(), SessionCsrfAuth()]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Beyond any page a client can reach; keeps OFFSET inside a 64-bit integer for every page size.
MAX_PAGE = 1_000_000
# An id or count in a query string, bounded like the database's bigint: a larger number is a 400 on every database
# (SQLite overflows, PostgreSQL would quietly compare it and answer nothing).
DbInt = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]


class InvalidBody(ValueError):
    """A JSON body that parses but that the database cannot store; `message` is translated."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _bounded_int(text: str) -> int:
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidBody(_("Un número del cuerpo de la solicitud está fuera del rango permitido."))
    return value


def _reject_constant(name: str) -> float:
    raise InvalidBody(_("JSON inválido."))


class StrictJsonParser(Parser):
    """JSON bodies the database can store: no lone surrogates, no integers beyond 64 bits, no NaN."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = json.loads(request.body, parse_int=_bounded_int, parse_constant=_reject_constant)
        try:
            # A lone surrogate ("\ud800") is valid JSON but not UTF-8, so no column can hold it.
            json.dumps(data, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise InvalidBody(_("El cuerpo de la solicitud contiene caracteres inválidos "
                                "(un sustituto Unicode suelto).")) from None
        return cast(dict[str, Any], data)


def api_user(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined]


def api_require(request: HttpRequest, perm: Perm) -> User:
    user = api_user(request)
    if not user.has_perm_code(perm):
        raise PermissionDeniedError("forbidden", _("No tiene permiso para realizar esta acción."))
    return user


class ErrorOut(Schema):
    detail: str
    code: str


class PageNumberPagination(PaginationBase):
    """`{"count", "next", "previous", "results"}` with absolute links, the same on every list endpoint."""

    class Input(Schema):
        page: int = Field(1, ge=1, le=MAX_PAGE)
        page_size: int = Field(settings.API_PAGE_SIZE, ge=1, le=settings.API_MAX_PAGE_SIZE)

    class Output(Schema):
        count: int
        next: str | None
        previous: str | None
        results: list[Any]

    items_attribute = "results"

    def paginate_queryset(self, queryset: QuerySet[Any], pagination: Any, request: HttpRequest,
                          **params: Any) -> dict[str, Any]:
        page, size = pagination.page, pagination.page_size
        offset = (page - 1) * size
        results = list(queryset[offset:offset + size + 1])
        has_next = len(results) > size
        count = self._items_count(queryset)

        def link(n: int) -> str:
            query = request.GET.copy()
            query["page"] = str(n)
            query["page_size"] = str(size)
            return request.build_absolute_uri(f"{request.path}?{urlencode(query)}")

        return {
            "count": count,
            "next": link(page + 1) if has_next else None,
            "previous": link(page - 1) if page > 1 else None,
            "results": results[:size],
        }


def _field_name(loc: list[Any]) -> str | None:
    """`["body", "payload", "role"]` -> "role": clients care about their field, not ninja's plumbing."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    if parts and parts[0] == "payload":
        parts = parts[1:]
    return ".".join(parts) or None


logger = logging.getLogger("django.request")


def install_error_handlers(api: NinjaAPI) -> None:
    def envelope(request: HttpRequest, status: int, detail: str, code: str) -> HttpResponse:
        return api.create_response(request, {"detail": detail, "code": code}, status=status)

    @api.exception_handler(ActionError)
    def action_error(request: HttpRequest, exc: ActionError) -> HttpResponse:
        return api.create_response(request, {"detail": exc.message, "code": exc.code, **exc.details},
                                   status=exc.status)

    @api.exception_handler(AuthenticationError)
    def auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return api.create_response(request, {
            "detail": _("Se requiere autenticación: envíe el encabezado «Authorization: Bearer <token>»."),
            "code": "not_authenticated",
        }, status=401)

    @api.exception_handler(ValidationError)
    def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        errors = [{"field": _field_name(e.get("loc", [])), "message": e.get("msg", "")} for e in exc.errors]
        detail = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
        return api.create_response(request, {
            "detail": _("Solicitud inválida: %s") % detail, "code": "invalid_request", "errors": errors,
        }, status=400)

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        code = "invalid_request" if exc.status_code == 400 else f"http_{exc.status_code}"
        detail = str(exc)
        # ninja wraps any parser failure in an English "Cannot parse request body"; say what was wrong.
        if isinstance(exc.__cause__, InvalidBody):
            detail = exc.__cause__.message
        elif isinstance(exc.__cause__, ValueError):
            detail = _("JSON inválido.")
        return envelope(request, exc.status_code, detail, code)

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return envelope(request, 404, _("No se encontró el recurso solicitado."), "not_found")

    @api.exception_handler(RequestDataTooBig)
    def too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        return envelope(request, 413, _("El cuerpo de la solicitud supera el tamaño máximo de %(size)s MB.")
                        % {"size": settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)}, "request_too_large")

    @api.exception_handler(OverflowError)
    @api.exception_handler(DataError)
    def out_of_range(request: HttpRequest, exc: Exception) -> HttpResponse:
        # Last line of defence for values the database refuses (a 20-digit id in a query string, a
        # string longer than its column on PostgreSQL): the client sent them, so it is a 400, not a 500.
        logger.warning("API value out of range on %s: %s", request.path, exc)
        return envelope(request, 400, _("Un valor de la solicitud está fuera del rango permitido."),
                        "invalid_request")

    @api.exception_handler(Exception)
    def server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.error("Internal Server Error: %s", request.path, exc_info=exc,
                     extra={"status_code": 500, "request": request})
        return envelope(request, 500, _("Error interno del servidor. Inténtelo de nuevo más tarde."),
                        "server_error")
