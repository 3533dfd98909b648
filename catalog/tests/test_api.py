from __future__ import annotations

import pytest

from catalog.actions import check_adjust_stock
from catalog.models import MovementKind, Product, StockMovement
from catalog.tests.helpers import ledger_matches
from orders.tests.factories import product

pytestmark = pytest.mark.django_db

JSON = "application/json"


def test_create_with_stock_records_a_receipt(supervisor, api_client_for):
    # given a supervisor's token
    api = api_client_for(supervisor)
    # when a product is created with a decimal-string price and initial stock
    response = api.post("/api/v1/products", {"sku": "API-1", "name": "Bocadillo veleño", "price": "3500.50",
                                             "category": "Dulces", "stock": 12}, content_type=JSON)
    # then 201 with the documented shape, and the stock came in through the ledger
    assert response.status_code == 201
    body = response.json()
    assert body == {"id": body["id"], "uuid": str(Product.objects.get(sku="API-1").uuid), "sku": "API-1",
                    "name": "Bocadillo veleño", "description": "",
                    "category": "Dulces", "price": "3500.50", "currency": "COP", "is_active": True,
                    "stock_on_hand": 12, "stock_reserved": 0, "stock_available": 12}
    p = Product.objects.get(sku="API-1")
    (receipt,) = StockMovement.objects.filter(product=p)
    assert receipt.kind == MovementKind.RECEIPT and receipt.on_hand_delta == 12 and ledger_matches(p)


def test_duplicate_sku_is_409_and_bad_price_is_400(supervisor, api_client_for):
    # given an existing product
    product("DUP-1")
    api = api_client_for(supervisor)
    # when the same SKU, a bad price, a float price and a NaN are sent
    dup = api.post("/api/v1/products", {"sku": "DUP-1", "name": "Otro", "price": "1"}, content_type=JSON)
    bad = api.post("/api/v1/products", {"sku": "B-1", "name": "X", "price": "12,345"}, content_type=JSON)
    flt = api.post("/api/v1/products", {"sku": "B-2", "name": "X", "price": 12.5}, content_type=JSON)
    nan = api.post("/api/v1/products", {"sku": "B-3", "name": "X", "price": "NaN"}, content_type=JSON)
    # then 409 for the clash; 400 with the field for the prices; nothing created
    assert dup.status_code == 409 and dup.json()["code"] == "invalid_product"
    assert bad.status_code == 400 and bad.json()["field"] == "price"
    assert flt.status_code == 400 and nan.status_code == 400
    assert Product.objects.count() == 1


def test_integer_price_is_accepted(supervisor, api_client_for):
    # given a supervisor
    # when the price is a JSON integer
    response = api_client_for(supervisor).post("/api/v1/products", {"sku": "I-1", "name": "X", "price": 2500},
                                               content_type=JSON)
    # then it is stored as an exact decimal
    assert response.status_code == 201 and response.json()["price"] == "2500.00"


def test_list_searches_filters_and_paginates(agent, api_client_for, django_assert_num_queries):
    # given 30 products, one of them inactive and one named with accents
    Product.objects.bulk_create(Product(sku=f"P-{i:03d}", name=f"Producto {i:03d}", price=1) for i in range(28))
    product("CAF-1", name="Café de Nariño")
    product("OLD-1", name="Viejo")
    Product.objects.filter(sku="OLD-1").update(is_active=False)
    api = api_client_for(agent)
    api.get("/api/v1/products?page_size=5")  # warm: stamps the token
    # when an agent lists, searches and filters
    with django_assert_num_queries(3):  # token, count, page (no query per product)
        first = api.get("/api/v1/products?page_size=10").json()
    found = api.get("/api/v1/products?q=narino").json()
    by_sku = api.get("/api/v1/products?q=caf").json()
    inactive = api.get("/api/v1/products?active=false").json()
    # then pages follow `next`, search folds accents, the filter works
    assert first["count"] == 30 and len(first["results"]) == 10 and first["next"]
    seen, page = [i["sku"] for i in first["results"]], first
    while page["next"]:
        page = api.get(page["next"]).json()
        seen += [i["sku"] for i in page["results"]]
    assert len(seen) == len(set(seen)) == 30
    assert [i["sku"] for i in found["results"]] == ["CAF-1"] and found["next"] is None
    assert [i["sku"] for i in by_sku["results"]] == ["CAF-1"]
    assert [i["sku"] for i in inactive["results"]] == ["OLD-1"]


