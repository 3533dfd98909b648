"""The API holds requests to its OpenAPI document, and the document describes every answer (issue 12).

Regression tests for what the Schemathesis fuzz run (tests/fuzz/test_api_fuzz.py) found: unknown fields silently
ignored, `"5"`/`true`/`false` taken as integers, a number taken as a date, and error responses no operation
documented.
"""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Team
from catalog.models import Product
from config.api import api
from orders.tests.factories import product

pytestmark = pytest.mark.django_db
JSON = "application/json"
ERROR_ENVELOPE = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}


def test_every_operation_documents_its_error_responses_with_the_envelope():
    # given the OpenAPI document
    schema = api.get_openapi_schema()
    # when every operation's responses are read
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            responses = operation["responses"]
            expected = {401, 403, 500}
            if operation.get("parameters") or "requestBody" in operation:
                expected.add(400)
            if "{" in path:
                expected.add(404)
            if "requestBody" in operation:
                expected.add(413)
            # then each documents them, with the shared envelope (or one that extends it, like the orders' 409)
            assert expected <= set(responses), (method, path)
            for status in expected:
                assert "content" in responses[status] and "description" in responses[status], (method, path, status)
                assert responses[status]["content"] == ERROR_ENVELOPE, (method, path, status)
    assert set(schema["components"]["schemas"]["ErrorOut"]["required"]) == {"detail", "code"}


def test_every_request_body_refuses_fields_it_does_not_declare():
    # given the OpenAPI document
    schema = api.get_openapi_schema()
    components = schema["components"]["schemas"]
    # when the request bodies are read (an optional body is `anyOf` its schema and null)
    def refs(body: dict[str, Any]) -> list[str]:
        options = body.get("anyOf", [body])
        return [o["$ref"].rsplit("/", 1)[1] for o in options if "$ref" in o]

    bodies = [name for methods in schema["paths"].values() for operation in methods.values()
              if "requestBody" in operation
              for name in refs(operation["requestBody"]["content"]["application/json"]["schema"])]
    # then every one says additionalProperties: false
    assert bodies
    assert [name for name in bodies if components[name].get("additionalProperties") is not False] == []


def test_unknown_field_is_refused_naming_it(admin_user, api_client_for):
    # given an admin
    api = api_client_for(admin_user)
    # when a team is created with a field the operation does not have
    response = api.post("/api/v1/teams", {"name": "Ventas", "code": "ventas", "colour": "red"}, content_type=JSON)
    # then 400 naming the field, and nothing is created
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_request" and body["field"] == "colour"
    assert body["errors"] == [{"field": "colour", "message": "Campo desconocido: esta operación no lo admite."}]
    assert not Team.objects.exists()


@pytest.mark.parametrize("delta", ["5", True, 2.5])
def test_text_booleans_and_fractions_are_not_integers(delta, supervisor, api_client_for):
    # given a product with stock
    product("ADJ-1", stock=10)
    api = api_client_for(supervisor)
    # when an adjustment's delta is not an integer
    response = api.post("/api/v1/products/ADJ-1/adjustments", {"delta": delta, "reason": "conteo"}, content_type=JSON)
    # then it is refused naming the field, and the stock is unchanged
    assert response.status_code == 400 and response.json()["field"] == "delta"
    assert Product.objects.get(sku="ADJ-1").stock_on_hand == 10


def test_false_is_not_a_price(supervisor, api_client_for):
    # when a product is created with `"price": false` (it was stored with price 0)
    response = api_client_for(supervisor).post("/api/v1/products", {"sku": "P-1", "name": "X", "price": False},
                                               content_type=JSON)
    # then it is refused naming the field
    assert response.status_code == 400 and response.json()["field"] == "price"
    assert not Product.objects.exists()


