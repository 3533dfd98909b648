"""`import_history`: CSV dialects, enum spellings, time zones, bad rows, --skip-invalid, idempotence.

Black-box: files are written with reports/tests/csvdata.py, the command is called with `call_command`, and what
got imported is read back through GET /api/v1/reports/dashboard. "Today" is frozen at 2026-11-25 10:00 Bogotá;
most tests look at the week 2026-11-09 (Monday) … 2026-11-15 (Sunday). The header is line 1 of a file.
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from accounts.models import User
from accounts.roles import Role
from reports.tests.csvdata import (
    BOGOTA,
    conv,
    dashboard,
    import_rows,
    run_import,
    run_import_expecting_error,
    sale,
    without_ids,
    write_conversations,
    write_sales,
)

pytestmark = pytest.mark.django_db

approx = pytest.approx
START, END = "2026-11-09", "2026-11-15"


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(datetime(2026, 11, 25, 10, 0, tzinfo=BOGOTA), tick=False)


@pytest.fixture
def api(make_user, api_client_for):
    return api_client_for(make_user(Role.ANALISTA))


def reported_lines(output: str) -> set[int]:
    """The line numbers the command reported as `línea N: reason` (Spanish, the product's language) or
    `line N: reason` (English)."""
    return {int(n) for n in re.findall(r"\bl(?:ine|ínea) (\d+)\s*:", output, flags=re.IGNORECASE)}


def started_in_window(body) -> int:
    return sum(row["started"] for row in body["daily_activity"])


def revenue_of(body, agent_name: str) -> str | None:
    return next((row["revenue"] for row in body["revenue_by_agent"] if row["agent_name"] == agent_name), None)


# Two conversations of one customer and two sales, used by the dialect and re-import tests.
BASIC_CONVERSATIONS = [
    conv("C1", "K1", "2026-11-10T10:00:00", agent="ana", state="resuelta", closed_at="2026-11-10T11:00:00",
         first_response_seconds="30", resolution_seconds="3600", outcome="genero_venta", customer_state="convertido",
         channel="WhatsApp", agent_comments="Cliente pidió factura, envío mañana"),
    conv("C2", "K1", "2026-11-12T10:00:00", agent="beto", state="activa", customer_state="en_seguimiento",
         channel="Email", agent_comments="Llamar después"),
]
BASIC_SALES = [sale("S1", "C1", "150000", quantity=2), sale("S2", "C1", "1234.5")]


# --- dialects ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spanish", [False, True], ids=["english-headers", "spanish-headers"])
@pytest.mark.parametrize("bom", [False, True], ids=["no-bom", "bom"])
def test_a_valid_import_shows_on_the_dashboard_as_soon_as_the_command_returns(tmp_path, api, spanish, bom):
    # given both files in this header language and encoding (a quoted comment with a comma and accents)
    conversations = write_conversations(tmp_path, BASIC_CONVERSATIONS, spanish=spanish, bom=bom)
    sales = write_sales(tmp_path, BASIC_SALES, spanish=spanish, bom=bom)
    # when the command returns
    run_import(conversations, sales)
    body = dashboard(api, START, END, "week")
    # then the history is on the dashboard at once:
    #   Ana C1 genero_venta (1 of 1); Beto C2 open (0 of 1)
    assert without_ids(body["agent_volume"]) == [
        {"agent_name": "Ana Agente", "conversations": 1, "successful": 1, "success_rate": approx(1.0)},
        {"agent_name": "Beto Agente", "conversations": 1, "successful": 0, "success_rate": approx(0.0)},
    ]
    #   150000 + 1234.5 = 151234.50 on Ana's C1; C1 is the only closed conversation and it has a sale
    assert revenue_of(body, "Ana Agente") == "151234.50"
    assert body["sales_conversations"] == {"closed": 1, "with_sale": 1, "without_sale": 0,
                                           "conversion_rate": approx(1.0)}
    #   two sale rows on WhatsApp; one customer (K1), whose latest state is C2's en_seguimiento
    assert [(r["channel"], r["sales"]) for r in body["sales_by_channel"] if r["sales"]] == [("whatsapp", 2)]
    assert body["customer_states"] == [
        {"bucket": "2026-11-09", "interesado": 0, "en_seguimiento": 1, "convertido": 0, "no_interesado": 0}]
    assert [(r["month"], r["active"]) for r in body["retention"]] == [("2026-11", 1)]
    assert body["kpis"]["avg_first_response_seconds"] == approx(30.0)


def test_enum_values_match_ignoring_case_and_accents(tmp_path, api):
    # given every enum written in another case, with or without accents, or as a documented alias
    import_rows(tmp_path, [
        conv("E1", "K1", "2026-11-09T10:00:00", agent="ana", state="Resuelta", closed_at="2026-11-09T11:00:00",
             outcome="Generó venta", customer_state="Cliente con venta", channel="Teléfono"),
        conv("E2", "K2", "2026-11-10T10:00:00", agent="ana", state="RESUELTA", closed_at="2026-11-10T11:00:00",
             outcome="resuelta", customer_state="INTERESADO", channel="telefono"),
        conv("E3", "K3", "2026-11-11T10:00:00", agent="ana", state="Escalada", closed_at="2026-11-11T11:00:00",
             outcome="CERRADA SIN SOLUCIÓN", customer_state="Inactivo", channel="WHATSAPP"),
        conv("E4", "K4", "2026-11-12T10:00:00", agent="ana", state="ACTIVA", outcome="ESCALADA",
             customer_state="EN_SEGUIMIENTO", channel="Correo"),
        conv("E5", "K5", "2026-11-13T10:00:00", agent="ana", state="Activa", outcome="GENERO_VENTA",
             customer_state="Convertido", channel="Chat web"),
    ], [sale("S1", "E1", "10"), sale("S2", "E2", "10"), sale("S3", "E3", "10"), sale("S4", "E4", "10"),
        sale("S5", "E5", "10")])
    # when
    body = dashboard(api, START, END, "week")
    # then successful = E1 (Generó venta), E2 (resuelta), E5 (GENERO_VENTA) → 3 of 5
    assert without_ids(body["agent_volume"]) == [
        {"agent_name": "Ana Agente", "conversations": 5, "successful": 3, "success_rate": approx(0.6)}]
    # and customer states: convertido E1 E5, interesado E2, no_interesado E3 (Inactivo), en_seguimiento E4
    assert body["customer_states"] == [
        {"bucket": "2026-11-09", "interesado": 1, "en_seguimiento": 1, "convertido": 2, "no_interesado": 1}]
    # and states: resolved = E1 E2 (state resuelta, closed in the week)
    assert body["daily_activity"] == [{"bucket": "2026-11-09", "started": 5, "resolved": 2}]
    # and channels: Teléfono/telefono → phone, WHATSAPP → whatsapp, Correo → email, Chat web → webchat
    assert [(r["channel"], r["sales"]) for r in body["sales_by_channel"] if r["sales"]] == [
        ("email", 1), ("phone", 2), ("webchat", 1), ("whatsapp", 1)]


def test_datetimes_without_offset_are_in_the_time_zone_and_offsets_are_respected(tmp_path, api):
    # given (local = Bogotá, UTC−5):
    #   T1 "2026-11-15T23:30:00"        → Sun 11-15 23:30 local
    #   T2 "2026-11-16T04:10:00Z"       → Sun 11-15 23:10 local
    #   T3 "2026-11-16T00:10:00-05:00"  → Mon 11-16 00:10 local
    #   T4 "2026-11-16T06:10:00+01:00"  → 05:10 UTC → Mon 11-16 00:10 local
    #   T5 started Sat 11-14, resuelta, closed "2026-11-16T04:30:00Z" → Sun 11-15 23:30 local
    #   T6 started Sat 11-14, resuelta, closed "2026-11-16T00:30:00"  → Mon 11-16 00:30 local
    import_rows(tmp_path, [
        conv("T1", "K1", "2026-11-15T23:30:00"),
        conv("T2", "K2", "2026-11-16T04:10:00Z"),
        conv("T3", "K3", "2026-11-16T00:10:00-05:00"),
        conv("T4", "K4", "2026-11-16T06:10:00+01:00"),
        conv("T5", "K5", "2026-11-14T10:00:00", state="resuelta", closed_at="2026-11-16T04:30:00Z",
             outcome="resuelta"),
        conv("T6", "K6", "2026-11-14T11:00:00", state="resuelta", closed_at="2026-11-16T00:30:00",
             outcome="resuelta"),
    ])
    # when
    body = dashboard(api, "2026-11-14", "2026-11-16", "day")
    # then 11-14: T5 T6 started; 11-15: T1 T2 started, T5 resolved; 11-16: T3 T4 started, T6 resolved
    assert body["daily_activity"] == [
        {"bucket": "2026-11-14", "started": 2, "resolved": 0},
        {"bucket": "2026-11-15", "started": 2, "resolved": 1},
        {"bucket": "2026-11-16", "started": 2, "resolved": 1},
    ]


# --- bad rows ---------------------------------------------------------------------------------------------

# Rows 0 and 4 (lines 2 and 6) are good; every other row has exactly one problem.
MIXED_CONVERSATIONS = [
    # line 2: ok
    conv("G1", "K1", "2026-11-10T10:00:00", agent="ana"),
    # line 3: closes before it starts
    conv("B3", "K2", "2026-11-10T10:00:00", state="resuelta", closed_at="2026-11-10T09:00:00"),
    # line 4: negative first response
    conv("B4", "K3", "2026-11-10T10:00:00", first_response_seconds="-5"),
    # line 5: unknown state
    conv("B5", "K4", "2026-11-10T10:00:00", state="pendiente"),
    # line 6: ok
    conv("G2", "K5", "2026-11-11T10:00:00", agent="beto"),
    # line 7: started_at does not parse
    conv("B7", "K6", "ayer"),
    # line 8: negative resolution
    conv("B8", "K7", "2026-11-10T10:00:00", state="resuelta", closed_at="2026-11-10T11:00:00",
         resolution_seconds="-1"),
    # line 9: unknown outcome
    conv("B9", "K8", "2026-11-10T10:00:00", outcome="vendido"),
    # line 10: unknown customer_state
    conv("B10", "K9", "2026-11-10T10:00:00", customer_state="feliz"),
    # line 11: required customer_id empty
    conv("B11", "", "2026-11-10T10:00:00"),
    # line 12: required channel empty
    conv("B12", "K10", "2026-11-10T10:00:00", channel=""),
    # line 13: closed_at does not parse
    conv("B13", "K11", "2026-11-10T10:00:00", state="resuelta", closed_at="31/12/2026 10:00"),
]
BAD_LINES = {3, 4, 5, 7, 8, 9, 10, 11, 12, 13}


def test_a_file_with_bad_rows_reports_every_one_by_line_and_imports_nothing(tmp_path, api):
    # given a conversations file with two good rows (lines 2, 6) and ten bad ones
    path = write_conversations(tmp_path, MIXED_CONVERSATIONS)
    # when imported without --skip-invalid
    output = run_import_expecting_error(path)
    # then every bad row is reported as "line N: reason", and no good row is
    assert reported_lines(output) == BAD_LINES
    # and nothing was imported, not even the good rows
    body = dashboard(api, START, END, "week")
    assert body["agent_volume"] == []
    assert started_in_window(body) == 0


def test_skip_invalid_imports_the_good_rows_and_reports_the_rest(tmp_path, api):
    # given the same file
    path = write_conversations(tmp_path, MIXED_CONVERSATIONS)
    # when imported with --skip-invalid
    output = run_import(path, skip_invalid=True)
    # then the bad rows are reported by line
    assert reported_lines(output) == BAD_LINES
    # and the good rows G1 (Ana) and G2 (Beto) are on the dashboard, and only them
    body = dashboard(api, START, END, "week")
    assert [(r["agent_name"], r["conversations"]) for r in body["agent_volume"]] == [
        ("Ana Agente", 1), ("Beto Agente", 1)]
    assert started_in_window(body) == 2


def test_a_missing_required_column_rejects_the_file(tmp_path, api):
    # given a conversations file without the required `channel` column
    path = write_conversations(tmp_path, [conv("C1", "K1", "2026-11-10T10:00:00", agent="ana")], drop=["channel"])
    # when
    output = run_import_expecting_error(path)
    # then the reason names the column, and nothing is imported
    assert "channel" in output or "canal" in output
    assert dashboard(api, START, END)["agent_volume"] == []


def test_bad_sales_rows_are_reported_and_nothing_is_imported(tmp_path, api):
    # given valid conversations, and sales where line 3 has a non-numeric amount and line 4 names a conversation
    # that is in neither file nor database
    conversations = write_conversations(tmp_path, [
        conv("C1", "K1", "2026-11-10T10:00:00", agent="ana", state="resuelta", closed_at="2026-11-10T11:00:00",
             outcome="genero_venta")])
    sales = write_sales(tmp_path, [sale("S1", "C1", "100"), sale("S2", "C1", "mil"), sale("S3", "NO-EXISTE", "5")])
    # when
    output = run_import_expecting_error(conversations, sales)
    # then lines 3 and 4 of the sales file are reported
    assert reported_lines(output) == {3, 4}
    # and the import is all-or-nothing: neither the sales nor the conversations are in
    body = dashboard(api, START, END)
    assert body["revenue_by_agent"] == []
    assert body["agent_volume"] == []


def test_a_sale_may_name_a_conversation_already_in_the_database(tmp_path, api):
    # given C1 imported earlier
    run_import(write_conversations(tmp_path, [
        conv("C1", "K1", "2026-11-10T10:00:00", agent="ana", state="resuelta", closed_at="2026-11-10T11:00:00",
             outcome="genero_venta")], name="first.csv"))
    # when a later import brings C2 and a sale of C1 (which is not in this conversations file)
    second = write_conversations(tmp_path, [conv("C2", "K2", "2026-11-11T10:00:00", agent="ana")], name="second.csv")
    run_import(second, write_sales(tmp_path, [sale("S1", "C1", "250")]))
    # then the sale counts for Ana, and both conversations are hers
    body = dashboard(api, START, END)
    assert revenue_of(body, "Ana Agente") == "250.00"
    assert [(r["agent_name"], r["conversations"]) for r in body["agent_volume"]] == [("Ana Agente", 2)]


# --- idempotence and upserts ------------------------------------------------------------------------------


def test_reimporting_the_same_files_changes_nothing(tmp_path, api):
    # given the basic files imported once
    conversations = write_conversations(tmp_path, BASIC_CONVERSATIONS)
    sales = write_sales(tmp_path, BASIC_SALES)
    run_import(conversations, sales)
    before = dashboard(api, START, END, "day")
    # when imported again
    run_import(conversations, sales)
    # then the dashboard is identical: 2 conversations, 2 sale rows, one customer, one user per agent
    after = dashboard(api, START, END, "day")
    assert after == before
    assert sum(r["conversations"] for r in after["agent_volume"]) == 2
    assert sum(r["sales"] for r in after["sales_by_channel"]) == 2
    assert revenue_of(after, "Ana Agente") == "151234.50"
    assert [r["active"] for r in after["retention"]] == [1]
    assert [u.display_name for u in User.objects.all()].count("Ana Agente") == 1


def test_reimporting_changed_rows_updates_them_by_id(tmp_path, api):
    # given C1 (escalada) with sale S1 of 100
    first_conv = [conv("C1", "K1", "2026-11-10T10:00:00", agent="ana", state="escalada",
                       closed_at="2026-11-10T11:00:00", outcome="escalada")]
    run_import(write_conversations(tmp_path, first_conv, name="c1.csv"),
               write_sales(tmp_path, [sale("S1", "C1", "100")], name="s1.csv"))
    # when the same ids come back with C1 genero_venta and S1 at 250
    second_conv = [conv("C1", "K1", "2026-11-10T10:00:00", agent="ana", state="resuelta",
                        closed_at="2026-11-10T11:00:00", outcome="genero_venta")]
    run_import(write_conversations(tmp_path, second_conv, name="c2.csv"),
               write_sales(tmp_path, [sale("S1", "C1", "250")], name="s2.csv"))
    # then still one conversation and one sale, with the new values (250, not 100 + 250)
    body = dashboard(api, START, END)
    assert without_ids(body["agent_volume"]) == [
        {"agent_name": "Ana Agente", "conversations": 1, "successful": 1, "success_rate": approx(1.0)}]
    assert revenue_of(body, "Ana Agente") == "250.00"
    assert body["sales_conversations"]["with_sale"] == 1


def test_an_unknown_agent_becomes_one_user_named_after_the_file(tmp_path, api):
    # given agent EXT-9 "Agente Nuevo" on two rows of one file and one row of a later file
    rows = [conv("N1", "K1", "2026-11-10T10:00:00", agent_id="EXT-9", agent_name="Agente Nuevo"),
            conv("N2", "K2", "2026-11-11T10:00:00", agent_id="EXT-9", agent_name="Agente Nuevo")]
    run_import(write_conversations(tmp_path, rows, name="first.csv"))
    run_import(write_conversations(tmp_path, [
        conv("N3", "K3", "2026-11-12T10:00:00", agent_id="EXT-9", agent_name="Agente Nuevo")], name="second.csv"))
    # when
    (row,) = dashboard(api, START, END)["agent_volume"]
    # then one agent row with all three conversations, whose id is a Centralita user with that name
    assert (row["agent_name"], row["conversations"]) == ("Agente Nuevo", 3)
    assert User.objects.get(pk=row["agent_id"]).display_name == "Agente Nuevo"


def test_a_second_import_is_on_the_dashboard_at_once(tmp_path, api):
    # given one imported conversation of Ana, and the dashboard already looked at (any rollup computed)
    run_import(write_conversations(tmp_path, [conv("C1", "K1", "2026-11-10T10:00:00", agent="ana")], name="a.csv"))
    assert started_in_window(dashboard(api, START, END)) == 1
    # when a second file with two more conversations is imported
    run_import(write_conversations(tmp_path, [conv("C2", "K2", "2026-11-11T10:00:00", agent="ana"),
                                              conv("C3", "K3", "2026-11-12T10:00:00", agent="beto")], name="b.csv"))
    # then the next request shows all three
    body = dashboard(api, START, END)
    assert started_in_window(body) == 3
    assert [(r["agent_name"], r["conversations"]) for r in body["agent_volume"]] == [
        ("Ana Agente", 2), ("Beto Agente", 1)]
