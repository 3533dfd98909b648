"""CSV import of products: the one function behind the upload page and `manage.py import_products`.

Validated as a whole, written in short batches. Every row is validated first and every problem is reported with its
line number; if any row is bad, nothing is written. Otherwise products are upserted by SKU IMPORT_BATCH rows per
transaction (catalog.actions.do_upsert_products), so a 20,000-row file never holds SQLite's write lock for more than
a fraction of a second (docs/benchmarks.md) and the worker, the scheduler and the agents keep writing meanwhile.
Every stock change goes through the ledger (a receipt for a new product, a manual adjustment for an existing one),
so the ledger still explains each quantity.

A batch refused while writing (only a concurrent change can cause it: an order took the stock, another import
created the SKU) stops the import at that row: the batches before it stay written, the report says so, and
importing the same file again is safe: rows already imported are unchanged and are not written twice.

Accepted files: UTF-8 with or without BOM (what Excel's «CSV UTF-8» writes), or Windows-1252 (Excel's plain «CSV»
on Windows in Spanish; core.validators.sniff_encoding), comma or semicolon separated (Excel in Spanish writes
semicolons), an optional Excel `sep=;` first line, one header row with English or Spanish column names (accents and
case ignored). Prices take a decimal comma or point and at most two decimals; they are parsed as Decimal, never as
float.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import batched
from typing import Final, Protocol

from django.db import connection
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from catalog.actions import MAX_PRICE, MAX_STOCK, ProductUpsert, do_upsert_products, product_field_errors, sku_error
from catalog.models import Product
from core.errors import ActionError
from core.text import fold
from core.validators import TextFileError, csv_records, decode_text_file, quantity_error

# The ledger reason of every stock change an import makes (stored data, so not translated).
IMPORT_REASON: Final = "Importación CSV"

COLUMN_ALIASES: Final[dict[str, str]] = {
    "sku": "sku",
    "name": "name", "nombre": "name",
    "price": "price", "precio": "price",
    "description": "description", "descripcion": "description",
    "category": "category", "categoria": "category",
    "active": "active", "activo": "active",
    "stock": "stock", "stock_on_hand": "stock",  # stock_on_hand: the column of our own export
    "en_bodega": "stock", "on_hand": "stock",  # its label in Spanish and English
}
# Computed columns of our own export: accepted so that an export can be edited and imported back, never read.
READ_ONLY_COLUMNS: Final = frozenset({"stock_reserved", "stock_available", "product_id",
                                      # the same columns under their Spanish and English labels
                                      "apartado", "set_aside", "disponible", "available", "id_del_producto",
                                      # and the labels of earlier exports
                                      "stock_reservado", "reserved_stock", "stock_disponible", "available_stock"})
REQUIRED_COLUMNS: Final = ("sku", "name", "price")
TRUE_VALUES: Final = frozenset({"si", "s", "true", "1", "yes", "verdadero"})
FALSE_VALUES: Final = frozenset({"no", "n", "false", "0", "falso"})
# Digits with an optional decimal comma or point and at most two decimals. "12.500" is refused rather than
# guessed: it could be twelve and a half or twelve thousand five hundred (thousands separator).
PRICE_RE: Final = re.compile(r"^\d+(?:[.,]\d{1,2})?$")
INTEGER_RE: Final = re.compile(r"^[+-]?\d{1,12}$")  # more digits: beyond any stock (and int() refuses 4,300+)
# Spreadsheets run cells that start with these as formulas; our export prefixes them with an apostrophe.
FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")
# Keys for existing products are looked up in batches (SQLite's limit on query parameters).
LOOKUP_BATCH: Final = 500
# Rows written per transaction. Measured on SQLite (bench catalog.import_20k, 2 vCPU, 2026-12-05): a batch of 500 new
# products holds the write lock 0.1-0.2 s (longest 182 ms); a 20,000-row import is 40 such batches, 7.4 s in all,
# where it used to be one 39 s transaction that outlasted the 20 s busy timeout of the worker and the scheduler.
IMPORT_BATCH: Final = 500
# SQLite has no queue for its write lock: a waiting writer sleeps in its busy handler (at most 100 ms between tries)
# and, without a gap between batches, kept missing the lock for seconds (measured: 3.7 s for the worker's one-row
# write during a 20,000-row import). A pause as long as the handler's longest sleep lets every waiting writer in.
SQLITE_BATCH_PAUSE: Final = 0.1


class Readable(Protocol):
    """An open file (binary or text) or an uploaded file."""

    def read(self) -> bytes | str: ...


@dataclass(frozen=True)
class RowError:
    line: int  # line of the file where the row starts (1 = header)
    message: str


@dataclass
class ImportReport:
    dry_run: bool = False
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    # Set when a batch was refused while writing: the lines before it were imported (`created`/`updated` count them).
    stopped_at: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def partial(self) -> bool:
        """Some rows were written before the import stopped (re-importing the file completes it)."""
        return self.stopped_at is not None and bool(self.created or self.updated or self.unchanged)

    def add_error(self, line: int, message: str) -> None:
        self.errors.append(RowError(line, message))

    def as_lines(self) -> list[str]:
        """The report as text, one line each: for the command's output."""
        counts = (_("Creados: %(created)d · Actualizados: %(updated)d · Sin cambios: %(unchanged)d")
                  % {"created": self.created, "updated": self.updated, "unchanged": self.unchanged})
        errors = [_("Línea %(line)d: %(message)s") % {"line": e.line, "message": e.message} for e in self.errors]
        if self.partial:
            return [_("La importación se detuvo en la línea %d: las líneas anteriores se importaron; corrija el "
                      "problema y vuelva a importar el archivo.") % (self.stopped_at or 0), counts, *errors]
        if self.errors:
            return [_("No se importó nada: %d error(es).") % len(self.errors), *errors]
        if self.dry_run:
            return [_("Simulación: el archivo es válido y no se guardó nada."), counts]
        return [counts]


