"""GET /api/v1/reports/lead-flow: JSON, CSV, scope and errors (numbers: reports/tests/leadflow_data.py)."""

from __future__ import annotations

import csv
import io

import pytest

from accounts.roles import Role
from reports.tests.leadflow_data import build_dataset

pytestmark = pytest.mark.django_db
URL = "/api/v1/reports/lead-flow"
WINDOW = "start=2026-03-01&end=2026-03-10"


def test_the_json_has_every_documented_field(make_user, api_client_for):
    # given the data set and a supervisor's token
    build_dataset()
    api = api_client_for(make_user(Role.SUPERVISOR))
    # when they ask for the window
    body = api.get(f"{URL}?{WINDOW}").json()
    # then the payload carries the window, the zone, the totals and the three tables
    assert (body["start"], body["end"], body["time_zone"], body["operator"]) == (
        "2026-03-01", "2026-03-10", "America/Bogota", None)
    assert body["totals"] == {"calls": 8, "unique_leads": 6, "closed": 2, "sales": 0, "revenue": "0.00"}
    assert body["by_operator"][0] == {
        "operator": "ana", "operator_name": "Ana Operadora", "calls": 5, "unique_leads": 4, "closed": 0,
        "positivo": 3, "negativo": 1, "parcial": 1, "no_clasificado": 0, "speed_to_lead_mean_seconds": 1800.0,
        "speed_to_lead_median_seconds": 1200.0, "speed_to_lead_count": 3, "sales": 0, "revenue": "0.00"}
    assert body["by_operator"][2]["speed_to_lead_mean_seconds"] is None
    assert len(body["by_hour"]) == 24 and body["by_hour"][23] == {"hour": 23, "calls": 2, "sales": 0,
                                                            "revenue": "0.00"}
    assert body["outcomes"][3] == {"outcome": "no_clasificado", "label": "No clasificado", "calls": 1}


def test_a_supervisor_can_filter_by_operator(make_user, api_client_for):
    build_dataset()
    body = api_client_for(make_user(Role.DIRECTOR_VENTAS)).get(f"{URL}?{WINDOW}&operator=beto").json()
    assert body["operator"] == "beto"
    assert body["totals"] == {"calls": 3, "unique_leads": 3, "closed": 1, "sales": 0, "revenue": "0.00"}


def test_an_agent_gets_only_their_own_numbers_even_when_asking_for_someone_else(api_client_for):
    # given agent ana
    data = build_dataset()
    api = api_client_for(data.ana)
    # when she asks for beto's numbers, in JSON and in CSV
    body = api.get(f"{URL}?{WINDOW}&operator=beto").json()
    rows = list(csv.DictReader(io.StringIO(
        api.get(f"{URL}?{WINDOW}&operator=beto&format=csv&table=by_operator&headers=name&durations=seconds").content.decode("utf-8-sig"))))
    # then both carry her own numbers only
    assert body["operator"] == "ana"
    assert body["totals"] == {"calls": 5, "unique_leads": 4, "closed": 0, "sales": 0, "revenue": "0.00"}
    assert [r["operator"] for r in body["by_operator"]] == ["ana"]
    assert [r["operator"] for r in rows] == ["ana"]


def test_csv_by_operator_is_utf8_with_bom_comma_separated_with_a_header(make_user, api_client_for):
    # given the data set
    build_dataset()
    api = api_client_for(make_user(Role.ANALISTA))
    # when the analyst downloads the operators table
    response = api.get(f"{URL}?{WINDOW}&format=csv&table=by_operator&headers=name&durations=seconds")
    # then it is an attachment Excel opens with accents intact, nulls as empty cells
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="flujo-de-leads-by_operator-2026-03-01-2026-03-10.csv"')
    assert response.content.startswith(b"\xef\xbb\xbf")
    assert response.content.decode("utf-8-sig").splitlines() == [
        "operator,operator_name,calls,unique_leads,closed,positivo,negativo,parcial,no_clasificado,"
        "speed_to_lead_mean_seconds,speed_to_lead_median_seconds,speed_to_lead_count,sales,revenue",
        "ana,Ana Operadora,5,4,0,3,1,1,0,1800,1200,3,0,0.00",
        "beto,Beto Operador,3,3,1,0,1,1,1,53999,53999,1,0,0.00",
        "sara,Sara Supervisora,0,0,1,0,0,0,0,,,0,0,0.00",
    ]


