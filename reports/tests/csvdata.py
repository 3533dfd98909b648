"""Write history CSV files into a test's tmp_path and run `import_history` on them (black-box helpers).

Rows are plain dicts keyed by the English column names of the specification; a missing key is an empty cell.
`spanish=True` writes the Spanish header aliases instead, `bom=True` prefixes the UTF-8 byte-order mark. The
header is line 1 of the file, so the n-th row passed in is reported as line n + 1.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

BOGOTA = ZoneInfo("America/Bogota")
DASHBOARD_URL = "/api/v1/reports/dashboard"

# English name → Spanish alias, in the specification's order.
CONVERSATION_COLUMNS: dict[str, str] = {
    "conversation_id": "id_conversacion",
    "customer_id": "id_cliente",
    "customer_name": "nombre_cliente",
    "started_at": "fecha_inicio",
    "closed_at": "fecha_cierre",
    "state": "estado",
    "channel": "canal",
    "agent_id": "id_agente",
    "agent_name": "nombre_agente",
    "first_response_seconds": "tiempo_respuesta_inicial",
    "resolution_seconds": "tiempo_resolucion",
    "outcome": "resultado",
    "customer_state": "estado_cliente",
    "agent_comments": "comentarios_agente",
}
SALE_COLUMNS: dict[str, str] = {
    "sale_id": "id_venta",
    "product_id": "id_producto",
    "product_name": "nombre_producto",
    "conversation_id": "id_conversacion",
    "quantity": "cantidad",
    "unit_price": "precio_unitario",
    "amount": "monto",
}

AGENTS = {"ana": ("AG-1", "Ana Agente"), "beto": ("AG-2", "Beto Agente"), "carla": ("AG-3", "Carla Agente")}


def conv(conversation_id: str, customer_id: str, started_at: str, *, state: str = "activa",
         channel: str = "WhatsApp", agent: str | None = None, **extra: Any) -> dict[str, Any]:
    """One conversation row. `agent` is a key of AGENTS (fills agent_id and agent_name); None = unassigned.
    Any other column goes in `extra` (closed_at, first_response_seconds, resolution_seconds, outcome, ...)."""
    agent_id, agent_name = AGENTS[agent] if agent else ("", "")
    row = {"conversation_id": conversation_id, "customer_id": customer_id, "customer_name": f"Cliente {customer_id}",
           "started_at": started_at, "state": state, "channel": channel, "agent_id": agent_id,
           "agent_name": agent_name}
    row.update(extra)
    return row


def sale(sale_id: str, conversation_id: str, amount: str, *, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    """One sale row; unit_price defaults to amount / quantity so the row is self-consistent."""
    try:
        unit_price = str((Decimal(amount) / quantity).quantize(Decimal("0.01")))
    except InvalidOperation:  # a deliberately bad amount: leave the unit price empty
        unit_price = ""
    row = {"sale_id": sale_id, "product_id": "P-1", "product_name": "Plan Hogar", "conversation_id": conversation_id,
           "quantity": str(quantity), "unit_price": unit_price, "amount": amount}
    row.update(extra)
    return row


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]], *,
              aliases: Mapping[str, str] | None = None, bom: bool = False) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([(aliases or {}).get(c, c) for c in columns])
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    path.write_text(buffer.getvalue(), encoding="utf-8-sig" if bom else "utf-8")
    return path


def write_conversations(tmp_path: Path, rows: Iterable[Mapping[str, Any]], *, name: str = "conversations.csv",
                        spanish: bool = False, bom: bool = False, drop: Sequence[str] = ()) -> Path:
    columns = [c for c in CONVERSATION_COLUMNS if c not in drop]
    return write_csv(tmp_path / name, columns, rows, aliases=CONVERSATION_COLUMNS if spanish else None, bom=bom)


def write_sales(tmp_path: Path, rows: Iterable[Mapping[str, Any]], *, name: str = "sales.csv",
                spanish: bool = False, bom: bool = False) -> Path:
    return write_csv(tmp_path / name, list(SALE_COLUMNS), rows, aliases=SALE_COLUMNS if spanish else None, bom=bom)


def run_import(conversations: Path, sales: Path | None = None, *, skip_invalid: bool = False) -> str:
    """Run the command; return everything it printed (stdout + stderr). CommandError propagates."""
    out, err = io.StringIO(), io.StringIO()
    kwargs: dict[str, Any] = {"conversations": str(conversations), "skip_invalid": skip_invalid,
                              "stdout": out, "stderr": err}
    if sales is not None:
        kwargs["sales"] = str(sales)
    call_command("import_history", **kwargs)
    return out.getvalue() + err.getvalue()


def run_import_expecting_error(conversations: Path, sales: Path | None = None) -> str:
    """Run the command, expect CommandError; return its message plus everything printed."""
    out, err = io.StringIO(), io.StringIO()
    kwargs: dict[str, Any] = {"conversations": str(conversations), "skip_invalid": False, "stdout": out,
                              "stderr": err}
    if sales is not None:
        kwargs["sales"] = str(sales)
    with pytest.raises(CommandError) as excinfo:
        call_command("import_history", **kwargs)
    return f"{excinfo.value}\n{out.getvalue()}\n{err.getvalue()}"


def import_rows(tmp_path: Path, conversations: Iterable[Mapping[str, Any]],
                sales: Iterable[Mapping[str, Any]] | None = None) -> str:
    """Write both files (English headers, no BOM) and import them; the usual `given` of a dashboard test."""
    sales_path = write_sales(tmp_path, sales) if sales is not None else None
    return run_import(write_conversations(tmp_path, conversations), sales_path)


def dashboard(api: Any, start: date | str | None = None, end: date | str | None = None,
              granularity: str | None = None) -> dict[str, Any]:
    params = {k: str(v) for k, v in (("start", start), ("end", end), ("granularity", granularity)) if v is not None}
    response = api.get(DASHBOARD_URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def without_ids(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Agent rows minus `agent_id` (a Centralita user id, not known to the test): compare by agent_name."""
    return [{k: v for k, v in row.items() if k != "agent_id"} for row in rows]
