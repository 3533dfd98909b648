from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.actions import check_adjust_stock
from catalog.importer import import_products_csv
from catalog.models import MovementKind, Product, StockMovement
from catalog.tests.helpers import ledger_matches
from core.models import AuditLog
from orders.tests.factories import product

pytestmark = pytest.mark.django_db


def test_list_shows_stock_columns_searches_and_filters(supervisor, client_for):
    # given an active product with units set aside, an inactive one and one out of stock
    cafe = product("CAF-1", price="18900.50", stock=10, name="Café de Nariño")
    check_adjust_stock(supervisor, cafe.pk, set_aside_delta=3, reason="Feria")
    product("TE-1", stock=4, name="Té verde")
    Product.objects.filter(sku="TE-1").update(is_active=False)
    product("AZU-1", stock=0, name="Azúcar")
    client = client_for(supervisor)
    # when the list is opened, searched (accent-free, by name and by SKU prefix) and filtered
    page = client.get(reverse("catalog:product_list"))
    by_name = client.get(reverse("catalog:product_list"), {"q": "nariño"}).context["products"]
    by_sku = client.get(reverse("catalog:product_list"), {"q": "caf"}).context["products"]
    inactive = client.get(reverse("catalog:product_list"), {"status": "inactive"}).context["products"]
    out = client.get(reverse("catalog:product_list"), {"status": "out_of_stock"}).context["products"]
    # then each column is there (price with the currency, on hand, set aside, available)
    html = page.content.decode()
    assert page.status_code == 200
    assert "18.901\u00a0COP" in html  # core.money: COP without cents, Spanish separators, settings.CURRENCY
    row = html[html.index(f'data-product-id="{cafe.pk}"'):]
    row = row[:row.index("</tr>")]
    assert ">10<" in row and ">3<" in row and ">7<" in row
    assert f'href="/catalog/products/{cafe.pk}/"' in row
    assert [p.sku for p in by_name] == ["CAF-1"] and [p.sku for p in by_sku] == ["CAF-1"]
    assert [p.sku for p in inactive] == ["TE-1"] and [p.sku for p in out] == ["AZU-1"]
    # and a supervisor gets the manage controls
    assert reverse("catalog:product_create") in html and reverse("catalog:product_import") in html


def test_list_is_paginated_by_50_with_flat_queries(agent, client_for, django_assert_num_queries):
    # given 60 products
    Product.objects.bulk_create(Product(sku=f"P-{i:03d}", name=f"Producto {i:03d}", price=1) for i in range(60))
    client = client_for(agent)
    client.get(reverse("catalog:product_list"))  # warm: session, site settings
    # when an agent opens the first and second page
    # session, user, one page of products, site settings (menu), the chat's unread badge, the announcements banner
    with django_assert_num_queries(6):
        first = client.get(reverse("catalog:product_list"))
    second = client.get(reverse("catalog:product_list"), {"page": 2})
    # then 50 and 10 rows, and no manage controls for an agent
    assert len(first.context["products"]) == 50 and first.context["has_next"]
    assert len(second.context["products"]) == 10 and not second.context["has_next"]
    assert reverse("catalog:product_create") not in first.content.decode()


def test_supervisor_creates_a_product_with_initial_stock(supervisor, client_for):
    # given a supervisor on the new-product page
    client = client_for(supervisor)
    assert client.get(reverse("catalog:product_create")).status_code == 200
    # when the form is sent with a decimal-comma price and initial stock
    response = client.post(reverse("catalog:product_create"), {
        "sku": "NEW-1", "name": "Panela", "price": "2500,50", "category": "Dulces", "description": "",
        "is_active": "on", "initial_stock": "8"})
    # then the product exists, the stock is a receipt, and the browser lands on its page
    p = Product.objects.get(sku="NEW-1")
    assert response.status_code == 302 and response["Location"] == reverse("catalog:product_detail", args=[p.pk])
    assert p.price == Decimal("2500.50") and p.stock_on_hand == 8 and ledger_matches(p)
    assert StockMovement.objects.get(product=p).kind == MovementKind.RECEIPT


def test_create_shows_errors_next_to_fields(supervisor, client_for):
    # given an existing SKU
    product("DUP-1")
    # when a product with the same SKU and a bad price is sent
    response = client_for(supervisor).post(reverse("catalog:product_create"), {
        "sku": "DUP-1", "name": "Otro", "price": "abc", "initial_stock": "0"})
    # then the form comes back with both errors and nothing was created
    form = response.context["form"]
    assert response.status_code == 400
    assert "DUP-1" in form.errors["sku"][0] and "Precio inválido" in form.errors["price"][0]
    assert Product.objects.count() == 1