def test_an_integral_number_written_with_a_decimal_point_is_an_integer(supervisor, api_client_for):
    # given a product with stock
    product("ADJ-2", stock=10)
    # when the delta is written 2.0 (JSON has one number type)
    response = api_client_for(supervisor).post("/api/v1/products/ADJ-2/adjustments",
                                               {"delta": 2.0, "reason": "conteo"}, content_type=JSON)
    # then it is the integer 2
    assert response.status_code == 201 and response.json()["stock_on_hand"] == 12


def test_a_number_is_not_a_date_in_a_query_string(supervisor, api_client_for):
    # given the call-center queue
    api = api_client_for(supervisor)
    # when a date filter is a number (pydantic read it as a Unix timestamp: 1970-01-01) and then a date
    number = api.get("/api/v1/leads/queue", {"arrived_from": "8.159762929917658e-103"})
    day = api.get("/api/v1/leads/queue", {"arrived_from": "2026-03-01"})
    # then the number is refused naming the parameter, and the date is read
    assert number.status_code == 400 and number.json()["field"] == "arrived_from"
    assert "AAAA-MM-DD" in number.json()["detail"]
    assert day.status_code == 200


def test_an_instant_needs_its_time_zone(agent, api_client_for):
    # given a conversation of the agent's
    from inbox import actions

    c, _m, _new = actions.do_receive_inbound(channel="api", body="Hola", customer_name="Ana", phones=["3001234567"])
    c.assignee, c.state = agent, "pendiente"
    c.save(update_fields=["assignee", "state"])
    api = api_client_for(agent)
    url = f"/api/v1/conversations/{c.pk}/transition"
    # when it is put on hold until an instant without a zone, then with one
    naive = api.post(url, {"to": "en_espera", "waiting_until": "2026-03-11T09:00:00"}, content_type=JSON)
    aware = api.post(url, {"to": "en_espera", "waiting_until": "2026-03-11T09:00:00-05:00"}, content_type=JSON)
    # then the ambiguous one is refused naming the field, and the other is applied
    assert naive.status_code == 400 and naive.json()["field"] == "waiting_until"
    assert aware.status_code == 200 and aware.json()["state"] == "en_espera"


def test_a_value_outside_an_enumeration_gets_one_sentence_listing_the_values(agent, api_client_for):
    # when the tasks are filtered by a status that does not exist
    response = api_client_for(agent).get("/api/v1/tasks", {"status": "hecha"})
    # then one error for the field, listing every allowed value, in the caller's language
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "status"
    assert error["message"].startswith("Valor no permitido") and "'abierta'" in error["message"]
    assert " or " not in error["message"]


def test_a_blank_required_text_is_refused_naming_the_field(admin_user, api_client_for):
    # when a team's name is only spaces (including the separators str.strip() removes)
    response = api_client_for(admin_user).post("/api/v1/teams", {"name": " \x1e\u3000", "code": "ventas"},
                                               content_type=JSON)
    # then it is refused as blank
    assert response.status_code == 400 and response.json()["errors"] == [
        {"field": "name", "message": "No puede estar vacío ni contener solo espacios."}]


def test_a_webhook_url_is_a_uri_as_the_schema_says(admin_user, api_client_for):
    # given an admin
    api = api_client_for(admin_user)
    # when an endpoint's URL has a character a URI must percent-encode (Django's validator alone took it), then the
    # same URL encoded
    raw = api.post("/api/v1/webhook-endpoints", {"url": "https://erp.example.com/pedidos/año",
                                                 "events": ["order.confirmed"]}, content_type=JSON)
    encoded = api.post("/api/v1/webhook-endpoints", {"url": "https://erp.example.com/pedidos/a%C3%B1o",
                                                     "events": ["order.confirmed"]}, content_type=JSON)
    # then the first is refused naming the field, the second is registered
    assert raw.status_code == 400 and raw.json()["field"] == "url"
    assert encoded.status_code == 201 and encoded.json()["url"] == "https://erp.example.com/pedidos/a%C3%B1o"
