"""CSV downloads of report tables, shared by every report, and the streamed per-conversation export."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse

# Excel opens a UTF-8 CSV as ANSI (mangling "Parcial · Peña") unless the file starts with a byte-order mark.
BOM = "\ufeff"
# A cell a spreadsheet would run as a formula (a customer can name themself "=HYPERLINK(…)" on WhatsApp).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str) -> str:
    """Free text for a CSV cell: an apostrophe in front of what would start a formula."""
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value


def csv_text(*, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Comma-separated, a header row of `columns`, CRLF line ends (RFC 4180); None becomes an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return out.getvalue()


def csv_response(*, rows: Iterable[Mapping[str, Any]], columns: Sequence[str], filename: str) -> HttpResponse:
    """A small in-memory download: report tables have at most a few hundred rows (operators, hours)."""
    response = HttpResponse(BOM + csv_text(rows=rows, columns=columns), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class _Echo:
    """csv.writer target that hands each formatted line back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def streaming_csv_response(*, columns: Sequence[str], rows: Iterator[Sequence[Any]],
                           arows: AsyncIterator[Sequence[Any]] | None = None, filename: str,
                           ) -> StreamingHttpResponse:
    """A large download, one line at a time (same dialect as csv_text). Under ASGI pass `arows` too: Django
    buffers a synchronous iterator whole before sending it to an ASGI server, which would defeat streaming."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield BOM + writer.writerow(columns)
        for row in rows:
            yield writer.writerow(["" if v is None else v for v in row])

    async def alines(source: AsyncIterator[Sequence[Any]]) -> AsyncIterator[str]:
        yield BOM + writer.writerow(columns)
        async for row in source:
            yield writer.writerow(["" if v is None else v for v in row])

    content: Iterator[str] | AsyncIterator[str] = lines() if arows is None else alines(arows)
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
