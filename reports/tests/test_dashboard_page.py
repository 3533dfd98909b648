"""/reportes/: the dashboard page per role — filters, KPI cards, the charts a role may see with their definitions
and downloads, the browser's configuration; the navigation and the links between the report pages."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest
from django.urls import reverse

from accounts.roles import Role
from accounts.tests.factories import TeamFactory
from reports.dashboard import CHARTS, ROLE_CHARTS
from reports.tests.csvdata import BOGOTA

pytestmark = pytest.mark.django_db
URL = "/reportes/"


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(datetime(2026, 11, 25, 10, 0, tzinfo=BOGOTA), tick=False)


def config(html: str) -> dict[str, Any]:
    match = re.search(r'<script id="dashboard-config" type="application/json">(.*?)</script>', html, re.S)
    assert match
    return json.loads(match.group(1))


def sections(html: str) -> list[str]:
    return re.findall(r'<section class="panel chart-panel" aria-labelledby="h-\w+" data-chart="(\w+)"', html)


def test_the_menu_opens_the_dashboard_which_links_to_the_lead_flow_report_and_back(make_user, client_for):
    # given an analyst
    client = client_for(make_user(Role.ANALISTA))
    # when she opens the home page / then "Reportes" points to the dashboard
    home = client.get("/").content.decode()
    assert re.search(r'<a href="/reportes/"[^>]*><svg [^>]*class="nav-icon"[^>]*>.*?</svg> Reportes</a>', home, re.S)
    # and the dashboard links to the lead-flow report, which links back
    assert 'href="/reportes/leads/"' in client.get(URL).content.decode()
    assert 'href="/reportes/"' in client.get(reverse("reports:leadflow")).content.decode()


def test_an_analyst_gets_every_chart_with_its_definition_downloads_kpis_and_all_filters(make_user, client_for):
    # given an analyst and a team
    TeamFactory(code="ventas", name="Ventas")
    client = client_for(make_user(Role.ANALISTA))
    # when she opens the dashboard for a window by month
    response = client.get(URL, {"start": "2026-09-01", "end": "2026-11-15", "granularity": "month"})
    # then the filters show that window, and team, inbox and agent can be chosen
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="start" value="2026-09-01"' in html and 'name="end" value="2026-11-15"' in html
    assert '<option value="month" selected>Mes</option>' in html
    assert 'id="id_team"' in html and ">Ventas</option>" in html
    assert 'id="id_inbox"' in html and 'id="id_agent"' in html and 'id="id_channel"' in html
    # and the eight charts, each with its definition, a CSV download of that chart and a PNG button
    eight = [c for c in CHARTS if c != "kpis"]
    assert sorted(sections(html)) == sorted(eight)
    assert "Número de ventas (filas de venta, no unidades)" in html
    assert "Clientes según el estado de su conversación más reciente" in html
    for chart in eight:
        assert (f'href="/api/v1/reports/dashboard?start=2026-09-01&amp;end=2026-11-15&amp;granularity=month'
                f'&amp;format=csv&amp;chart={chart}"') in html
        assert f'data-chart-png="chart-{chart}"' in html
    # and the six KPI cards with their targets, the export and import links
    for kpi in ("avg_first_response_seconds", "avg_reply_seconds", "unanswered_open", "closed_without_response",
                "avg_resolution_seconds", "resolved_within_48h_rate"):
        assert f'data-testid="kpi-{kpi}"' in html
    assert "Meta: &lt; 1 h" in html and "Meta: &lt; 48 h" in html
    assert ('href="/api/v1/reports/conversations.csv?start=2026-09-01&amp;end=2026-11-15"' in html)
    assert 'href="/reportes/importar/"' in html
    # and the browser gets the API's address, the charts to draw and the texts
    cfg = config(html)
    assert cfg["api"] == "/api/v1/reports/dashboard"
    assert cfg["drill_api"] == "/api/v1/reports/dashboard/conversations"
    assert cfg["inbox_url"] == "/inbox/0/"
    assert cfg["currency"] == "COP"
    assert cfg["texts"]["duration"]["h"] == "%(h)d h %(m)02d min"
    assert cfg["channels"]["whatsapp"] == "WhatsApp"


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.DIRECTOR_VENTAS])
def test_a_role_sees_only_its_charts_and_no_export(role, make_user, client_for):
    # given a supervisor or a sales director
    client = client_for(make_user(role))
    # when they open the dashboard
    html = client.get(URL).content.decode()
    # then exactly the charts of their role, and no export or import
    assert sorted(sections(html)) == sorted(ROLE_CHARTS[role] - {"kpis"})
    assert sorted(config(html)["charts"]) == sorted(ROLE_CHARTS[role] - {"kpis"})
    assert "export-conversations" not in html
    assert 'href="/reportes/importar/"' not in html
    assert 'id="id_agent"' in html  # both see everyone's numbers


def test_an_agent_has_no_team_inbox_or_agent_filter(make_user, client_for):
    # given an agent
    agent = make_user(Role.AGENTE)
    # when she opens the dashboard asking for someone else
    html = client_for(agent).get(URL, {"agent": agent.pk + 1, "team": 3}).content.decode()
    # then no team/inbox/agent selects, a note that the numbers are hers, and nobody else's id in the links
    assert 'id="id_team"' not in html and 'id="id_inbox"' not in html and 'id="id_agent"' not in html
    assert 'id="id_channel"' in html
    assert "Usted ve solo sus propios números." in html
    assert f"agent={agent.pk + 1}" not in html and "team=3" not in html
    assert sorted(sections(html)) == sorted(c for c in CHARTS if c != "kpis")


def test_a_bad_filter_falls_back_to_the_default_window_with_a_message(make_user, client_for):
    # when the URL holds an impossible window
    html = client_for(make_user(Role.ANALISTA)).get(URL, {"start": "2026-11-20", "end": "2026-11-01"}).content.decode()
    # then the reason is shown and the form holds the default window (the last 30 days)
    assert "La fecha inicial es posterior a la final." in html
    assert 'name="start" value="2026-10-27"' in html and 'name="end" value="2026-11-25"' in html


def test_the_browser_can_read_the_api_with_the_session(make_user, client_for):
    # given a logged-in analyst (no token) / when the page's script fetches the JSON / then the API answers it
    response = client_for(make_user(Role.ANALISTA)).get("/api/v1/reports/dashboard", {"granularity": "day"})
    assert response.status_code == 200
    assert response.json()["granularity"] == "day"