def test_get_and_patch_by_sku(supervisor, api_client_for):
    # given a product
    product("G-1", price="100", stock=2)
    api = api_client_for(supervisor)
    # when it is read, patched (price and category only) and an unknown SKU is asked for
    got = api.get("/api/v1/products/G-1")
    patched = api.patch("/api/v1/products/G-1", {"price": "150,25", "category": "Nueva"}, content_type=JSON)
    missing = api.get("/api/v1/products/NOPE")
    # then the other fields are kept and stock is untouched
    assert got.status_code == 200 and got.json()["stock_on_hand"] == 2
    assert patched.status_code == 200
    assert patched.json()["price"] == "150.25" and patched.json()["category"] == "Nueva"
    assert patched.json()["name"] == "Producto G-1" and patched.json()["stock_on_hand"] == 2
    assert missing.status_code == 404 and missing.json()["code"] == "product_not_found"


def test_adjustments_and_movements(supervisor, api_client_for):
    # given a product with 5 on hand
    p = product("ADJ-1", stock=5)
    api = api_client_for(supervisor)
    # when 2 are written off, 1 is set aside, one adjustment has no reason and one goes below zero
    off = api.post("/api/v1/products/ADJ-1/adjustments", {"delta": -2, "reason": "Rotos"}, content_type=JSON)
    aside = api.post("/api/v1/products/ADJ-1/adjustments", {"set_aside_delta": 1, "reason": "Cliente VIP"},
                     content_type=JSON)
    no_reason = api.post("/api/v1/products/ADJ-1/adjustments", {"delta": 1, "reason": " "}, content_type=JSON)
    below = api.post("/api/v1/products/ADJ-1/adjustments", {"delta": -10, "reason": "x"}, content_type=JSON)
    movements = api.get("/api/v1/products/ADJ-1/movements").json()
    # then the adjustments are 201 with the new stock; the refusals are 400 and 409
    assert off.status_code == 201 and off.json()["stock_on_hand"] == 3
    assert aside.status_code == 201 and aside.json()["stock_available"] == 2
    assert no_reason.status_code == 400 and no_reason.json()["field"] == "reason"
    assert below.status_code == 409 and below.json()["code"] == "invalid_adjustment"
    # and the ledger, newest first, explains the stock
    assert [(m["kind"], m["on_hand_delta"], m["reserved_delta"], m["on_hand_after"]) for m in movements["results"]] \
        == [("set_aside", 0, 1, 3), ("adjustment", -2, 0, 3), ("receipt", 5, 0, 5)]
    assert movements["results"][0]["user"] == supervisor.username and movements["results"][0]["order_id"] is None
    assert ledger_matches(p)


def test_agent_may_read_but_not_write(agent, api_client_for):
    # given an agent's token and a product
    product("AG-1", stock=3)
    api = api_client_for(agent)
    # when the agent reads, then tries to create, patch and adjust
    read = api.get("/api/v1/products/AG-1")
    create = api.post("/api/v1/products", {"sku": "AG-2", "name": "X", "price": "1"}, content_type=JSON)
    patch = api.patch("/api/v1/products/AG-1", {"name": "Hackeado"}, content_type=JSON)
    adjust = api.post("/api/v1/products/AG-1/adjustments", {"delta": 5, "reason": "x"}, content_type=JSON)
    # then reads work and every write is 403
    assert read.status_code == 200
    assert create.status_code == patch.status_code == adjust.status_code == 403
    assert create.json()["code"] == "forbidden"
    assert Product.objects.get(sku="AG-1").stock_on_hand == 3 and not Product.objects.filter(sku="AG-2").exists()


def test_unauthenticated_is_401(client):
    # given no token
    # when the list is asked for
    # then 401 with the error envelope
    response = client.get("/api/v1/products")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


def test_set_aside_via_action_is_reflected_in_api(supervisor, api_client_for):
    # given units set aside through the page's action
    p = product("SA-1", stock=4)
    check_adjust_stock(supervisor, p.pk, set_aside_delta=4, reason="Todo apartado")
    # when the product is read
    body = api_client_for(supervisor).get("/api/v1/products/SA-1").json()
    # then nothing is available
    assert (body["stock_on_hand"], body["stock_reserved"], body["stock_available"]) == (4, 4, 0)
