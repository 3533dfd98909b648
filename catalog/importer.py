"""CSV import of products: the one function behind the upload page and `manage.py import_products`.

All or nothing. Every row is validated first and every problem is reported with its line number; if any row is
bad, nothing is written. Otherwise products are upserted by SKU in one transaction, and every stock change goes
through the ledger (a receipt for a new product, a manual adjustment for an existing one), so the ledger still
explains each quantity.

Accepted files: UTF-8 with or without BOM (what Excel's «CSV UTF-8» writes), comma or semicolon separated
(Excel in Spanish writes semicolons), an optional Excel `sep=;` first line, one header row with English or
Spanish column names (accents and case ignored). Prices take a decimal comma or point and at most two decimals;
they are parsed as Decimal, never as float.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import batched
from typing import Final, Protocol

from django.db import IntegrityError, transaction
from django.db.models import CharField
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from catalog.actions import MAX_PRICE, check_save_product, do_adjust_stock, do_receive_stock
from catalog.models import Product
from core.errors import ActionError
from core.text import fold

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
}
# Computed columns of our own export: accepted so that an export can be edited and imported back, never read.
READ_ONLY_COLUMNS: Final = frozenset({"stock_reserved", "stock_available"})
REQUIRED_COLUMNS: Final = ("sku", "name", "price")
TRUE_VALUES: Final = frozenset({"si", "s", "true", "1", "yes", "verdadero"})
FALSE_VALUES: Final = frozenset({"no", "n", "false", "0", "falso"})
# Digits with an optional decimal comma or point and at most two decimals. "12.500" is refused rather than
# guessed: it could be twelve and a half or twelve thousand five hundred (thousands separator).
PRICE_RE: Final = re.compile(r"^\d+(?:[.,]\d{1,2})?$")
INTEGER_RE: Final = re.compile(r"^[+-]?\d+$")
# Spreadsheets run cells that start with these as formulas; our export prefixes them with an apostrophe.
FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")
# Keys for existing products are looked up in batches (SQLite's limit on query parameters).
LOOKUP_BATCH: Final = 500


class Readable(Protocol):
    """An open file (binary or text) or an uploaded file."""

    def read(self) -> bytes | str: ...


def _max_length(name: str) -> int:
    field = Product._meta.get_field(name)
    assert isinstance(field, CharField)
    return int(field.max_length or 0)


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

    @property
    def ok(self) -> bool:
        return not self.errors

    def add_error(self, line: int, message: str) -> None:
        self.errors.append(RowError(line, message))

    def as_lines(self) -> list[str]:
        """The report as text, one line each: for the command's output."""
        if self.errors:
            return [_("No se importó nada: %d error(es).") % len(self.errors),
                    *(_("Línea %(line)d: %(message)s") % {"line": e.line, "message": e.message}
                      for e in self.errors)]
        counts = (_("Creados: %(created)d · Actualizados: %(updated)d · Sin cambios: %(unchanged)d")
                  % {"created": self.created, "updated": self.updated, "unchanged": self.unchanged})
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


