"""Shared pieces of the REST API: authentication, pagination, input schemas and the error envelope.

Every error answers JSON `{"detail": <human message>, "code": <stable code>, ...}` (ErrorOut), and the OpenAPI
document says so for every operation (CentralitaAPI.get_openapi_schema). Request bodies derive from InputSchema,
so a field the schema does not declare is refused.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Final, cast
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import DataError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from ninja import Field, NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.schema import REF_TEMPLATE, OpenAPISchema
from ninja.pagination import PaginationBase
from ninja.parser import Parser
from ninja.security import HttpBearer, SessionAuth
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Strict, WithJsonSchema
from pydantic_core import PydanticCustomError

from core.crypto import SecretDecryptionError
from core.errors import ActionError, PermissionDeniedError
from core.perms import Perm
from core.validators import find_bad_string

if TYPE_CHECKING:
    from accounts.models import User

TokenAuthenticator = Callable[[str], "User | None"]
_token_authenticators: list[TokenAuthenticator] = []


def register_token_authenticator(authenticate: TokenAuthenticator) -> None:
    """Who a bearer token belongs to: accounts registers its API tokens from AccountsConfig.ready(), so core's API
    plumbing needs no import of accounts."""
    _token_authenticators[:] = [authenticate]


class BearerTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = _token_authenticators[0](token.strip()) if _token_authenticators else None
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
# The id of a row (path parameters and references in bodies): a positive bigint.
DbId = Annotated[int, Field(ge=1, le=INT64_MAX)]
# Patterns are read by several regex engines (ECMA in clients and Schemathesis, Python's `re` here and in
# Hypothesis, Rust in pydantic's default), which disagree on `\s` (ECMA's lacks U+001C-U+001F and U+0085) and on `$`
# (Python's also matches before a final newline). So whitespace is spelt out, as Python's str.strip() (what the
# actions strip) sees it, and a pattern ends with END, a lookahead every engine but Rust reads alike.
WHITESPACE: Final = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
END: Final = r"(?![\s\S])"
# A required text: at least one character that is not whitespace (the actions strip what they store, so "  " would
# be refused as empty anyway; the schema says it first).
NOT_BLANK: Final = rf"[^{WHITESPACE}]"
_PATTERN_MESSAGES: dict[str, Promise] = {}


def explained(pattern: str, message: Promise) -> str:
    """`pattern`, registered with the sentence a value that does not match it gets (instead of "No tiene el
    formato esperado")."""
    _PATTERN_MESSAGES[pattern] = message
    return pattern


def _email_or_blank(value: str) -> str:
    if value.strip():
        try:
            validate_email(value.strip())
        except DjangoValidationError:
            raise PydanticCustomError("invalid_email", _("Correo inválido.")) from None
    return value


# An email address (Django's EmailValidator, the rule of every form), or "" for none.
EmailOrBlank = Annotated[str, Field(max_length=254), AfterValidator(_email_or_blank),
                         WithJsonSchema({"type": "string", "maxLength": 254,
                                         "anyOf": [{"format": "email"}, {"maxLength": 0}]})]


_ISO_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_DATETIME: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
                                  r"([Zz]|[+-][0-9]{2}:?[0-9]{2})")