def test_csv_speed_to_lead_lists_the_operators_with_first_contacts(make_user, api_client_for):
    # the "Descargar CSV" of the speed-to-lead chart downloads that chart's table, not the operators table
    build_dataset()
    api = api_client_for(make_user(Role.ANALISTA))
    lines = (api.get(f"{URL}?{WINDOW}&format=csv&table=speed_to_lead&headers=name&durations=seconds")
             .content.decode("utf-8-sig").splitlines())
    assert lines == [
        "operator,operator_name,speed_to_lead_mean_seconds,speed_to_lead_median_seconds,speed_to_lead_count",
        "ana,Ana Operadora,1800,1200,3",
        "beto,Beto Operador,53999,53999,1",
    ]
    # by default (Spanish headers, hh:mm:ss) the same table reads as a person writes it
    readable = api.get(f"{URL}?{WINDOW}&format=csv&table=speed_to_lead").content.decode("utf-8-sig").splitlines()
    assert readable == [
        'Usuario del operador,Operador,"Velocidad de contacto, media","Velocidad de contacto, mediana",'
        "Primeras notas medidas",
        "ana,Ana Operadora,0:30:00,0:20:00,3",
        "beto,Beto Operador,14:59:59,14:59:59,1",
    ]


def test_csv_by_hour_and_outcomes(make_user, api_client_for):
    build_dataset()
    api = api_client_for(make_user(Role.GERENTE))
    hours = (api.get(f"{URL}?{WINDOW}&format=csv&table=by_hour&headers=name")
             .content.decode("utf-8-sig").splitlines())
    outcomes = api.get(f"{URL}?{WINDOW}&format=csv&table=outcomes").content.decode("utf-8-sig").splitlines()
    assert hours[0] == "hour,calls,sales,revenue" and len(hours) == 25
    assert hours[1] == "0,1,0,0.00" and hours[9] == "8,1,0,0.00" and hours[24] == "23,2,0,0.00"
    assert hours[2] == "1,0,0,0.00"
    assert outcomes == ["Resultado,Llamadas", "Positivo,3", "Negativo,2", "Parcial,2", "No clasificado,1"]
    # the Excel flavour: semicolons and a decimal comma
    excel = api.get(f"{URL}?{WINDOW}&format=csv&table=by_hour&dialect=excel").content.decode("utf-8-sig")
    assert excel.splitlines()[:2] == ["Hora;Llamadas;Ventas;Ingresos", "0;1;0;0,00"]
    assert list(csv.reader(io.StringIO(excel), delimiter=";"))[1] == ["0", "1", "0", "0,00"]


@pytest.mark.parametrize(("query", "code"), [
    ("start=2026-03-10&end=2026-03-01", "invalid_window"),
    ("start=2026-02-30", "invalid_request"),
    ("start=2024-01-01&end=2026-01-01", "window_too_long"),
    ("operator=nadie", "unknown_operator"),
    ("format=csv", "missing_table"),
    ("format=csv&table=leads", "invalid_request"),
    ("format=xml", "invalid_request"),
])
def test_bad_filters_answer_400_with_a_stable_code(query, code, make_user, api_client_for):
    response = api_client_for(make_user(Role.SUPERVISOR)).get(f"{URL}?{query}")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code


def test_the_schema_is_documented_in_openapi(make_user, client_for):
    # given the OpenAPI document
    doc = client_for(make_user(Role.ADMIN)).get("/api/v1/openapi.json").json()
    # then the route lists its query parameters, its JSON schema and the CSV alternative
    operation = doc["paths"][URL]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"start", "end", "operator", "format", "table",
                                                            "dialect", "headers", "durations"}
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    schemas = doc["components"]["schemas"]
    assert set(schemas["LeadFlowOut"]["properties"]) == {"start", "end", "time_zone", "operator", "totals",
                                                         "by_operator", "by_hour", "outcomes"}
    assert "speed_to_lead_median_seconds" in schemas["LeadFlowOperator"]["properties"]
