"""CSV downloads, one way everywhere: report tables, chart rows, the per-conversation and per-sale exports, the
catalog and the orders.

Every download takes the same three choices (query parameters, remembered by the page's "Opciones de exportación"):
- `dialect`: `csv` (comma-separated, decimal point: RFC 4180, what scripts and most tools read) or `excel`
  (semicolon-separated, decimal comma: what Excel and LibreOffice open directly under a Spanish locale);
- `headers`: `label` (column names and coded values in the user's language, e.g. «Estado: Resuelta») or `name`
  (stable machine names and codes, e.g. `state: resuelta`, for scripts that must not break when a label changes);
- `durations`: `hms` (52:10:03, hours beyond 24 allowed: Excel's [h]:mm:ss) or `seconds` (an integer).
Datetimes are written in TIME_ZONE as "YYYY-MM-DD HH:MM:SS", dates as YYYY-MM-DD (both spreadsheets read them), money
with its two stored decimals, rates as fractions with four. Files are UTF-8 with a BOM (Excel otherwise reads them
as ANSI and mangles «Peña»), CRLF line ends, and free text that a spreadsheet would run as a formula gets an
apostrophe in front.
"""

from __future__ import annotations

import csv
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, Literal

from django.http import HttpResponse, QueryDict, StreamingHttpResponse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from core.errors import ActionError

BOM: Final = "\ufeff"
# A cell a spreadsheet would run as a formula (a customer can name themself "=HYPERLINK(…)" on WhatsApp).
FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")

Kind = Literal["text", "phone", "code", "int", "decimal", "money", "rate", "duration", "datetime", "date", "uuid",
               "bool"]
# An E.164 phone starts with "+" but is no formula: written as is (a spreadsheet shows it as text or a number).
E164: Final = re.compile(r"\+\d{4,15}")


def text_cell(value: str) -> str:
    """Free text for a CSV cell: an apostrophe in front of what would start a formula."""
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value


@dataclass(frozen=True)
class CsvOptions:
    dialect: Literal["csv", "excel"] = "csv"
    headers: Literal["label", "name"] = "label"
    durations: Literal["hms", "seconds"] = "hms"

    @classmethod
    def from_query(cls, query: QueryDict | Mapping[str, str]) -> CsvOptions:
        """The choices of a download request; an unknown value is a 400 (`invalid_export_option`), never a guess."""
        chosen: dict[str, str] = {}
        for name, allowed in (("dialect", ("csv", "excel")), ("headers", ("label", "name")),
                              ("durations", ("hms", "seconds"))):
            value = query.get(name) or ""
            if value and value not in allowed:
                raise ActionError("invalid_export_option",
                                  _("Opción de exportación inválida: %(name)s=%(value)s (válidas: %(allowed)s).")
                                  % {"name": name, "value": value[:40], "allowed": ", ".join(allowed)}, field=name)
            if value:
                chosen[name] = value
        return cls(**chosen)  # type: ignore[arg-type]

    @property
    def delimiter(self) -> str:
        return ";" if self.dialect == "excel" else ","


@dataclass(frozen=True)
class Column:
    """One column of an export: its machine name, its label (lazy, in the reader's language), how to write it and,
    for coded values (states, outcomes), the labels of the codes."""

    name: str
    label: str | Promise
    kind: Kind = "text"
    choices: Mapping[str, Any] = field(default_factory=dict)

    def header(self, options: CsvOptions) -> str:
        return str(self.label) if options.headers == "label" else self.name


def hms(seconds: float) -> str:
    total = round(seconds)
    sign = "-" if total < 0 else ""
    hours, rest = divmod(abs(total), 3600)
    return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _decimal(text: str, options: CsvOptions) -> str:
    return text.replace(".", ",") if options.dialect == "excel" else text


def _code(value: Any, column: Column, options: CsvOptions) -> str:
    return text_cell(str(column.choices.get(value, value) if options.headers == "label" else value))


def _bool(value: Any, column: Column, options: CsvOptions) -> str:
    if options.headers == "label":
        return str(_("Sí") if value else _("No"))
    return "true" if value else "false"


