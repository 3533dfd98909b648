"""Browser test: the lead-flow report draws its charts from the API's JSON, follows a filter change without a
reload, and downloads a chart as PNG and a table as CSV."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from leads.tests.factories import LeadFactory
from reports.tests.leadflow_data import LeadNoteFactory
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]


def chart_data(page: Page, canvas_id: str) -> dict[str, Any]:
    """What Chart.js actually holds for the canvas (labels and the first dataset), once it has drawn."""
    # A function, not an expression: Playwright re-evaluates an expression with eval() on every poll, which the
    # Content-Security-Policy refuses; a function is compiled once through the DevTools protocol.
    page.wait_for_function(f"() => window.Chart && Chart.getChart(document.getElementById('{canvas_id}'))")
    return page.evaluate(f"""() => {{
        const chart = Chart.getChart(document.getElementById('{canvas_id}'));
        return {{labels: chart.data.labels, data: chart.data.datasets[0].data,
                 width: chart.canvas.width, height: chart.canvas.height}};
    }}""")


def test_leadflow_charts_filter_and_downloads(asgi_live_server: str, browser: Browser, tmp_path: Path):
    base = asgi_live_server
    # given two agents' calls within the default window (the last 30 days)
    ana = UserFactory(username="ana", role=Role.AGENTE, full_name="Ana Operadora")
    beto = UserFactory(username="beto", role=Role.AGENTE, full_name="Beto Operador")
    UserFactory(username="sara", role=Role.SUPERVISOR, full_name="Sara Supervisora")
    now = timezone.now()
    for author, minutes, outcome in ((ana, 30, "positivo"), (ana, 20, "negativo"), (beto, 10, "parcial")):
        lead = LeadFactory(queue_entered_at=now - timedelta(minutes=minutes + 5))
        LeadNoteFactory(lead=lead, author=author, created_at=now - timedelta(minutes=minutes), outcome=outcome)

    # when the supervisor opens the report from the menu (Reportes is the dashboard, which links to it)
    page = login(browser, base, "sara")
    page.click("nav >> text=Reportes")
    expect(page).to_have_url(f"{base}/reportes/")
    page.get_by_test_id("link-leadflow").click()
    expect(page).to_have_url(f"{base}/reportes/leads/")

    # then the KPI cards and the four charts show the data
    expect(page.get_by_test_id("kpi-calls")).to_have_text("3")
    expect(page.get_by_test_id("kpi-unique-leads")).to_have_text("3")
    operators = chart_data(page, "chart-operators")
    assert operators["labels"] == ["Ana Operadora", "Beto Operador"]
    assert operators["data"] == [2, 1]
    assert operators["width"] > 0 and operators["height"] > 0
    assert sum(chart_data(page, "chart-hours")["data"]) == 3
    assert chart_data(page, "chart-outcomes")["data"] == [1, 1, 1, 0]
    speed = chart_data(page, "chart-speed")
    assert speed["labels"] == ["Ana Operadora", "Beto Operador"] and speed["data"] == [5, 5]  # minutes

    # when she picks one operator
    page.select_option("#id_operator", "beto")

    # then the numbers and the charts follow without a page load, and the URL keeps the filter
    expect(page.get_by_test_id("kpi-calls")).to_have_text("1")
    # (the swap replaces the canvas: until Chart.js has drawn on the new one there is no chart to read)
    page.wait_for_function("() => Chart.getChart(document.getElementById('chart-operators'))?.data.labels.length === 1")
    assert chart_data(page, "chart-operators")["labels"] == ["Beto Operador"]
    assert chart_data(page, "chart-outcomes")["data"] == [0, 0, 1, 0]
    expect(page).to_have_url(re.compile(r"[?&]operator=beto"))
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

    # when she downloads the operators table as CSV and the hours chart as PNG
    with page.expect_download() as csv_download:
        page.get_by_test_id("csv-by_operator").click()
    with page.expect_download() as png_download:
        page.click("[data-chart-png='chart-hours']")

    # then the CSV holds the filtered table (UTF-8 with BOM) and the PNG is an image
    csv_path = tmp_path / "operadores.csv"
    csv_download.value.save_as(csv_path)
    lines = csv_path.read_bytes().decode("utf-8").splitlines()
    assert lines[0].startswith("\ufeffUsuario del operador,Operador,Llamadas")
    assert lines[1].startswith("beto,Beto Operador,1,1,0,0,0,1,0,0:05:00,0:05:00,1")
    assert len(lines) == 2
    png_path = tmp_path / "horas.png"
    png_download.value.save_as(png_path)
    assert png_download.value.suggested_filename == "flujo-de-leads-por-hora.png"
    assert png_path.read_bytes().startswith(b"\x89PNG")
    # and the shared helper writes the same CSV dialect in the browser (quotes, empty nulls, CRLF)
    assert page.evaluate("CentralitaCharts.toCsv([{a: 'Peña, J', b: null}], ['a', 'b'])") == 'a,b\r\n"Peña, J",\r\n'


def test_date_fields_follow_the_readers_language_and_send_iso_dates(asgi_live_server: str, browser: Browser):
    # given a supervisor who reads Spanish (the native date field showed mm/dd/yyyy under Spanish)
    UserFactory(username="sara", role=Role.SUPERVISOR, language="es")
    page = login(browser, asgi_live_server, "sara")
    page.goto(f"{asgi_live_server}/reportes/leads/?start=2026-11-07&end=2026-12-06")
    # then the field reads day/month/year while the form still carries YYYY-MM-DD
    expect(page.locator("#id_start")).to_have_value("07/11/2026")
    expect(page.locator("input[type=hidden][name=start]")).to_have_value("2026-11-07")
    # when a day is picked from the calendar (Spanish day names, Monday first)
    page.click("#id_start")
    expect(page.locator(".air-datepicker-body--day-name").first).to_have_text(re.compile("lu", re.I))
    page.locator(".air-datepicker-cell.-day-:not(.-other-month-)").nth(2).click()
    # then the report follows with the ISO date in its address
    expect(page).to_have_url(re.compile(r"start=2026-11-03"))
    expect(page.locator("#id_start")).to_have_value("03/11/2026")
