"""Issue 12 for the catalog: bad input is refused with a clear 4xx (API, pages) or a line of the import report, the
same rule on every path; long imports write in short batches."""

from __future__ import annotations

import io
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.template.loader import render_to_string

from catalog.actions import MAX_STOCK, check_adjust_stock, check_receive_stock, check_save_product
from catalog.forms import ImportForm
from catalog.importer import IMPORT_BATCH, IMPORT_REASON, ImportReport, RowError, import_products_csv
from catalog.models import MovementKind, Product, StockMovement
from catalog.tests.helpers import ledger_matches
from core.errors import ActionError
from core.models import AuditLog
from orders.tests.factories import product

pytestmark = pytest.mark.django_db
JSON = "application/json"


def run(data: bytes | str, user=None, **kwargs):
    raw = data.encode() if isinstance(data, str) else data
    return import_products_csv(io.BytesIO(raw), acting_user=user, **kwargs)


# --- stock bounds ----------------------------------------------------------------------------------


def test_stock_adjustment_of_plus_10_pow_18_is_refused(supervisor, api_client_for, client_for):
    # given a product with 10 units
    p = product("ADJ-1", stock=10)
    # when +10^18 is sent to the API, the page and the action
    api = api_client_for(supervisor).post("/api/v1/products/ADJ-1/adjustments",
                                          {"delta": 10**18, "reason": "conteo"}, content_type=JSON)
    page = client_for(supervisor).post(f"/catalog/products/{p.pk}/adjust",
                                       {"adjust-delta": str(10**18), "adjust-set_aside_delta": "0",
                                        "adjust-reason": "conteo"})
    with pytest.raises(ActionError) as refused:
        check_adjust_stock(supervisor, p.pk, delta=10**18, reason="conteo")
    # then each refuses it clearly and the stock is untouched
    assert api.status_code == 400 and api.json()["code"] == "invalid_request"
    assert "delta" in api.json()["detail"]
    assert page.status_code == 400
    assert refused.value.code == "invalid_quantity" and "1.000.000.000" in refused.value.message
    p.refresh_from_db()
    assert p.stock_on_hand == 10 and ledger_matches(p)


def test_stock_adjustment_of_2_pow_63_is_400_not_500(supervisor, api_client_for):
    # given a product, when 2**63 (one past a bigint) and -2**63 - 1 are sent
    product("ADJ-2")
    api = api_client_for(supervisor)
    for delta in (2**63, -(2**63) - 1):
        response = api.post("/api/v1/products/ADJ-2/adjustments", f'{{"delta": {delta}, "reason": "x"}}',
                            content_type=JSON)
        # then a 400 in the envelope
        assert response.status_code == 400, delta
        assert response.json()["code"] == "invalid_request"


def test_stock_beyond_a_billion_is_refused_on_create_receive_and_adjust(supervisor, api_client_for):
    # given a product already holding the maximum less 5 units
    p = product("BIG-1", stock=MAX_STOCK - 5)
    api = api_client_for(supervisor)
    # when a product is created with 10^9 + 1 units, and 6 more units are received or adjusted into BIG-1
    created = api.post("/api/v1/products", {"sku": "BIG-2", "name": "X", "price": "1", "stock": MAX_STOCK + 1},
                       content_type=JSON)
    with pytest.raises(ActionError) as received:
        check_receive_stock(supervisor, p.pk, quantity=6, reason="factura 1")
    with pytest.raises(ActionError) as adjusted:
        check_adjust_stock(supervisor, p.pk, delta=6, reason="conteo")
    with pytest.raises(ActionError) as initial:
        check_save_product(supervisor, sku="BIG-3", name="X", price="1", initial_stock=MAX_STOCK + 1)
    # then all are refused, and exactly the maximum is still allowed
    assert created.status_code == 400
    assert received.value.code == adjusted.value.code == "stock_too_large"
    assert initial.value.details["errors"]["stock"].startswith("El stock inicial supera el máximo")
    check_adjust_stock(supervisor, p.pk, delta=5, reason="conteo")
    p.refresh_from_db()
    assert p.stock_on_hand == MAX_STOCK and ledger_matches(p)
    assert not Product.objects.filter(sku__in=["BIG-2", "BIG-3"]).exists()


def test_catalog_csv_with_huge_stock_reports_the_line(supervisor, client_for):
    # given a file whose stocks are 10^30, 5,000 digits and a billion and one
    text = ("sku,nombre,precio,stock\n"
            "H-1,Uno,100,1000000000000000000000000000000\n"
            f"H-2,Dos,100,{'9' * 5000}\n"
            f"H-3,Tres,100,{MAX_STOCK + 1}\n"
            f"H-4,Cuatro,100,{MAX_STOCK}\n")
    # when it is imported by the command's function and through the page
    report = run(text, supervisor)
    page = client_for(supervisor).post("/catalog/products/import/",
                                       {"file": SimpleUploadedFile("p.csv", text.encode())})
    # then each huge stock is a line of the report, the page answers 400 with them, and nothing is written
    assert [e.line for e in report.errors] == [2, 3, 4]
    assert all("supera el máximo" in e.message for e in report.errors)
    assert page.status_code == 400 and "supera el máximo" in page.content.decode()
    assert not Product.objects.exists()