def _iso_date(value: object) -> object:
    # pydantic would also take a number as a Unix timestamp (`?start=1e-103` is 1970-01-01); a date is YYYY-MM-DD.
    if not isinstance(value, date) and not (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        raise PydanticCustomError("date_parsing", _("Fecha inválida; use AAAA-MM-DD."))
    return value


def _iso_datetime(value: object) -> object:
    # An instant: ISO 8601 with its offset (a number, a bare date or a time without zone is ambiguous).
    if not isinstance(value, datetime) and not (isinstance(value, str) and _ISO_DATETIME.fullmatch(value)):
        raise PydanticCustomError("datetime_parsing", _("Fecha y hora inválidas; use ISO 8601 con zona horaria "
                                                        "(AAAA-MM-DDTHH:MM:SS±HH:MM)."))
    return value


# YYYY-MM-DD (format "date"), and an ISO 8601 instant with its offset (format "date-time"); parsed from text in
# request bodies too (Strict(False): InputSchema is strict).
IsoDate = Annotated[date, Strict(False), BeforeValidator(_iso_date)]
IsoDateTime = Annotated[datetime, Strict(False), BeforeValidator(_iso_datetime)]


class InputSchema(Schema):
    """Base of every request body. A field the schema does not declare is refused (400 naming it), so a misspelt
    field (`"assignee_id"` for `"assignee"`) never silently does nothing. Types are strict, as the JSON Schema says:
    `"5"` or `true` is not an integer, `1` is not a string (pydantic would otherwise convert them); enum fields say
    `strict=False`, since a strict enum wants the Python member rather than its JSON value. Patterns use Python's
    `re` (they may use lookaheads), as the OpenAPI document's generators and the fuzz tests do."""

    model_config = ConfigDict(extra="forbid", strict=True, regex_engine="python-re")


class QuerySchema(Schema):
    """Base of query-string schemas (`Query[...]`): values arrive as text, so numbers and dates are parsed from it;
    parameters the operation does not declare are ignored, as everywhere on the web."""

    model_config = ConfigDict(regex_engine="python-re")


class InvalidBody(ValueError):
    """A JSON body that parses but that the database cannot store; `message` is translated, `field` the path of
    the offending value when known (`customer.name`)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


def _bounded_int(text: str) -> int:
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidBody(_("Un número del cuerpo de la solicitud está fuera del rango permitido."))
    return value


def _reject_constant(name: str) -> float:
    raise InvalidBody(_("JSON inválido."))


def _json_float(text: str) -> float | int:
    # JSON has one number type: `2.0` or `1e3` is an integer as JSON Schema counts (and strict fields then take it).
    value = float(text)
    if value.is_integer() and INT64_MIN <= value <= INT64_MAX:
        return int(value)
    return value


def strict_json_loads(body: bytes | str, *, allow_nul: bool = False) -> Any:
    """JSON a database can store, for the API and the web chat's public endpoints; raises InvalidBody (a 400) for
    integers beyond 64 bits, NaN/Infinity, and strings with a NUL or a lone surrogate ("\\ud800" is valid JSON but
    not UTF-8), naming the field. Malformed JSON raises ValueError. `allow_nul`: the caller strips control
    characters itself (the web chat cleans what a visitor types)."""
    data = json.loads(body, parse_int=_bounded_int, parse_float=_json_float, parse_constant=_reject_constant)
    bad = find_bad_string(data, allow_nul=allow_nul)
    if bad is not None:
        field, problem = bad
        if field:
            raise InvalidBody(_("El campo «%(field)s» %(problem)s.") % {"field": field, "problem": problem}, field)
        raise InvalidBody(_("El cuerpo de la solicitud %s.") % problem)
    return data


class StrictJsonParser(Parser):
    """JSON bodies the database can store (strict_json_loads): every endpoint gets the same rule."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        return cast(dict[str, Any], strict_json_loads(request.body))


def api_user(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined]


def api_require(request: HttpRequest, perm: Perm) -> User:
    user = api_user(request)
    if not user.has_perm_code(perm):
        raise PermissionDeniedError("forbidden", _("No tiene permiso para realizar esta acción."))
    return user


class FieldErrorOut(Schema):
    field: str | None = Field(..., description="The field's path (`role`, `customer.phone`, `lines.0.quantity`), "
                                               "or null for the request as a whole")
    message: str


class ErrorOut(Schema):
    """The error envelope: every 4xx and 5xx of the API answers this JSON. Some errors add details of their own
    (`held_by`, `accepted_reasons`, `short_lines`, `max_length`…), described on their operation."""

    detail: str = Field(..., description="What went wrong, in the caller's language")
    code: str = Field(..., description="Stable machine-readable code: `invalid_request`, `not_authenticated`, "
                                       "`forbidden`, `not_found`, `request_too_large`, `server_error`, or the "
                                       "rule's own (`invalid_role`, `username_taken`, `lead_held`…)")
    field: str | None = Field(None, description="The field the error is about, when there is one")
    errors: list[FieldErrorOut] | dict[str, str] | None = Field(
        None, description="Every invalid field at once: a list of `{field, message}` when the request does not match "
                          "the schema (missing, unknown or malformed fields); an object `field → message` when a rule "
                          "refuses several fields of a well-formed request (a customer's phone and email)")


# The error responses every operation may answer, documented once for all of them (CentralitaAPI).
ERROR_DESCRIPTIONS: Final[dict[int, str]] = {
    400: "Bad request: malformed JSON, a missing, unknown or invalid field (`errors` lists them), or a rule of the "
         "operation that the request breaks (`code` names it)",
    401: "Not authenticated: no token, an unknown or revoked token, or a deactivated user's token",
    403: "Forbidden: the caller's role lacks the permission, or a browser session writes without the CSRF header",
    404: "Not found: the object does not exist, or the caller cannot see it",
    409: "Conflict with the current state: a duplicate, or a change the object's state does not allow",
    413: "The request body is larger than the maximum (DATA_UPLOAD_MAX_MEMORY_SIZE, 5 MB)",
    500: "Unexpected server error: a generic message, never a traceback (the error is logged)",
}


def document_error_responses(schema: OpenAPISchema) -> None:
    """Adds the shared error envelope to every operation: 401, 403 and 500 everywhere, 400 where there is input,
    404 where the path names an object, 413 where there is a body. Responses an operation declares itself (409, a
    404 for a referenced row, a richer envelope) are kept, with the shared description."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "ErrorOut" not in components:
        envelope = ErrorOut.model_json_schema(ref_template=REF_TEMPLATE, mode="serialization")
        components.update(envelope.pop("$defs", {}))
        components["ErrorOut"] = envelope
    error = {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(model="ErrorOut")}}}
    for path, methods in schema["paths"].items():
        for operation in methods.values():
            statuses = {401, 403, 500}
            if operation.get("parameters") or "requestBody" in operation:
                statuses.add(400)
            if "{" in path:
                statuses.add(404)
            if "requestBody" in operation:
                statuses.add(413)
            responses = operation["responses"]
            for status in sorted(statuses | (set(ERROR_DESCRIPTIONS) & set(responses))):
                response = responses.setdefault(status, {"content": error})
                response["description"] = ERROR_DESCRIPTIONS[status]


class CentralitaAPI(NinjaAPI):
    """The NinjaAPI whose OpenAPI document describes the error responses too (document_error_responses)."""

    def get_openapi_schema(self, *, path_prefix: str | None = None,
                           path_params: dict[str, Any] | None = None) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        document_error_responses(schema)
        return schema


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


# What pydantic adds to an error's location for each member of a union (`status.str-enum[TaskStatus]`).
_UNION_MEMBER: Final = re.compile(r"[\w-]+\[.*\]|int|str|bool|float|none|list|dict|date|datetime")


def _field_name(loc: list[Any]) -> str | None:
    """`["body", "payload", "role"]` -> "role": clients care about their field, not ninja's plumbing."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    if parts and parts[0] == "payload":
        parts = parts[1:]
    parts = [p for p in parts if not _UNION_MEMBER.fullmatch(p)]
    return ".".join(parts) or None


def _field_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One `{field, message}` per field: a union (`"abierta" | ""`) fails once per member, and the client wants one
    sentence listing every allowed value."""
    by_field: dict[str | None, list[dict[str, Any]]] = {}
    for error in errors:
        by_field.setdefault(_field_name(error.get("loc", [])), []).append(error)
    result: list[dict[str, Any]] = []
    for field, found in by_field.items():
        merged = found
        if len(found) > 1 and all(e.get("type") in {"literal_error", "enum"} for e in found):
            expected = ", ".join(str((e.get("ctx") or {}).get("expected", "")) for e in found)
            merged = [{"type": "literal_error", "ctx": {"expected": expected}}]
        messages = list(dict.fromkeys(_validation_message(e) for e in merged))
        result.append({"field": field, "message": " ".join(messages)})
    return result


def _validation_message(error: dict[str, Any]) -> str:  # noqa: PLR0911 - a sentence per kind of error
    """A schema validation error in the caller's language (pydantic's messages are English-only)."""
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if kind == "missing":
        return _("Este campo es obligatorio.")
    if kind == "extra_forbidden":
        return _("Campo desconocido: esta operación no lo admite.")
    if kind in {"literal_error", "enum"}:
        # pydantic's list ends in an English "or": "'a', 'b' or 'c'".
        return _("Valor no permitido; use uno de: %s.") % str(ctx.get("expected", "")).replace(" or ", ", ")
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return _("No puede estar vacío.")
    if kind == "too_short" and ctx.get("min_length") == 1:
        return _("Indique al menos un elemento.")
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == NOT_BLANK:
        return _("No puede estar vacío ni contener solo espacios.")
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in _PATTERN_MESSAGES:
        return str(_PATTERN_MESSAGES[ctx["pattern"]])
    messages: dict[str, str] = {
        "string_too_short": _("Debe tener al menos %(min_length)s caracteres."),
        "string_too_long": _("Admite como máximo %(max_length)s caracteres."),
        "string_pattern_mismatch": _("No tiene el formato esperado."),
        "too_short": _("Debe tener al menos %(min_length)s elementos."),
        "too_long": _("Admite como máximo %(max_length)s elementos."),
        "greater_than": _("Debe ser mayor que %(gt)s."),
        "greater_than_equal": _("Debe ser mayor o igual que %(ge)s."),
        "less_than": _("Debe ser menor que %(lt)s."),
        "less_than_equal": _("Debe ser menor o igual que %(le)s."),
        "int_type": _("Debe ser un número entero."),
        "int_parsing": _("Debe ser un número entero."),
        "int_from_float": _("Debe ser un número entero."),
        "bool_type": _("Debe ser true o false."),
        "bool_parsing": _("Debe ser true o false."),
        "string_type": _("Debe ser un texto."),
        "list_type": _("Debe ser una lista."),
        "model_type": _("Debe ser un objeto JSON."),
        "model_attributes_type": _("Debe ser un objeto JSON."),
        "dict_type": _("Debe ser un objeto JSON."),
        "date_type": _("Fecha inválida; use AAAA-MM-DD."),
        "date_parsing": _("Fecha inválida; use AAAA-MM-DD."),
        "date_from_datetime_parsing": _("Fecha inválida; use AAAA-MM-DD."),
        "date_from_datetime_inexact": _("Fecha inválida; use AAAA-MM-DD."),
        "datetime_type": _("Fecha y hora inválidas; use ISO 8601 (AAAA-MM-DDTHH:MM:SS±HH:MM)."),
        "datetime_parsing": _("Fecha y hora inválidas; use ISO 8601 (AAAA-MM-DDTHH:MM:SS±HH:MM)."),
        "datetime_from_date_parsing": _("Fecha y hora inválidas; use ISO 8601 (AAAA-MM-DDTHH:MM:SS±HH:MM)."),
        "uuid_type": _("Identificador inválido (UUID)."),
        "uuid_parsing": _("Identificador inválido (UUID)."),
    }
    if kind in messages:
        try:
            return messages[kind] % ctx
        except (KeyError, TypeError, ValueError):
            pass
    return str(error.get("msg", ""))


logger = logging.getLogger("django.request")


def install_error_handlers(api: NinjaAPI) -> None:
    def envelope(request: HttpRequest, status: int, detail: str, code: str) -> HttpResponse:
        return api.create_response(request, {"detail": detail, "code": code}, status=status)

    @api.exception_handler(ActionError)
    def action_error(request: HttpRequest, exc: ActionError) -> HttpResponse:
        return api.create_response(request, {"detail": exc.message, "code": exc.code, **exc.details},
                                   status=exc.status)

    @api.exception_handler(SecretDecryptionError)
    def secrets_unreadable(request: HttpRequest, exc: SecretDecryptionError) -> HttpResponse:
        logger.error("%s", exc)  # names the field and the fix; no stack trace, no value
        return envelope(request, 503, exc.user_message(), exc.code)

    @api.exception_handler(AuthenticationError)
    def auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return api.create_response(request, {
            "detail": _("Se requiere autenticación: envíe el encabezado «Authorization: Bearer <token>»."),
            "code": "not_authenticated",
        }, status=401)

    @api.exception_handler(ValidationError)
    def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        errors = _field_errors(list(exc.errors))
        detail = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
        body: dict[str, Any] = {"detail": _("Solicitud inválida: %s") % detail, "code": "invalid_request",
                                "errors": errors}
        if errors and errors[0]["field"]:
            body["field"] = errors[0]["field"]  # as rule errors do: `field` names the (first) field at fault
        return api.create_response(request, body, status=400)

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        code = "invalid_request" if exc.status_code == 400 else f"http_{exc.status_code}"
        detail = str(exc)
        # ninja wraps any parser failure in an English "Cannot parse request body"; say what was wrong.
        if isinstance(exc.__cause__, InvalidBody):
            detail = exc.__cause__.message
            if exc.__cause__.field:
                return api.create_response(request, {
                    "detail": detail, "code": code,
                    "errors": [{"field": exc.__cause__.field, "message": detail}]}, status=exc.status_code)
        elif isinstance(exc.__cause__, (ValueError, RecursionError)):  # RecursionError: nesting thousands deep
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
