"""Issue 12: bad input to /api/v1 gets a clear JSON error (4xx), never a 500 or an HTML page."""

from __future__ import annotations

import json
import logging

import pytest
from django.conf import settings
from django.test import Client

import accounts.api
from accounts.actions import do_create_api_token, do_revoke_api_token
from accounts.roles import Role
from leads.tests.factories import LeadFactory

JSON = "application/json"
CONVERSATION = {"customer": {"name": "Ana", "phone": "3001234567"}, "message": "Hola"}


def _raw_post(client: Client, path: str, body: str | bytes) -> object:
    # The test client would re-encode a dict; a raw string keeps the exact JSON text (escapes included).
    return client.post(path, body, content_type=JSON)


# --- 1. writes without a usable token: 401, not 403 "CSRF check Failed" ----------------------------

@pytest.mark.parametrize(("method", "path"), [
    ("post", "/api/v1/teams"), ("put", "/api/v1/conversations/1/tags"), ("patch", "/api/v1/users/1"),
])
def test_write_without_token_is_401_not_authenticated(db, method, path):
    # given no Authorization header and no session
    client = Client(enforce_csrf_checks=True)
    # when a script writes (the API has no DELETE endpoint)
    response = getattr(client, method)(path, {"name": "X"}, content_type=JSON)
    # then it is told to authenticate, in the envelope
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_write_with_invalid_or_deactivated_token_is_401(make_user):
    # given an unknown token, a revoked one and one of a deactivated user
    revoked_token, revoked_raw = do_create_api_token(make_user(Role.ADMIN, username="rev"), name="t", acting_user=None)
    do_revoke_api_token(revoked_token, acting_user=None)
    inactive = make_user(Role.ADMIN, username="baja")
    _token, inactive_raw = do_create_api_token(inactive, name="t", acting_user=None)
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    for raw in ["cnt_desconocido", revoked_raw, inactive_raw]:
        client = Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {raw}"})
        # when it writes
        response = client.post("/api/v1/teams", {"name": "X", "code": "x"}, content_type=JSON)
        # then 401, never 403
        assert response.status_code == 401, raw
        assert response.json()["code"] == "not_authenticated"


def test_session_writes_keep_csrf_protection(admin_user):
    # given a logged-in browser session that enforces CSRF
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    # when it writes without the CSRF token
    forged = client.post("/api/v1/teams", {"name": "Ventas", "code": "ventas"}, content_type=JSON)
    # then it is refused
    assert forged.status_code == 403
    # and with the CSRF cookie and header it goes through
    client.get("/")  # sets the csrftoken cookie
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    ok = client.post("/api/v1/teams", {"name": "Ventas", "code": "ventas"}, content_type=JSON,
                     headers={"X-CSRFToken": token})
    assert ok.status_code == 201


# --- 2. unknown API path: JSON 404 ---------------------------------------------------------------

def test_unknown_api_path_is_json_404(db, admin_user, api_client_for):
    # given an authenticated client
    api = api_client_for(admin_user)
    # when it calls paths that do not exist
    for path in ["/api/v1/no-existe", "/api/v1/users/1/nada", "/api/v1/"]:
        response = api.get(path)
        # then the JSON envelope says so
        assert response.status_code == 404, path
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["code"] == "not_found"


def test_missing_object_via_http404_is_json_404(admin_user, api_client_for):
    # given a user id that does not exist (the view uses get_object_or_404)
    response = api_client_for(admin_user).get("/api/v1/users/999999")
    # then the envelope, with a code
    assert response.status_code == 404
    assert response.json()["code"] in {"not_found", "user_not_found"}


def test_wrong_method_is_json_405(db):
    response = Client().delete("/api/v1/teams")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed" and "POST" in response["Allow"]


# --- 3. unexpected exception: JSON 500, logged -----------------------------------------------------

def test_unexpected_exception_is_json_500_and_logged(admin_user, api_client_for, monkeypatch, settings, caplog):
    # given production mode and a view that crashes
    settings.DEBUG = False

    def boom() -> None:
        raise RuntimeError("detalle interno secreto")

    monkeypatch.setattr(accounts.api, "_users_qs", boom)
    # when the client calls it
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = api_client_for(admin_user).get("/api/v1/me")
    # then a generic JSON 500 without the traceback, and the exception is in the log
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "server_error" and "secreto" not in body["detail"] and "Traceback" not in body["detail"]
    assert any(r.exc_info and "detalle interno secreto" in str(r.exc_info[1]) for r in caplog.records)


# --- 4. bodies and numbers the database cannot hold ------------------------------------------------

