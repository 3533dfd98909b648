"""Shared pieces of the REST API: authentication, pagination and the error envelope.

Every error answers JSON `{"detail": <human message>, "code": <stable code>, ...}`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.pagination import PaginationBase
from ninja.security import HttpBearer, django_auth

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


API_AUTH = [BearerTokenAuth(), django_auth]


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
        page: int = Field(1, ge=1)
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


def install_error_handlers(api: NinjaAPI) -> None:
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
        return api.create_response(request, {"detail": str(exc), "code": code}, status=exc.status_code)