# --- SKUs ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sku", ["A/B", "A\\B", "..", "A\tB"])
def test_sku_a_slash_b_is_refused_on_every_path(sku, supervisor, api_client_for, client_for):
    # when a product with a SKU that could not be addressed is created by the API, the page and an import
    api = api_client_for(supervisor).post("/api/v1/products", {"sku": sku, "name": "X", "price": "1"},
                                          content_type=JSON)
    page = client_for(supervisor).post("/catalog/products/new/", {"sku": sku, "name": "X", "price": "1",
                                                                  "initial_stock": "0", "is_active": "on"})
    report = run(f'sku,nombre,precio\n"{sku}",X,1\n', supervisor)
    # then all three refuse it with the reason, and nothing exists
    assert api.status_code == 400 and api.json()["field"] == "sku" and "SKU" in api.json()["detail"]
    assert page.status_code == 400
    assert [e.line for e in report.errors] == [2] and "SKU" in report.errors[0].message
    assert not Product.objects.exists()


@pytest.mark.parametrize("sku", ["A B", "A?B", "A#B", "A%B", "A+B", "Ñandú-1", "A.B", "A&B", "A;B", "A'B"])
def test_every_sku_that_is_accepted_is_reachable_at_its_url(sku, supervisor, api_client_for):
    # given a SKU with signs that need percent-encoding in a URL
    api = api_client_for(supervisor)
    created = api.post("/api/v1/products", {"sku": sku, "name": "X", "price": "1"}, content_type=JSON)
    assert created.status_code == 201
    # when it is read, changed and adjusted at its encoded address
    url = f"/api/v1/products/{quote(sku, safe='')}"
    # then every call finds it
    assert api.get(url).json()["sku"] == sku
    assert api.patch(url, {"name": "Y"}, content_type=JSON).status_code == 200
    assert api.post(f"{url}/adjustments", {"delta": 2, "reason": "conteo"}, content_type=JSON).status_code == 201
    assert api.get(f"{url}/movements").json()["count"] == 1


def test_a_product_saved_before_the_sku_rule_stays_editable_and_the_data_check_lists_it(supervisor, client_for):
    # given a product saved with "A/B" before the rule existed (written straight to the table)
    legacy = Product.objects.create(sku="A/B", name="Viejo", price=Decimal(1))
    # when the data check runs
    out = io.StringIO()
    call_command("check", "--database", "default", stdout=out, stderr=out)
    # then it names the product and the page to fix it on
    assert "catalog.W001" in out.getvalue() and f"/catalog/products/{legacy.pk}/" in out.getvalue()
    # and the product can still be edited in place, and renamed to a valid SKU on its page
    check_save_product(supervisor, product_id=legacy.pk, sku="A/B", name="Viejo 2", price="2")
    response = client_for(supervisor).post(f"/catalog/products/{legacy.pk}/",
                                           {"sku": "A-B", "name": "Viejo 2", "price": "2", "is_active": "on"})
    assert response.status_code == 302
    legacy.refresh_from_db()
    assert legacy.sku == "A-B"
    out = io.StringIO()
    call_command("check", "--database", "default", stdout=out, stderr=out)
    assert "catalog.W001" not in out.getvalue()


# --- text a database cannot store -------------------------------------------------------------------


def test_nul_bytes_in_product_names_are_refused_on_every_path(supervisor, api_client_for, client_for):
    # when a name with a NUL is sent to the API, the page, the action and an import
    api = api_client_for(supervisor).post("/api/v1/products", {"sku": "N-1", "name": "Caf\x00é", "price": "1"},
                                          content_type=JSON)
    page = client_for(supervisor).post("/catalog/products/new/", {"sku": "N-1", "name": "Caf\x00é", "price": "1",
                                                                  "initial_stock": "0"})
    with pytest.raises(ActionError) as action:
        check_save_product(supervisor, sku="N-1", name="Caf\x00é", price="1")
    report = run("sku,nombre,precio\nN-1,Caf\x00é,1\n", supervisor)
    # then: a 400 naming the field, the form's error, the action's field error, a file-level line
    assert api.status_code == 400 and api.json()["errors"] == [{"field": "name", "message": api.json()["detail"]}]
    assert "U+0000" in api.json()["detail"]
    assert page.status_code == 200 and "name" in page.context["form"].errors  # Django's own NUL validator
    assert "U+0000" in action.value.details["errors"]["name"]
    assert [e.line for e in report.errors] == [2] and "nulos" in report.errors[0].message
    assert not Product.objects.exists()


# --- files ---------------------------------------------------------------------------------------------


def test_a_windows_1252_catalog_file_is_read_with_its_accents():
    # given what Excel on Windows saves as «CSV (delimitado por comas)»: Windows-1252, semicolons
    text = "sku;nombre;precio;categoría\nP-1;Piña colada «especial»;100;Bebidas\n"
    # when it is imported
    report = run(text.encode("cp1252"))
    # then the accents and signs are right
    assert report.ok and report.created == 1
    assert Product.objects.get(sku="P-1").name == "Piña colada «especial»"


