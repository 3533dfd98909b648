from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.models import Product
from orders.models import Order
from orders.tests.factories import product, ready_lead

pytestmark = pytest.mark.django_db


def test_api_draft_confirm_and_409_with_every_short_line(agent, api_client_for):
    product("A", stock=5)
    product("B", stock=1)
    lead = ready_lead()
    api = api_client_for(agent)
    created = api.post("/api/v1/orders", {"lead_id": lead.pk, "lines": [{"sku": "A", "quantity": 2},
                                                                         {"sku": "B", "quantity": 1}]},
                       content_type="application/json")
    assert created.status_code == 201 and created.json()["state"] == "borrador"
    order_id = created.json()["id"]
    Product.objects.filter(sku__in=["A", "B"]).update(stock_on_hand=0)
    refused = api.post(f"/api/v1/orders/{order_id}/confirm", content_type="application/json")
    assert refused.status_code == 409
    assert refused.json()["short_lines"] == [{"sku": "A", "requested": 2, "available": 0},
                                             {"sku": "B", "requested": 1, "available": 0}]
    Product.objects.filter(sku="A").update(stock_on_hand=5)
    Product.objects.filter(sku="B").update(stock_on_hand=1)
    ok = api.post(f"/api/v1/orders/{order_id}/confirm", content_type="application/json")
    assert ok.status_code == 200 and ok.json()["state"] == "confirmado" and ok.json()["total"] == "30000.00"
    assert ok.json()["kommo_sync"] is None  # no Kommo connected in this test
    fetched = api.get(f"/api/v1/orders/{order_id}").json()
    assert [line["sku"] for line in fetched["lines"]] == ["A", "B"]


def test_api_list_is_paginated_and_scoped_for_agents(agent, make_user, api_client_for,
                                                    django_assert_max_num_queries):
    from orders import actions

    product("A", stock=100)
    other = make_user("agente")
    for user in [agent] * 3 + [other] * 2:
        actions.check_create_order(user, lead_id=ready_lead().pk, lines=[("A", 1)])
    api = api_client_for(agent)
    api.get("/api/v1/orders")
    with django_assert_max_num_queries(7):
        body = api.get("/api/v1/orders?page_size=2").json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]


def test_builder_pages_add_update_and_confirm(agent, client_for):
    product("A", stock=3, name="Plan Hogar")
    product("Z", stock=0, name="Agotado")
    lead = ready_lead()
    client = client_for(agent)
    search = client.get(reverse("catalog:search"), {"q": "", "lead": lead.pk}).content.decode()
    assert "Plan Hogar" in search and "Sin stock" in search
    panel = client.post(reverse("orders:draft_add"), {"lead_id": lead.pk, "sku": "A", "quantity": 2},
                        headers={"HX-Request": "true"}).content.decode()
    assert 'data-testid="draft-lines"' in panel and "20.000\u00a0COP" in panel
    too_many = client.post(reverse("orders:draft_add"), {"lead_id": lead.pk, "sku": "A", "quantity": 5},
                           headers={"HX-Request": "true"}).content.decode()
    assert 'data-testid="order-error"' in too_many and "disponibles 3" in too_many
    order = Order.objects.get()
    response = client.post(reverse("orders:confirm", args=[order.pk]))
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.state == "confirmado"
    page = client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert order.number in page


def test_orders_list_detail_and_csv_export(supervisor, agent, client_for):
    from orders import actions

    product("A", stock=10)
    order = actions.check_create_order(agent, lead_id=ready_lead().pk, lines=[("A", 2)])
    actions.check_confirm_order(agent, order.pk)
    client = client_for(supervisor)
    assert order.number in client.get(reverse("orders:list"), {"state": "confirmado"}).content.decode()
    assert client.get(reverse("orders:detail", args=[order.pk])).status_code == 200
    csv_body = b"".join(client.get(reverse("orders:export"), {"headers": "name"}).streaming_content).decode("utf-8-sig")
    assert csv_body.splitlines()[0].startswith("order,state")
    assert f"{order.number},confirmado" in csv_body
    assert str(order.customer.uuid) in csv_body  # public ids, not database ids
    readable = b"".join(client.get(reverse("orders:export")).streaming_content).decode("utf-8-sig")
    assert readable.splitlines()[0].startswith("Pedido,Estado,Creado,Confirmado,Agente")
    assert f"{order.number},Confirmado" in readable
    client.post(reverse("orders:dispatch", args=[order.pk]))
    order.refresh_from_db()
    assert order.state == "despachado"