def test_supervisor_edits_a_product(supervisor, client_for):
    # given a product
    p = product("ED-1", price="100")
    # when the edit form is sent
    response = client_for(supervisor).post(reverse("catalog:product_detail", args=[p.pk]), {
        "sku": "ED-1", "name": "Editado", "price": "120.5", "category": "Nueva", "description": "Texto"})
    # then it is saved (inactive: the box was unticked) with one audit entry
    p.refresh_from_db()
    assert response.status_code == 302
    assert (p.name, p.price, p.category, p.is_active) == ("Editado", Decimal("120.50"), "Nueva", False)
    assert AuditLog.objects.filter(action="product.updated", target_id=str(p.pk)).count() == 1


def test_detail_shows_stock_and_the_ledger_with_order_links(agent, client_for):
    # given a product with a receipt and a sale tied to an order
    p = product("LED-1", stock=5)
    receipt = StockMovement.objects.get(product=p)
    # when an agent opens it
    response = client_for(agent).get(reverse("catalog:product_detail", args=[p.pk]))
    html = response.content.decode()
    # then the stock panel and ledger are shown, but no forms
    assert response.status_code == 200 and list(response.context["movements"]) == [receipt]
    assert "Stock inicial" in html and 'id="adjust-form"' not in html and 'id="product-form"' not in html


def test_order_number_links_to_the_order(supervisor, client_for):
    # given a sale movement of an order
    from orders import actions as order_actions
    from orders.tests.factories import ready_lead

    p = product("ORD-1", stock=5)
    order = order_actions.check_create_order(supervisor, lead_id=ready_lead().pk, lines=[("ORD-1", 2)])
    order_actions.check_confirm_order(supervisor, order.pk)
    # when the product page is opened
    html = client_for(supervisor).get(reverse("catalog:product_detail", args=[p.pk])).content.decode()
    # then the sale links to the order by its number
    assert f'<a href="/orders/{order.pk}/">{order.number}</a>' in html


def test_supervisor_adjusts_and_receives_stock(supervisor, client_for):
    # given a product with 5 on hand
    p = product("ADJ-1", stock=5)
    client = client_for(supervisor)
    # when 2 are written off, 1 set aside, and 10 received
    adjusted = client.post(reverse("catalog:product_adjust", args=[p.pk]), {
        "adjust-delta": "-2", "adjust-set_aside_delta": "1", "adjust-reason": "Conteo físico"})
    received = client.post(reverse("catalog:product_receive", args=[p.pk]), {
        "receive-quantity": "10", "receive-reason": "Factura 991"})
    # then the stock and the ledger agree, each change with its reason and one audit entry
    p.refresh_from_db()
    assert adjusted.status_code == received.status_code == 302
    assert (p.stock_on_hand, p.stock_reserved, p.stock_available) == (13, 1, 12) and ledger_matches(p)
    kinds = list(StockMovement.objects.filter(product=p).values_list("kind", "reason"))
    assert kinds[:2] == [(MovementKind.RECEIPT, "Factura 991"), (MovementKind.ADJUSTMENT, "Conteo físico")]
    assert AuditLog.objects.filter(action__in=["stock.adjusted", "stock.received"]).count() == 2


def test_adjustment_errors_are_shown_in_the_form(supervisor, client_for):
    # given a product with 1 on hand
    p = product("ADJ-2", stock=1)
    client = client_for(supervisor)
    # when an adjustment without a reason, and one below zero, are sent
    no_reason = client.post(reverse("catalog:product_adjust", args=[p.pk]), {
        "adjust-delta": "1", "adjust-set_aside_delta": "0", "adjust-reason": ""})
    below = client.post(reverse("catalog:product_adjust", args=[p.pk]), {
        "adjust-delta": "-5", "adjust-set_aside_delta": "0", "adjust-reason": "Daño"})
    # then both come back with the reason, and the stock did not move
    assert no_reason.status_code == 400 and no_reason.context["adjust_form"].errors["reason"]
    assert below.status_code == 409 and "dejaría el stock en -4" in below.content.decode()
    p.refresh_from_db()
    assert p.stock_on_hand == 1


def test_import_page_shows_every_error_with_its_line(supervisor, client_for):
    # given a file with two bad rows
    upload = SimpleUploadedFile("p.csv", b"sku;nombre;precio\nA;Uno;1\n;Dos;2\nC;Tres;x\n",
                                content_type="text/csv")
    # when it is uploaded
    response = client_for(supervisor).post(reverse("catalog:product_import"), {"file": upload})
    # then the page lists both lines and nothing was imported
    html = response.content.decode()
    assert response.status_code == 400
    assert "<td>3</td><td>Falta el SKU.</td>" in html and "<td>4</td><td>Precio inválido «x»" in html
    assert not Product.objects.exists()