def test_binary_and_broken_utf8_catalog_files_are_refused_with_the_line():
    # given a spreadsheet saved as .xlsx (a zip: NUL bytes), and a UTF-8 file with one stray Latin-1 byte
    xlsx = b"PK\x03\x04\x14\x00\x06\x00\x08\x00"
    mixed = "sku,nombre,precio\nP-1,Café,1\n".encode() + b"P-2,Pi\xf1a,1\n"
    # when they are imported
    binary_report, mixed_report = run(xlsx), run(mixed)
    # then each gets one clear file-level error with its line
    assert [e.line for e in binary_report.errors] == [1] and "no es un CSV de texto" in binary_report.errors[0].message
    assert [e.line for e in mixed_report.errors] == [3] and "0xF1" in mixed_report.errors[0].message
    assert not Product.objects.exists()


# --- long imports: short transactions ------------------------------------------------------------------


def test_a_long_catalog_import_is_written_in_batches_and_rerunning_it_changes_nothing(supervisor):
    # given a file of two and a half batches, some with stock
    count = IMPORT_BATCH * 2 + IMPORT_BATCH // 2
    text = "sku,nombre,precio,stock\n" + "".join(f"L-{i:05d},Producto {i},{100 + i},{i % 3}\n" for i in range(count))
    batches: list[tuple[int, int]] = []
    # when it is imported, following the progress
    report = run(text, supervisor, progress=lambda done, total: batches.append((done, total)))
    # then one write per batch, everything created, and the ledger explains every stock
    assert batches == [(IMPORT_BATCH, count), (IMPORT_BATCH * 2, count), (count, count)]
    assert report.ok and (report.created, report.updated, report.unchanged) == (count, 0, 0)
    assert Product.objects.count() == count
    assert StockMovement.objects.filter(kind=MovementKind.RECEIPT, reason=IMPORT_REASON).count() == \
        sum(1 for i in range(count) if i % 3)
    assert AuditLog.objects.filter(action="product.created").count() == count
    assert ledger_matches(Product.objects.get(sku="L-00002"))
    # and importing the same file again writes nothing
    movements, audits = StockMovement.objects.count(), AuditLog.objects.count()
    again = run(text, supervisor)
    assert again.ok and (again.created, again.updated, again.unchanged) == (0, 0, count)
    assert StockMovement.objects.count() == movements and AuditLog.objects.count() == audits


def test_a_batch_refused_while_writing_stops_there_and_rerunning_completes_the_import(supervisor):
    # given a file of two batches whose second batch updates an existing product to 5 units
    kept = product("Z-LAST", stock=10)
    rows = [f"L-{i:05d},Producto {i},100,1\n" for i in range(IMPORT_BATCH)]
    text = "sku,nombre,precio,stock\n" + "".join(rows) + "Z-LAST,Producto Z-LAST,10000,5\n"

    def meanwhile(done: int, total: int) -> None:
        # an agent sets 8 units aside after the first batch is written (validation saw none set aside)
        if done == IMPORT_BATCH:
            check_adjust_stock(supervisor, kept.pk, set_aside_delta=8, reason="Apartado para feria")

    # when it is imported
    report = run(text, supervisor, progress=meanwhile)
    # then the first batch stays written, the refused row is reported with its line, and the report says so
    last_line = IMPORT_BATCH + 2
    assert report.partial and report.stopped_at == last_line
    assert [(e.line, "apartadas (8)" in e.message) for e in report.errors] == [(last_line, True)]
    assert report.created == IMPORT_BATCH and "se detuvo en la línea" in report.as_lines()[0]
    kept.refresh_from_db()
    assert kept.stock_on_hand == 10
    # and once the set-aside units are released, the same file completes the import without duplicating anything
    check_adjust_stock(supervisor, kept.pk, set_aside_delta=-8, reason="Feria cancelada")
    again = run(text, supervisor)
    assert again.ok and (again.created, again.updated, again.unchanged) == (0, 1, IMPORT_BATCH)
    kept.refresh_from_db()
    assert kept.stock_on_hand == 5 and ledger_matches(kept)
    assert Product.objects.count() == IMPORT_BATCH + 1


def test_the_import_page_explains_an_import_that_stopped_part_way(supervisor, rf):
    # given the report of an import stopped at line 502 by a concurrent change
    report = ImportReport(created=500, unchanged=3, stopped_at=502,
                          errors=[RowError(502, "El stock (5) es menor que las unidades apartadas (8) del producto.")])
    request = rf.get("/catalog/products/import/")
    request.user = supervisor
    # when the page shows it
    html = render_to_string("catalog/product_import.html", {"form": ImportForm(), "report": report}, request=request)
    # then it says where it stopped, what was imported, and the refused line
    assert "data-partial" in html and "502" in html and "Creados: 500" in html
    assert "apartadas (8)" in html and "No se importó nada" not in html