@dataclass(frozen=True)
class _Row:
    line: int
    sku: str
    name: str
    price: Decimal
    # None: the column is absent (or the cell empty, for active/stock), so an existing product keeps its value.
    description: str | None
    category: str | None
    active: bool | None
    stock: int | None


class _FileError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


def import_products_csv(fileobj: Readable, *, acting_user: User | None, dry_run: bool = False,
                        progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Validates the whole file, then (unless `dry_run` or anything is wrong) upserts the rows by SKU in batches of
    IMPORT_BATCH, one short transaction each. `acting_user` None means the system (manage.py); otherwise
    CATALOG_MANAGE is required. `progress(done, total)` is called after each batch.

    The report lists every error with its line; when validation found any, nothing was written. A batch refused
    while writing (a concurrent change) stops the import there: `stopped_at` is its line, earlier batches stay.
    """
    if acting_user is not None:
        require_perm(acting_user, Perm.CATALOG_MANAGE)
    report = ImportReport(dry_run=dry_run)
    try:
        rows = _parse(_decode(fileobj), report)
    except _FileError as exc:
        report.add_error(exc.line, exc.message)
        return report
    # Checks against the database, without locks (the writing batches lock and check again).
    existing = _existing(rows)
    for row in rows:
        product = existing.get(row.sku)
        if product is None and (message := sku_error(row.sku)) is not None:
            # A product saved before the SKU rule can still be updated by its SKU; a new one must follow it.
            report.add_error(row.line, message)
        elif product is not None and row.stock is not None and row.stock < product.stock_reserved:
            report.add_error(row.line, _("El stock (%(stock)d) es menor que las unidades apartadas "
                                         "(%(reserved)d) del producto.")
                             % {"stock": row.stock, "reserved": product.stock_reserved})
    if report.errors:
        report.errors.sort(key=lambda e: e.line)
        return report
    # Rows identical to what is stored are counted, never written: re-importing a file takes no write lock at all.
    # (A product changed since it was read here keeps that change, as if it had come after the import.)
    pending = [row for row in rows if _count(row, existing.get(row.sku), report)]
    if dry_run:
        return report
    report.created = report.updated = 0  # counted again below from what the batches really wrote
    for done, batch in enumerate(batched(pending, IMPORT_BATCH), start=1):
        try:
            counts = do_upsert_products([_upsert(row) for row in batch], reason=IMPORT_REASON,
                                        acting_user=acting_user)
        except ActionError as exc:
            sku = exc.details.get("sku")
            line = next((row.line for row in batch if row.sku == sku), batch[0].line)
            report.stopped_at = batch[0].line
            report.add_error(line, exc.message)
            break
        report.created += counts.created
        report.updated += counts.updated
        report.unchanged += counts.unchanged
        if progress is not None:
            progress(min(done * IMPORT_BATCH, len(pending)), len(pending))
        if connection.vendor == "sqlite" and done * IMPORT_BATCH < len(pending):
            time.sleep(SQLITE_BATCH_PAUSE)
    return report


# --- reading -------------------------------------------------------------------------------------------


def _decode(fileobj: Readable) -> str:
    raw = fileobj.read()
    if isinstance(raw, str):
        return raw.removeprefix("\ufeff")
    try:
        return decode_text_file(raw)
    except TextFileError as exc:
        raise _FileError(exc.line, exc.message) from exc


def _records(text: str) -> list[tuple[int, list[str]]]:
    """(first line of the record, cells) for every record, blank lines dropped; raises _FileError."""
    try:
        return csv_records(text)
    except TextFileError as exc:
        raise _FileError(exc.line, exc.message) from exc


def _columns(line: int, header: list[str], report: ImportReport) -> list[str | None]:
    """The field each column feeds (None: ignored); unknown, repeated and missing columns are errors."""
    columns: list[str | None] = []
    for raw in header:
        key = fold(raw).replace(" ", "_")
        column = COLUMN_ALIASES.get(key)
        if not key or key in READ_ONLY_COLUMNS:
            columns.append(None)
            continue
        if column is None:
            report.add_error(line, _("Columna desconocida «%(column)s». Columnas válidas: sku, nombre, precio, "
                                     "descripcion, categoria, activo, stock.") % {"column": raw.strip()})
        elif column in columns:
            report.add_error(line, _("Columna repetida «%s».") % raw.strip())
            column = None
        columns.append(column)
    for required, spanish in zip(REQUIRED_COLUMNS, ("sku", "nombre", "precio"), strict=True):
        if required not in columns:
            report.add_error(line, _("Falta la columna obligatoria «%s».") % spanish)
    return columns


def _parse(text: str, report: ImportReport) -> list[_Row]:
    """Every row checked on its own and against the others (duplicate SKUs); errors go to the report."""
    records = _records(text)
    if not records:
        raise _FileError(1, _("El archivo está vacío: falta la fila de encabezado."))
    (header_line, header), data = records[0], records[1:]
    columns = _columns(header_line, header, report)
    if any(required not in columns for required in REQUIRED_COLUMNS):
        return []
    if not data:
        report.add_error(header_line, _("El archivo no tiene filas de productos."))
    rows: list[_Row] = []
    first_seen: dict[str, int] = {}
    for line, cells in data:
        values, errors = _cells(cells, columns)
        sku = values.get("sku", "")
        if sku in first_seen:
            errors.append(_("SKU «%(sku)s» repetido: ya aparece en la línea %(line)d.")
                          % {"sku": sku, "line": first_seen[sku]})
        elif sku:
            first_seen[sku] = line
        row = _row(line, values, errors)
        for message in errors:
            report.add_error(line, message)
        if row is not None and not errors:
            rows.append(row)
    return rows


def _unescape(cell: str) -> str:
    value = cell.strip()
    if value.startswith("'") and value[1:2] and value[1] in FORMULA_PREFIXES:
        return value[1:]
    return value


def _cells(cells: list[str], columns: list[str | None]) -> tuple[dict[str, str], list[str]]:
    values: dict[str, str] = {}
    errors: list[str] = []
    for index, cell in enumerate(cells):
        if index >= len(columns):
            if cell.strip():
                errors.append(_("La fila tiene %(cells)d columnas y el encabezado %(columns)d.")
                              % {"cells": len(cells), "columns": len(columns)})
                break
            continue
        column = columns[index]
        if column is not None:
            values[column] = _unescape(cell)
    return values, errors


def _row(line: int, values: dict[str, str], errors: list[str]) -> _Row | None:
    """The typed row, or None; appends a message per problem found (all of them, not only the first)."""
    sku, name = values.get("sku", ""), values.get("name", "")
    if not sku:
        errors.append(_("Falta el SKU."))
    if not name:
        errors.append(_("Falta el nombre."))
    category = values.get("category")
    # The same rules as the product form and the API (lengths, text a database can store); the SKU alphabet is
    # checked once the existing products are known (import_products_csv).
    errors.extend(product_field_errors(sku=sku, name=name, description=values.get("description") or "",
                                       category=category or "", check_sku=False, required=False).values())
    price = _price(values.get("price", ""), errors)
    active = _active(values.get("active", ""), errors)
    stock = _stock(values.get("stock", ""), errors)
    if errors or price is None:
        return None
    return _Row(line=line, sku=sku, name=name, price=price, description=values.get("description"),
                category=category, active=active, stock=stock)


def _price(raw: str, errors: list[str]) -> Decimal | None:
    if not raw:
        errors.append(_("Falta el precio."))
        return None
    compact = raw.replace(" ", "")
    if not PRICE_RE.match(compact) or Decimal(compact.replace(",", ".")) >= MAX_PRICE:
        errors.append(_("Precio inválido «%s»: use solo dígitos y hasta 2 decimales con coma o punto, sin "
                        "separador de miles.") % raw)
        return None
    return Decimal(compact.replace(",", ".")).quantize(Decimal("0.01"))


def _active(raw: str, errors: list[str]) -> bool | None:
    if not raw:
        return None
    word = fold(raw)
    if word in TRUE_VALUES:
        return True
    if word in FALSE_VALUES:
        return False
    errors.append(_("Valor de «activo» inválido «%s»: use si/no, true/false o 1/0.") % raw)
    return None


def _stock(raw: str, errors: list[str]) -> int | None:
    if not raw:
        return None
    if not INTEGER_RE.match(raw):
        if re.fullmatch(r"[+-]?\d+", raw):
            errors.append(quantity_error(MAX_STOCK + 1, label=_("El stock")) or "")
        else:
            errors.append(_("Stock inválido «%s»: debe ser un número entero.") % raw[:40])
        return None
    stock = int(raw)
    if stock < 0:
        errors.append(_("El stock no puede ser negativo (%d).") % stock)
        return None
    if (message := quantity_error(stock, label=_("El stock"))) is not None:
        errors.append(message)
        return None
    return stock


# --- writing -------------------------------------------------------------------------------------------


def _existing(rows: Iterable[_Row]) -> dict[str, Product]:
    found: dict[str, Product] = {}
    for skus in batched(sorted({row.sku for row in rows}), LOOKUP_BATCH):
        found.update((p.sku, p) for p in Product.objects.filter(sku__in=skus))
    return found


def _count(row: _Row, product: Product | None, report: ImportReport) -> bool:
    """Counts what do_upsert_products would do with the row now; True when it has something to write."""
    if product is None:
        report.created += 1
        return True
    wanted = {"name": row.name, "price": row.price, "description": row.description, "category": row.category,
              "is_active": row.active}
    changed = any(value is not None and getattr(product, name) != value for name, value in wanted.items())
    if changed or (row.stock is not None and row.stock != product.stock_on_hand):
        report.updated += 1
        return True
    report.unchanged += 1
    return False


def _upsert(row: _Row) -> ProductUpsert:
    return ProductUpsert(sku=row.sku, name=row.name, price=row.price, description=row.description,
                         category=row.category, is_active=row.active, stock=row.stock)
