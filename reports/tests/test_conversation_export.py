"""GET /api/v1/reports/conversations.csv: one row per conversation of the window, streamed in bounded chunks."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from asgiref.sync import async_to_sync

from accounts.roles import Role
from inbox.models import Conversation
from orders.models import Sale
from reports import exports
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
             resolution_seconds="5400", customer_name="Peña, José", agent_comments="Cerrada con venta"),
        conv("E2", "K2", "2026-11-05T10:00:00", agent="beto", channel="Email"),
        conv("E3", "K3", "2026-11-14T23:59:00", customer_name="=HYPERLINK(\"http://x\")"),
        conv("E4", "K4", "2026-10-31T23:59:00", agent="ana"),  # before the window
        conv("E5", "K5", "2026-11-16T00:00:00", agent="ana"),  # after it
    ], [sale("S1", "E1", "1500.50"), sale("S2", "E1", "500")])


def read_csv(response, delimiter: str = ",") -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:]), delimiter=delimiter))


MACHINE = {"headers": "name", "durations": "seconds"}


def test_an_analyst_downloads_every_conversation_of_the_window(history, make_user, client_for):
    # given an analyst logged in (the dashboard's button uses the session)
    client = client_for(make_user(Role.ANALISTA))
    # when she downloads the window with machine names and seconds
    response = client.get(EXPORT_URL, {**WINDOW, **MACHINE})
    # then a streamed CSV, UTF-8 with BOM, one row per conversation started in the window, in id order
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="conversaciones_2026-11-01_2026-11-15.csv"'
    rows = read_csv(response)
    # (a name a spreadsheet would run as a formula is defused with an apostrophe)
    assert [r["customer_name"] for r in rows] == ["Peña, José", "Cliente K2", "'=HYPERLINK(\"http://x\")"]
    first = rows[0]
    # with seed 002's fields first, identifiers as UUIDs (never database ids)
    assert list(first) == [c.name for c in exports.CONVERSATION_COLUMNS]
    assert list(first)[:14] == ["conversation_id", "customer_id", "customer_name", "started_at", "closed_at", "state",
                                "channel", "agent_id", "agent_name", "first_response_seconds", "resolution_seconds",
                                "outcome", "customer_state", "agent_comments"]
    e1 = Conversation.objects.select_related("customer", "assignee").get(import_ref="E1")
    assert (first["conversation_id"], first["customer_id"], first["agent_id"]) == (
        str(e1.uuid), str(e1.customer.uuid), str(e1.assignee.uuid))
    assert {k: first[k] for k in ("agent_name", "channel", "state", "outcome", "customer_state", "started_at",
                                  "closed_at", "first_response_seconds", "resolution_seconds", "sales",
                                  "revenue", "agent_comments")} == {
        "agent_name": "Ana Agente", "channel": "whatsapp", "state": "resuelta", "outcome": "genero_venta",
        "customer_state": "convertido", "started_at": "2026-11-02 09:30:00", "closed_at": "2026-11-02 11:00:00",
        "first_response_seconds": "90", "resolution_seconds": "5400", "sales": "2", "revenue": "2000.50",
        "agent_comments": "Cerrada con venta"}
    # and unknown values are empty cells (no agent, open, no times)
    third = rows[2]
    assert (third["agent_id"], third["agent_name"], third["closed_at"], third["first_response_seconds"]) == (
        "", "", "", "")


def test_by_default_headers_and_values_are_in_the_readers_language_and_times_read_hh_mm_ss(history, make_user,
                                                                                            client_for):
    # given an analyst who reads English / when she downloads with the defaults
    analyst = make_user(Role.ANALISTA)
    analyst.language = "en"
    analyst.save(update_fields=["language"])
    response = client_for(analyst).get(EXPORT_URL, WINDOW, HTTP_ACCEPT_LANGUAGE="en")
    rows = read_csv(response)
    # then labels for columns and codes, durations as H:MM:SS
    first = rows[0]
    assert list(first)[:5] == ["Conversation ID", "Customer ID", "Customer", "Started at", "Closed at"]
    assert (first["Status"], first["Outcome"], first["Channel"]) == ("Resolved", "Made a sale", "WhatsApp")
    assert (first["First response time"], first["Resolution time"]) == ("0:01:30", "1:30:00")


def test_the_excel_flavour_uses_semicolons_and_decimal_commas(history, make_user, client_for):
    # given the analyst (Spanish) / when she picks «CSV (Excel, ;)»
    response = client_for(make_user(Role.ANALISTA)).get(EXPORT_URL, {**WINDOW, "dialect": "excel"})
    body = b"".join(response.streaming_content).decode("utf-8")
    # then Python's csv module reads it back with ';' and the amounts carry a decimal comma
    rows = read_csv(response.__class__(iter([body.encode()])), delimiter=";")
    assert body.splitlines()[0].count(";") == len(exports.CONVERSATION_COLUMNS) - 1
    assert rows[0]["Ingresos"] == "2000,50" and rows[0]["Estado"] == "Resuelta"
    assert rows[0]["Tiempo de resolución"] == "1:30:00"


def test_an_unknown_export_option_is_a_400(make_user, client_for):
    response = client_for(make_user(Role.ANALISTA)).get(EXPORT_URL, {**WINDOW, "dialect": "xlsx"})
    assert response.status_code in (400, 422) and response.status_code < 500


def test_the_sales_export_has_one_row_per_sale_with_uuids(history, make_user, client_for):
    # given the analyst / when she downloads the sales of the window
    response = client_for(make_user(Role.ANALISTA)).get("/api/v1/reports/sales.csv", {**WINDOW, **MACHINE})
    rows = read_csv(response)
    # then seed 002's sales fields, one row per sale of the window's conversations
    e1 = Conversation.objects.get(import_ref="E1")
    assert response["Content-Disposition"] == 'attachment; filename="ventas_2026-11-01_2026-11-15.csv"'
    assert [(r["conversation_id"], r["amount"], r["agent_name"]) for r in rows] == [
        (str(e1.uuid), "1500.50", "Ana Agente"), (str(e1.uuid), "500.00", "Ana Agente")]
    assert {r["sale_id"] for r in rows} == {str(u) for u in Sale.objects.values_list("uuid", flat=True)}


def test_the_dashboard_filters_apply(history, make_user, client_for):
    # given the analyst / when she exports the email channel only
    rows = read_csv(client_for(make_user(Role.ANALISTA)).get(EXPORT_URL, {**WINDOW, **MACHINE, "channel": "email"}))
    # then only that conversation
    assert [(r["customer_name"], r["agent_name"]) for r in rows] == [("Cliente K2", "Beto Agente")]


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.DIRECTOR_VENTAS, Role.GERENTE, Role.AGENTE])
def test_roles_without_export_are_refused(role, make_user, client_for):
    response = client_for(make_user(role)).get(EXPORT_URL, WINDOW)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_rows_are_read_in_chunks_by_id_sync_and_async(history, make_user, monkeypatch):
    # given chunks of two rows and the analyst's filters
    monkeypatch.setattr(exports, "EXPORT_CHUNK", 2)
    filters = check_dashboard_filters(make_user(Role.ANALISTA), start=datetime(2026, 11, 1).date(),
                                      end=datetime(2026, 11, 15).date())

    async def collect():
        return [row async for row in exports.aconversation_rows(filters)]

    # when the rows are read both ways (WSGI and ASGI)
    synchronous = list(exports.conversation_rows(filters))
    asynchronous = async_to_sync(collect)()
    # then all three come out once, in id order, the same both ways
    expected = list(Conversation.objects.filter(import_ref__in=["E1", "E2", "E3"]).order_by("pk")
                    .values_list("uuid", flat=True))
    assert [row[0] for row in synchronous] == expected
    assert asynchronous == synchronous