def test_import_page_imports_a_good_file(supervisor, client_for):
    # given a good file with a BOM
    upload = SimpleUploadedFile("p.csv", "\ufeffsku,name,price,stock\nA,Uno,1.50,3\n".encode(),
                                content_type="text/csv")
    # when it is uploaded
    response = client_for(supervisor).post(reverse("catalog:product_import"), {"file": upload})
    # then the report shows the count and the product exists with its stock
    assert response.status_code == 200 and response.context["report"].created == 1
    assert Product.objects.get(sku="A").stock_on_hand == 3


def test_export_is_utf8_with_bom_and_every_column(agent, client_for):
    # given a product with accents and units set aside
    p = product("EXP-1", price="12500.50", stock=6, name="Piña colada, lata")
    Product.objects.filter(pk=p.pk).update(stock_reserved=2, category="Bebidas", description="Sin azúcar")
    # when the CSV is downloaded (the default: headers in the reader's language)
    response = client_for(agent).get(reverse("catalog:product_export"))
    body = b"".join(response.streaming_content)
    # then it is UTF-8 with a BOM, with the documented columns and values
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="productos-')
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows == [
        ["SKU", "Nombre", "Descripción", "Categoría", "Precio", "Activo", "En bodega", "Apartado", "Disponible",
         "ID del producto"],
        ["EXP-1", "Piña colada, lata", "Sin azúcar", "Bebidas", "12500.50", "Sí", "6", "2", "4", str(p.uuid)],
    ]


@pytest.mark.parametrize(("options", "delimiter", "price", "language"), [
    ({"headers": "name"}, ",", "12500.50", "es"),
    ({"dialect": "excel"}, ";", "12500,50", "es"),
    ({"dialect": "excel"}, ";", "12500,50", "en"),
    ({}, ",", "12500.50", "en"),
    ({"dialect": "excel", "headers": "name"}, ";", "12500,50", "es"),
])
def test_both_flavours_read_back_and_import_back(options, delimiter, price, language, agent, admin_user,
                                                  client_for):
    # given a product, exported in one flavour by someone reading Spanish or English
    agent.language = language
    agent.save(update_fields=["language"])
    p = product("RT-1", price="12500.50", stock=6, name="Piña colada, lata")
    body = b"".join(client_for(agent).get(reverse("catalog:product_export"), options).streaming_content)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=delimiter))
    # then Python's csv module reads it with its delimiter, with the price in that flavour's decimals
    assert rows[1][:5] == ["RT-1", "Piña colada, lata", "", "", price]
    # and the file, its price edited, imports back unchanged otherwise
    rows[1][4] = "13000" + ("," if delimiter == ";" else ".") + "00"
    edited = io.StringIO()
    csv.writer(edited, delimiter=delimiter).writerows(rows)
    report = import_products_csv(io.BytesIO(edited.getvalue().encode("utf-8-sig")), acting_user=admin_user)
    p.refresh_from_db()
    assert report.ok, report.as_lines()
    assert (p.price, p.name, p.stock_on_hand) == (Decimal("13000.00"), "Piña colada, lata", 6)


def test_an_unknown_export_option_is_a_400(agent, client_for):
    response = client_for(agent).get(reverse("catalog:product_export"), {"dialect": "xlsx"})
    assert response.status_code == 400 and "dialect" in response.content.decode()


@pytest.mark.parametrize(("method", "name", "args"), [
    ("get", "catalog:product_create", []),
    ("get", "catalog:product_import", []),
    ("post", "catalog:product_detail", ["pk"]),
    ("post", "catalog:product_adjust", ["pk"]),
    ("post", "catalog:product_receive", ["pk"]),
])
def test_agent_gets_403_on_manage_pages(agent, client_for, method, name, args):
    # given an agent (CATALOG_VIEW only) and a product
    p = product("AG-1", stock=3)
    url = reverse(name, args=[p.pk if a == "pk" else a for a in args])
    # when they open or post to a manage page
    response = getattr(client_for(agent), method)(url, {"adjust-delta": "5", "adjust-reason": "x",
                                                         "receive-quantity": "5", "receive-reason": "x",
                                                         "sku": "AG-1", "name": "X", "price": "1"})
    # then 403, and nothing changed
    p.refresh_from_db()
    assert response.status_code == 403 and p.stock_on_hand == 3 and p.name == "Producto AG-1"


def test_anonymous_is_sent_to_login(client):
    # given nobody logged in
    # when the list is opened
    response = client.get(reverse("catalog:product_list"))
    # then the login page
    assert response.status_code == 302 and "login" in response["Location"]
