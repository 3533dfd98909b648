from __future__ import annotations

import io
from decimal import Decimal

import pytest

from catalog.actions import check_adjust_stock, check_save_product
from catalog.importer import IMPORT_REASON, import_products_csv
from catalog.models import MovementKind, Product, StockMovement
from catalog.tests.helpers import ledger_matches
from core.errors import PermissionDeniedError
from core.models import AuditLog
from orders.tests.factories import product

pytestmark = pytest.mark.django_db

# What Excel in Spanish saves as «CSV UTF-8»: a BOM, semicolons, decimal commas, Spanish headers, CRLF.
GOOD_SEMICOLON = (
    "\ufeffsku;Nombre;Precio;Descripción;Categoría;Activo;Stock\r\n"
    "CAF-250;Café de Nariño 250 g;18900,50;Tostión media;Café;sí;12\r\n"
    "TE-01;Té de montaña;7500;;Bebidas;no;0\r\n"
    "\r\n"  # blank lines are skipped
    'AZU-1;"Azúcar; morena";3200.5;"Bolsa de 1 kg\r\nsin refinar";;1;\r\n'
)


def run(text: str, user=None, *, dry_run: bool = False, encoding: str = "utf-8"):
    return import_products_csv(io.BytesIO(text.encode(encoding)), acting_user=user, dry_run=dry_run)


def test_good_file_with_bom_and_semicolons_creates_products_and_receipts(supervisor):
    # given an Excel-style file (BOM, semicolons, decimal comma, Spanish headers, a quoted multi-line cell)
    # when a supervisor imports it
    report = run(GOOD_SEMICOLON, supervisor)
    # then every product exists with exact decimal prices and the stock came in as ledger receipts
    assert report.ok and (report.created, report.updated, report.unchanged) == (3, 0, 0)
    cafe, te, azucar = (Product.objects.get(sku=s) for s in ("CAF-250", "TE-01", "AZU-1"))
    assert cafe.price == Decimal("18900.50") and cafe.name == "Café de Nariño 250 g"
    assert cafe.category == "Café" and cafe.description == "Tostión media" and cafe.is_active
    assert cafe.stock_on_hand == 12 and not te.is_active and te.stock_on_hand == 0
    assert azucar.name == "Azúcar; morena" and azucar.price == Decimal("3200.50")
    assert azucar.description == "Bolsa de 1 kg\r\nsin refinar" and azucar.is_active
    (receipt,) = StockMovement.objects.filter(product=cafe)
    assert receipt.kind == MovementKind.RECEIPT and receipt.on_hand_delta == 12 and receipt.reason == IMPORT_REASON
    assert receipt.user == supervisor
    assert not StockMovement.objects.filter(product=te).exists()  # nothing received, nothing in the ledger
    assert all(ledger_matches(p) for p in (cafe, te, azucar))
    assert AuditLog.objects.filter(action="product.created").count() == 3


def test_comma_file_without_bom_and_english_headers():
    # given a plain comma-separated file with English headers and only the required columns
    text = "sku,name,price\nA-1,Arepa,2500.00\nB-2,Bocadillo,900\n"
    # when the system imports it (manage.py: no user)
    report = run(text)
    # then both exist, active, without stock
    assert report.ok and report.created == 2
    assert Product.objects.get(sku="A-1").price == Decimal("2500.00")
    assert Product.objects.filter(is_active=True, stock_on_hand=0).count() == 2


def test_bad_file_reports_every_error_with_its_line_and_writes_nothing(supervisor):
    # given one existing product and a file with a bad row almost everywhere
    existing = product("OK-1", price="100", stock=5)
    text = (
        "sku;nombre;precio;stock;color\n"        # 1: unknown column
        "OK-1;Existente;150;7;\n"                # 2: fine (would update)
        ";Sin SKU;100;1;\n"                      # 3: missing sku
        "X-2;;100;1;\n"                          # 4: missing name
        "X-3;Precio malo;12.500;1;\n"            # 5: three decimals (thousands separator?)
        "X-4;Precio flotante;1e3;1;\n"           # 6: exponent notation
        "X-5;Stock negativo;100;-4;\n"           # 7: negative stock
        "X-6;Duplicado;100;1;\n"                 # 8: fine by itself
        "X-6;Duplicado otra vez;100;1;\n"        # 9: duplicate sku within the file
        "X-7;Stock raro;100;2,5;\n"              # 10: not an integer
        "X-8;Nuevo bueno;99,90;3;\n"             # 11: fine
    )
    # when it is imported
    report = run(text, supervisor)
    # then every bad line is reported with its reason, in order
    assert not report.ok
    by_line: dict[int, list[str]] = {}
    for e in report.errors:
        by_line.setdefault(e.line, []).append(e.message)
    assert sorted(by_line) == [1, 3, 4, 5, 6, 7, 9, 10]
    assert "Columna desconocida «color»" in by_line[1][0]
    assert by_line[3] == ["Falta el SKU."]
    assert by_line[4] == ["Falta el nombre."]
    assert "Precio inválido «12.500»" in by_line[5][0] and "Precio inválido «1e3»" in by_line[6][0]
    assert "negativo" in by_line[7][0]
    assert "repetido: ya aparece en la línea 8" in by_line[9][0]
    assert "entero" in by_line[10][0]
    assert [e.line for e in report.errors] == sorted(e.line for e in report.errors)
    # and nothing was written: no new product, the good update not applied, no movement, no audit
    assert list(Product.objects.values_list("sku", flat=True)) == ["OK-1"]
    existing.refresh_from_db()
    assert existing.price == Decimal("100.00") and existing.stock_on_hand == 5
    assert StockMovement.objects.count() == 1  # the factory's initial receipt only
    assert (report.created, report.updated, report.unchanged) == (0, 0, 0)


