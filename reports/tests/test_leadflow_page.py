"""/reportes/leads/: filters, KPI cards, the embedded JSON, the agent's scope, the htmx fragment."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from accounts.roles import Role
from reports.tests.leadflow_data import build_dataset

pytestmark = pytest.mark.django_db
WINDOW = {"start": "2026-03-01", "end": "2026-03-10"}


def _embedded(response):
    html = response.content.decode()
    start = html.index('<script id="leadflow-data" type="application/json">') + len(
        '<script id="leadflow-data" type="application/json">')
    return json.loads(html[start:html.index("</script>", start)])


def test_a_supervisor_sees_the_kpis_every_operator_and_the_same_json_as_the_api(client_for, api_client_for):
    # given the data set and supervisor sara
    data = build_dataset()
    client = client_for(data.sara)
    # when she opens the page for the window
    response = client.get(reverse("reports:leadflow"), WINDOW)
    # then the KPI cards show the totals, the operator filter lists the agents, and the charts' JSON is the API's
    assert response.status_code == 200
    html = response.content.decode()
    assert '<p class="kpi" data-testid="kpi-calls">8</p>' in html
    assert '<p class="kpi" data-testid="kpi-unique-leads">6</p>' in html
    assert '<p class="kpi" data-testid="kpi-closed">2</p>' in html
    assert '<option value="beto" >Beto Operador</option>' in html
    api = api_client_for(data.sara).get("/api/v1/reports/lead-flow", WINDOW).json()
    assert _embedded(response) == api
    assert "/api/v1/reports/lead-flow?start=2026-03-01&amp;end=2026-03-10&amp;format=csv&amp;table=outcomes" in html
    # and each chart has its definition on screen, and speed-to-lead is readable
    assert "Tiempo desde que el lead llegó a la cola hasta su primera nota" in html
    assert "<td>Ana Operadora</td><td>30 min 00 s</td><td>20 min 00 s</td><td>3</td>" in html


def test_an_agent_sees_only_her_numbers_even_with_another_operator_in_the_url(client_for):
    # given agent ana
    data = build_dataset()
    # when she opens the page asking for beto
    response = client_for(data.ana).get(reverse("reports:leadflow"), {**WINDOW, "operator": "beto"})
    # then every number is hers, and there is no operator filter to pick from
    html = response.content.decode()
    assert '<p class="kpi" data-testid="kpi-calls">5</p>' in html
    assert '<p class="kpi" data-testid="kpi-closed">0</p>' in html
    assert 'id="id_operator"' not in html
    payload = _embedded(response)
    assert payload["operator"] == "ana"
    assert [r["operator"] for r in payload["by_operator"]] == ["ana"]
    assert "operator=beto" not in html


def test_a_filter_change_from_htmx_gets_only_the_results_fragment(client_for, make_user):
    build_dataset()
    response = client_for(make_user(Role.GERENTE)).get(reverse("reports:leadflow"), {**WINDOW, "operator": "beto"},
                                                       headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html and 'id="leadflow-filters"' not in html
    assert '<p class="kpi" data-testid="kpi-calls">3</p>' in html
    assert _embedded(response)["operator"] == "beto"


def test_a_bad_filter_shows_the_reason_and_the_default_window(client_for, make_user):
    response = client_for(make_user(Role.SUPERVISOR)).get(reverse("reports:leadflow"),
                                                          {"start": "2026-03-10", "end": "2026-03-01"})
    assert response.status_code == 200
    assert "La fecha inicial es posterior a la final." in response.content.decode()
    response = client_for(make_user(Role.SUPERVISOR)).get(reverse("reports:leadflow"), {"start": "ayer"})
    assert "Fecha inválida" in response.content.decode()


def test_big_numbers_use_the_spanish_thousands_separator():
    # given totals in the thousands (rendered straight into the fragment: creating 12,345 notes adds nothing)
    from django.template.loader import render_to_string

    html = render_to_string("reports/_leadflow_results.html", {
        "report": {"totals": {"calls": 1234, "unique_leads": 12345, "closed": 0}, "by_operator": [],
                   "by_hour": [], "outcomes": []}, "payload": {}, "chart_labels": {}, "csv_urls": {}})
    # then they carry the Spanish (Colombian) thousands separator from config/formats/es
    assert 'data-testid="kpi-calls">1.234<' in html
    assert 'data-testid="kpi-unique-leads">12.345<' in html


@pytest.mark.parametrize("role", list(Role))
def test_every_role_finds_reports_in_the_menu(role, make_user, client_for):
    # "Reportes" opens the performance dashboard, which links to this report (test_dashboard_page.py)
    html = client_for(make_user(role)).get(reverse("accounts:home")).content.decode()
    assert f'href="{reverse("reports:dashboard")}"' in html