def _datetime(value: Any, column: Column, options: CsvOptions) -> str:
    moment = timezone.localtime(value) if isinstance(value, datetime) and timezone.is_aware(value) else value
    return moment.strftime("%Y-%m-%d %H:%M:%S") if isinstance(moment, datetime) else str(moment)


_FORMATS: Final[dict[str, Callable[[Any, Column, CsvOptions], str]]] = {
    "text": lambda v, c, o: text_cell(str(v)),
    "phone": lambda v, c, o: str(v) if E164.fullmatch(str(v)) else text_cell(str(v)),
    "code": _code,
    "bool": _bool,
    "int": lambda v, c, o: str(int(v)),
    "money": lambda v, c, o: _decimal(f"{Decimal(v):.2f}", o),
    "decimal": lambda v, c, o: _decimal(str(v), o),
    "rate": lambda v, c, o: _decimal(f"{float(v):.4f}", o),
    "duration": lambda v, c, o: hms(float(v)) if o.durations == "hms" else str(round(float(v))),
    "datetime": _datetime,
    "date": lambda v, c, o: v.isoformat() if isinstance(v, date) else str(v),
    "uuid": lambda v, c, o: str(v if isinstance(v, uuid.UUID) else uuid.UUID(str(v))),
}


def cell(value: Any, column: Column, options: CsvOptions) -> str:
    """One value as its column writes it under the chosen options; None is an empty cell."""
    if value is None or (value == "" and column.kind != "text"):
        return ""
    return _FORMATS[column.kind](value, column, options)


class _Echo:
    """csv.writer target that hands each formatted line back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _writer(options: CsvOptions) -> Any:
    return csv.writer(_Echo(), delimiter=options.delimiter)


def _line(writer: Any, row: Sequence[Any], columns: Sequence[Column], options: CsvOptions) -> str:
    return str(writer.writerow([cell(v, c, options) for v, c in zip(row, columns, strict=True)]))


def csv_text(*, rows: Iterable[Mapping[str, Any]], columns: Sequence[Column],
             options: CsvOptions = CsvOptions()) -> str:
    """Rows given as {column name: value}; a header row; CRLF line ends."""
    writer = _writer(options)
    lines = [writer.writerow([c.header(options) for c in columns])]
    lines += [_line(writer, [row.get(c.name) for c in columns], columns, options) for row in rows]
    return "".join(lines)


def _disposition(response: HttpResponse | StreamingHttpResponse, filename: str) -> None:
    response["Content-Disposition"] = f'attachment; filename="{filename}"'


def csv_response(*, rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], filename: str,
                 options: CsvOptions = CsvOptions()) -> HttpResponse:
    """A small in-memory download: report tables have at most a few hundred rows (operators, hours)."""
    response = HttpResponse(BOM + csv_text(rows=rows, columns=columns, options=options),
                            content_type="text/csv; charset=utf-8")
    _disposition(response, filename)
    return response


def streaming_csv_response(*, columns: Sequence[Column], rows: Iterator[Sequence[Any]],
                           arows: AsyncIterator[Sequence[Any]] | None = None, filename: str,
                           options: CsvOptions = CsvOptions()) -> StreamingHttpResponse:
    """A large download, one line at a time; rows are sequences in the order of `columns`. Under ASGI pass `arows`
    too: Django buffers a synchronous iterator whole before sending it to an ASGI server, which would defeat
    streaming."""
    writer = _writer(options)
    header = BOM + writer.writerow([c.header(options) for c in columns])

    def lines() -> Iterator[str]:
        yield header
        for row in rows:
            yield _line(writer, row, columns, options)

    async def alines(source: AsyncIterator[Sequence[Any]]) -> AsyncIterator[str]:
        yield header
        async for row in source:
            yield _line(writer, row, columns, options)

    content: Iterator[str] | AsyncIterator[str] = lines() if arows is None else alines(arows)
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    _disposition(response, filename)
    return response


def mapped(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column],
           extra: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None) -> Iterator[list[Any]]:
    """Dict rows as sequences in the columns' order (for streaming_csv_response)."""
    for row in rows:
        source = {**row, **extra(row)} if extra else row
        yield [source.get(c.name) for c in columns]
