"""CSV downloads of report tables, shared by every report (the lead-flow report now, the dashboard later)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.http import HttpResponse

# Excel opens a UTF-8 CSV as ANSI (mangling "Parcial · Peña") unless the file starts with a byte-order mark.
BOM = "\ufeff"


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