def test_lone_surrogate_in_json_body_is_400(agent, admin_user, api_client_for):
    # given bodies with "\ud800" (valid JSON text, not valid UTF-8) on three write endpoints
    lead = LeadFactory()
    cases = [
        (api_client_for(agent), "/api/v1/conversations",
         '{"customer": {"name": "Ana\\ud800", "phone": "3001234567"}, "message": "Hola"}'),
        (api_client_for(admin_user), "/api/v1/products", '{"sku": "S-1", "name": "\\ud800", "price": "1"}'),
        (api_client_for(agent), f"/api/v1/leads/{lead.pk}/notes", '{"text": "x\\ud800", "outcome": "positivo"}'),
        (api_client_for(agent), "/api/v1/conversations", '{"\\ud800": 1}'),
    ]
    for client, path, body in cases:
        # when it is posted
        response = _raw_post(client, path, body)
        # then 400 with a clear message
        assert response.status_code == 400, path
        assert response.json()["code"] == "invalid_request"
        assert "Unicode" in response.json()["detail"]


def test_malformed_json_is_400_with_a_clear_message(admin_user, api_client_for):
    response = _raw_post(api_client_for(admin_user), "/api/v1/products", '{"sku": ')
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON inválido.", "code": "invalid_request"}


def test_integer_beyond_64_bits_in_json_body_is_400(admin_user, api_client_for):
    # given a stock of 2**64
    body = json.dumps({"sku": "BIG-1", "name": "X", "price": "1", "stock": 2**64})
    # when it is posted
    response = _raw_post(api_client_for(admin_user), "/api/v1/products", body)
    # then 400, nothing stored
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert api_client_for(admin_user).get("/api/v1/products/BIG-1").status_code == 404


def test_integer_beyond_64_bits_in_query_string_is_400(admin_user, api_client_for):
    api = api_client_for(admin_user)
    # when a page number or an id filter exceeds 64 bits
    page = api.get("/api/v1/users?page=99999999999999999999")
    task_filter = api.get("/api/v1/tasks?conversation=99999999999999999999")
    # then 400, never 500
    assert page.status_code == 400 and page.json()["code"] == "invalid_request"
    assert task_filter.status_code == 400 and task_filter.json()["code"] == "invalid_request"


def test_json_body_over_upload_limit_is_413(admin_user, api_client_for):
    # given a body one byte over the 5 MB limit
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 5 * 1024 * 1024
    padding = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    body = json.dumps({"sku": "HUGE", "name": "X", "price": "1", "description": padding})
    # when it is posted
    response = _raw_post(api_client_for(admin_user), "/api/v1/products", body)
    # then 413 in the envelope
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


@pytest.mark.parametrize("number", [10**30, 2**63, -(2**63) - 1])
def test_stock_of_10_pow_30_and_adjustment_of_2_pow_63_are_400(number, admin_user, api_client_for):
    # given a product, and numbers a 64-bit column cannot hold
    api = api_client_for(admin_user)
    assert _raw_post(api, "/api/v1/products", '{"sku": "P-1", "name": "X", "price": "1"}').status_code == 201
    # when they are sent as a stock and as an adjustment
    stock = _raw_post(api, "/api/v1/products", f'{{"sku": "P-2", "name": "X", "price": "1", "stock": {number}}}')
    adjustment = _raw_post(api, "/api/v1/products/P-1/adjustments", f'{{"delta": {number}, "reason": "conteo"}}')
    # then both are a 400 in the envelope
    for response in (stock, adjustment):
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_request"


# --- 5. NUL characters (PostgreSQL cannot store them) -------------------------------------------------------

def test_nul_bytes_in_any_api_string_are_400_naming_the_field(agent, admin_user, api_client_for):
    # given NUL characters in a top-level field, a nested one, a list item and a key, on several endpoints
    lead = LeadFactory()
    cases = [
        (api_client_for(admin_user), "/api/v1/products", {"sku": "S-1", "name": "Caf\x00é", "price": "1"}, "name"),
        (api_client_for(agent), "/api/v1/conversations",
         {"customer": {"name": "Ana\x00", "phone": "3001234567"}, "message": "Hola"}, "customer.name"),
        (api_client_for(agent), f"/api/v1/leads/{lead.pk}/notes", {"text": "x\x00y"}, "text"),
        (api_client_for(admin_user), "/api/v1/teams", {"name": "Ventas", "code": "v", "x": ["ok", "\x00"]}, "x[1]"),
    ]
    for client, path, body, field in cases:
        # when each is posted (the test client escapes the NUL as \u0000, as any JSON library does)
        response = client.post(path, body, content_type=JSON)
        # then 400 naming the field, nothing else reached the database
        assert response.status_code == 400, path
        data = response.json()
        assert data["code"] == "invalid_request" and data["errors"] == [{"field": field, "message": data["detail"]}]
        assert f"«{field}»" in data["detail"] and "U+0000" in data["detail"]


def test_json_nested_beyond_the_parsers_depth_is_400(admin_user, api_client_for):
    body = "[" * 100_000 + "]" * 100_000
    response = _raw_post(api_client_for(admin_user), "/api/v1/products", body)
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON inválido.", "code": "invalid_request"}