def test_missing_required_column_stops_at_the_header():
    # given a file without a price column
    # when it is imported
    report = run("sku,nombre\nA,B\n")
    # then the header is reported (not every row) and nothing is created
    assert [(e.line, e.message) for e in report.errors] == [(1, "Falta la columna obligatoria «precio».")]
    assert not Product.objects.exists()


def test_latin1_files_are_read_and_empty_files_are_reported():
    # given a Latin-1 file (an old Excel "CSV" export, read as Windows-1252) and an empty one
    # when they are imported
    latin1 = run("sku,nombre,precio\nA,Piña,100\n", encoding="latin-1")
    empty = run("")
    # then the first is imported with its accents, the second gets one clear error
    assert latin1.ok and Product.objects.get(sku="A").name == "Piña"
    assert empty.errors[0].line == 1 and "vacío" in empty.errors[0].message


def test_reimporting_the_same_file_changes_nothing(supervisor):
    # given a file already imported
    run(GOOD_SEMICOLON, supervisor)
    movements, audits = StockMovement.objects.count(), AuditLog.objects.count()
    # when it is imported again
    report = run(GOOD_SEMICOLON, supervisor)
    # then every row is unchanged and no movement or audit entry is added
    assert report.ok and (report.created, report.updated, report.unchanged) == (0, 0, 3)
    assert StockMovement.objects.count() == movements and AuditLog.objects.count() == audits


def test_stock_change_of_existing_product_is_an_adjustment_and_ledger_still_adds_up(supervisor):
    # given a product with 10 on hand, 3 of them set aside
    p = product("CAF-1", price="1000", stock=10)
    check_adjust_stock(supervisor, p.pk, set_aside_delta=3, reason="Reservado para feria")
    # when a file sets its stock to 4 and its price to 1200,5
    report = run("sku,nombre,precio,stock\nCAF-1,Producto CAF-1,\"1200,5\",4\n", supervisor)
    # then it is updated: the price exact, the difference a manual adjustment with the import's reason
    assert report.ok and (report.created, report.updated, report.unchanged) == (0, 1, 0)
    p.refresh_from_db()
    assert p.price == Decimal("1200.50") and p.stock_on_hand == 4 and p.stock_reserved == 3
    last = StockMovement.objects.filter(product=p).first()
    assert last.kind == MovementKind.ADJUSTMENT and last.on_hand_delta == -6 and last.reason == IMPORT_REASON
    assert last.on_hand_after == 4 and ledger_matches(p)
    assert AuditLog.objects.filter(action="product.updated", target_id=str(p.pk)).count() == 1


def test_stock_below_what_is_set_aside_is_an_error(supervisor):
    # given a product with 5 on hand and 4 set aside
    p = product("SET-1", stock=5)
    check_adjust_stock(supervisor, p.pk, set_aside_delta=4, reason="Apartado")
    # when a file sets its stock to 2
    report = run("sku,nombre,precio,stock\nSET-1,X,1,2\n", supervisor)
    # then the line is reported and nothing changed
    assert [e.line for e in report.errors] == [2] and "apartadas (4)" in report.errors[0].message
    p.refresh_from_db()
    assert p.stock_on_hand == 5 and p.name == "Producto SET-1"


def test_absent_columns_and_empty_cells_keep_existing_values(supervisor):
    # given a described, categorized, inactive product with stock
    p = product("K-1", price="10", stock=7)
    check_save_product(supervisor, product_id=p.pk, sku="K-1", name="Kit", price="10", description="Caja",
                       category="Kits", is_active=False)
    # when a file only renames it and leaves activo/stock empty
    report = run("sku,nombre,precio,activo,stock\nK-1,Kit grande,10,,\n", supervisor)
    # then only the name changed
    assert report.ok and report.updated == 1
    p.refresh_from_db()
    assert (p.name, p.description, p.category, p.is_active, p.stock_on_hand) == ("Kit grande", "Caja", "Kits", False, 7)


def test_dry_run_counts_but_writes_nothing(supervisor):
    # given one existing product
    product("TE-01", price="7500", stock=0)
    # when the good file is validated only
    report = run(GOOD_SEMICOLON, supervisor, dry_run=True)
    # then the counts are those of a real import, and nothing was written
    assert report.ok and report.dry_run and (report.created, report.updated, report.unchanged) == (2, 1, 0)
    assert Product.objects.count() == 1 and StockMovement.objects.count() == 0


def test_an_export_can_be_imported_back_unchanged(supervisor, client_for):
    # given products exported from the page (formula-like text escaped, reserved/available columns present)
    product("=CMD", price="10", stock=2, name="@SUM(A1)")
    product("B-1", price="12500.50", stock=3, name="Bandeja ñ")
    exported = b"".join(client_for(supervisor).get("/catalog/products/export.csv").streaming_content)
    # when the file is imported as is
    report = import_products_csv(io.BytesIO(exported), acting_user=supervisor)
    # then nothing changes: the apostrophes come off, the computed columns are ignored
    assert report.ok and (report.created, report.updated, report.unchanged) == (0, 0, 2)


def test_an_agent_may_not_import(agent):
    # given an agent (CATALOG_VIEW only)
    # when they import
    # then the action refuses before reading anything
    with pytest.raises(PermissionDeniedError):
        run("sku,nombre,precio\nA,B,1\n", agent)
