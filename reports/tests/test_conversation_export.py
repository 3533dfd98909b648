"""GET /api/v1/reports/conversations.csv: one row per conversation of the window, streamed in bounded chunks."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from asgiref.sync import async_to_sync

from accounts.roles import Role
from reports import drilldown
from reports.dashboard import check_dashboard_filters
from reports.tests.csvdata import BOGOTA, conv, import_rows, sale

pytestmark = pytest.mark.django_db

EXPORT_URL = "/api/v1/reports/conversations.csv"
WINDOW = {"start": "2026-11-01", "end": "2026-11-15"}


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(datetime(2026, 11, 25, 10, 0, tzinfo=BOGOTA), tick=False)


@pytest.fixture
def history(tmp_path):
    import_rows(tmp_path, [
        conv("E1", "K1", "2026-11-02T09:30:00", agent="ana", state="resuelta", closed_at="2026-11-02T11:00:00",
             outcome="genero_venta", customer_state="convertido", first_response_seconds="90",
             resolution_seconds="5400", customer_name="Peña, José"),
        conv("E2", "K2", "2026-11-05T10:00:00", agent="beto", channel="Email"),
        conv("E3", "K3", "2026-11-14T23:59:00", customer_name="=HYPERLINK(\"http://x\")"),
        conv("E4", "K4", "2026-10-31T23:59:00", agent="ana"),  # before the window
        conv("E5", "K5", "2026-11-16T00:00:00", agent="ana"),  # after it
    ], [sale("S1", "E1", "1500.50"), sale("S2", "E1", "500")])


def read_csv(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:])))


def test_an_analyst_downloads_every_conversation_of_the_window(history, make_user, client_for):
    # given an analyst logged in (the dashboard's button uses the session)
    client = client_for(make_user(Role.ANALISTA))
    # when she downloads the window
    response = client.get(EXPORT_URL, WINDOW)
    # then a streamed CSV, UTF-8 with BOM, one row per conversation started in the window, in id order
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="conversaciones_2026-11-01_2026-11-15.csv"'
    rows = read_csv(response)
    # (a name a spreadsheet would run as a formula is defused with an apostrophe)
    assert [r["customer_name"] for r in rows] == ["Peña, José", "Cliente K2", "'=HYPERLINK(\"http://x\")"]
    first = rows[0]
    assert list(first) == list(drilldown.EXPORT_COLUMNS)
    assert {k: first[k] for k in ("agent_name", "channel", "state", "outcome", "customer_state", "start_day",
                                  "closed_day", "first_response_seconds", "resolution_seconds", "sales",
                                  "revenue")} == {
        "agent_name": "Ana Agente", "channel": "whatsapp", "state": "resuelta", "outcome": "genero_venta",
        "customer_state": "convertido", "start_day": "2026-11-02", "closed_day": "2026-11-02",
        "first_response_seconds": "90", "resolution_seconds": "5400", "sales": "2", "revenue": "2000.50"}
    assert first["started_at"] == "2026-11-02T14:30:00+00:00"
    # and unknown values are empty cells (no agent, open, no times)
    third = rows[2]
    assert (third["agent_id"], third["agent_name"], third["closed_day"], third["first_response_seconds"]) == (
        "", "", "", "")


def test_the_dashboard_filters_apply(history, make_user, client_for):
    # given the analyst / when she exports the email channel only
    rows = read_csv(client_for(make_user(Role.ANALISTA)).get(EXPORT_URL, {**WINDOW, "channel": "email"}))
    # then only that conversation
    assert [(r["customer_name"], r["agent_name"]) for r in rows] == [("Cliente K2", "Beto Agente")]


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.DIRECTOR_VENTAS, Role.GERENTE, Role.AGENTE])
def test_roles_without_export_are_refused(role, make_user, client_for):
    response = client_for(make_user(role)).get(EXPORT_URL, WINDOW)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_rows_are_read_in_chunks_by_id_sync_and_async(history, make_user, monkeypatch):
    # given chunks of two rows and the analyst's filters
    monkeypatch.setattr(drilldown, "EXPORT_CHUNK", 2)
    filters = check_dashboard_filters(make_user(Role.ANALISTA), start=datetime(2026, 11, 1).date(),
                                      end=datetime(2026, 11, 15).date())

    async def collect():
        return [row async for row in drilldown.aexport_rows(filters)]

    # when the rows are read both ways (WSGI and ASGI)
    synchronous = list(drilldown.export_rows(filters))
    asynchronous = async_to_sync(collect)()
    # then all three come out once, in id order, the same both ways
    ids = [row[0] for row in synchronous]
    assert len(ids) == 3 and ids == sorted(ids)
    assert asynchronous == synchronous