class _RowFailed(Exception):
    """An action refused a row while writing (e.g. a race since validation): rolls the whole import back."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


def import_products_csv(fileobj: Readable, *, acting_user: User | None,
                        dry_run: bool = False) -> ImportReport:
    """Validates the whole file, then (unless `dry_run` or anything is wrong) upserts every row by SKU in one
    transaction. `acting_user` None means the system (manage.py); otherwise CATALOG_MANAGE is required.

    Existing products are locked in primary-key order before they are compared, the same order as
    do_take_stock, so an import and an order confirmation cannot deadlock, and the stock compared is the
    stock adjusted. The report lists every error with its line; when it has any, nothing was written.
    """
    if acting_user is not None:
        require_perm(acting_user, Perm.CATALOG_MANAGE)
    report = ImportReport(dry_run=dry_run)
    try:
        rows = _parse(_decode(fileobj), report)
    except _FileError as exc:
        report.add_error(exc.line, exc.message)
        return report
    try:
        with transaction.atomic():
            existing = _existing(rows, lock=not dry_run)
            for row in rows:
                product = existing.get(row.sku)
                if product is not None and row.stock is not None and row.stock < product.stock_reserved:
                    report.add_error(row.line, _("El stock (%(stock)d) es menor que las unidades apartadas "
                                                 "(%(reserved)d) del producto.")
                                     % {"stock": row.stock, "reserved": product.stock_reserved})
            if report.errors:
                report.errors.sort(key=lambda e: e.line)
                return report
            for row in rows:
                _apply(row, existing.get(row.sku), report, acting_user=acting_user, dry_run=dry_run)
    except _RowFailed as exc:
        report.created = report.updated = report.unchanged = 0
        report.add_error(exc.line, exc.message)
    return report


# --- reading -------------------------------------------------------------------------------------------


def _decode(fileobj: Readable) -> str:
    raw = fileobj.read()
    if isinstance(raw, str):
        return raw.removeprefix("\ufeff")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise _FileError(line, _("El archivo no está en UTF-8 (línea %d). Guárdelo como «CSV UTF-8».")
                         % line) from exc


def _records(text: str) -> list[tuple[int, list[str]]]:
    """(first line of the record, cells) for every record, blank lines dropped; raises _FileError."""
    first_line, _sep, _rest = text.partition("\n")
    first_line = first_line.strip()
    skip_first = False
    if first_line.lower().startswith("sep=") and len(first_line) == 5:  # Excel's separator hint
        delimiter, skip_first = first_line[4], True
    else:
        # csv.Sniffer also looks at the data rows, where decimal commas ("12,50") outvote the real separator of
        # a semicolon file; the header has no numbers, so counting there is reliable.
        delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells) and not (skip_first and start == 1):
                records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise _FileError(start, _("El archivo CSV está mal formado: %s") % exc) from exc
    return records


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
    elif len(sku) > _max_length("sku"):
        errors.append(_("El SKU tiene más de %d caracteres.") % _max_length("sku"))
    if not name:
        errors.append(_("Falta el nombre."))
    elif len(name) > _max_length("name"):
        errors.append(_("El nombre tiene más de %d caracteres.") % _max_length("name"))
    category = values.get("category")
    if category is not None and len(category) > _max_length("category"):
        errors.append(_("La categoría tiene más de %d caracteres.") % _max_length("category"))
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
        errors.append(_("Stock inválido «%s»: debe ser un número entero.") % raw)
        return None
    stock = int(raw)
    if stock < 0:
        errors.append(_("El stock no puede ser negativo (%d).") % stock)
        return None
    return stock


# --- writing -------------------------------------------------------------------------------------------


def _existing(rows: Iterable[_Row], *, lock: bool) -> dict[str, Product]:
    ids: list[int] = []
    for skus in batched(sorted({row.sku for row in rows}), LOOKUP_BATCH):
        ids += Product.objects.filter(sku__in=skus).values_list("pk", flat=True)
    found: dict[str, Product] = {}
    for batch in batched(sorted(ids), LOOKUP_BATCH):
        qs = Product.objects.filter(pk__in=batch).order_by("pk")
        found.update((p.sku, p) for p in (qs.select_for_update() if lock else qs))
    return found


def _field_changes(row: _Row, product: Product) -> dict[str, object]:
    wanted: dict[str, object] = {"name": row.name, "price": row.price}
    if row.description is not None:
        wanted["description"] = row.description
    if row.category is not None:
        wanted["category"] = row.category
    if row.active is not None:
        wanted["is_active"] = row.active
    return {name: value for name, value in wanted.items() if getattr(product, name) != value}


def _apply(row: _Row, product: Product | None, report: ImportReport, *, acting_user: User | None,
           dry_run: bool) -> None:
    try:
        if product is None:
            report.created += 1
            if not dry_run:
                created = check_save_product(
                    acting_user, sku=row.sku, name=row.name, price=row.price, description=row.description or "",
                    category=row.category or "", is_active=True if row.active is None else row.active)
                if row.stock:
                    do_receive_stock(created.pk, quantity=row.stock, reason=IMPORT_REASON, acting_user=acting_user)
            return
        changes = _field_changes(row, product)
        delta = 0 if row.stock is None else row.stock - product.stock_on_hand
        if not changes and not delta:
            report.unchanged += 1
            return
        report.updated += 1
        if dry_run:
            return
        if changes:
            check_save_product(
                acting_user, product_id=product.pk, sku=product.sku, name=row.name, price=row.price,
                description=product.description if row.description is None else row.description,
                category=product.category if row.category is None else row.category,
                is_active=product.is_active if row.active is None else row.active)
        if delta:
            do_adjust_stock(product.pk, delta=delta, reason=IMPORT_REASON, acting_user=acting_user)
    except ActionError as exc:
        raise _RowFailed(row.line, exc.message) from exc
    except IntegrityError as exc:  # another import created the same SKU since this one looked
        raise _RowFailed(row.line, _("El SKU «%s» cambió durante la importación; vuelva a intentarlo.") % row.sku
                         ) from exc
