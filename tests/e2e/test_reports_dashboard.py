"""Browser test: the performance dashboard draws its KPI cards and charts from the API's JSON, follows a
granularity change without a reload (address and buckets change), downloads a chart's CSV, and lists the
conversations behind a clicked bar."""

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
from reports.dashboard import buckets, default_window
from reports.tests.csvdata import conv, run_import, sale, write_conversations, write_sales
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]


def chart_data(page: Page, canvas_id: str) -> dict[str, Any]:
    """What Chart.js holds for the canvas (labels and every dataset), once it has drawn."""
    # A function, not an expression: Playwright re-evaluates an expression with eval() on every poll, which the
    # Content-Security-Policy refuses; a function is compiled once through the DevTools protocol.
    page.wait_for_function(f"() => window.Chart && Chart.getChart(document.getElementById('{canvas_id}'))")
    return page.evaluate(f"""() => {{
        const chart = Chart.getChart(document.getElementById('{canvas_id}'));
        return {{labels: chart.data.labels, data: chart.data.datasets.map(d => d.data),
                 width: chart.canvas.width, height: chart.canvas.height}};
    }}""")


def click_bar(page: Page, canvas_id: str, dataset: int, index: int) -> None:
    """A real mouse click in the middle of one bar."""
    x, y = page.evaluate(f"""() => {{
        const canvas = document.getElementById('{canvas_id}');
        canvas.scrollIntoView({{block: "center"}});
        const bar = Chart.getChart(canvas).getDatasetMeta({dataset}).data[{index}];
        const box = canvas.getBoundingClientRect();
        return [box.left + bar.x, box.top + (bar.y + bar.base) / 2];
    }}""")
    page.mouse.click(x, y)


def history(tmp_path: Path) -> None:
    """Ana: 8 conversations over the last 8 days (5 resolved with a sale, first response 1 h 05 min);
    Beto: 3 open ones without a response. Imported the way an analyst would (import_history)."""
    today = timezone.localdate()
    rows = []
    for i in range(8):
        day = (today - timedelta(days=i)).isoformat()
        closed = {"state": "resuelta", "closed_at": f"{day}T12:00:00", "outcome": "genero_venta",
                  "resolution_seconds": "7200"} if i < 5 else {}
        rows.append(conv(f"A{i}", f"KA{i}", f"{day}T08:00:00", agent="ana", first_response_seconds="3900",
                         **closed))
    rows.extend(conv(f"B{i}", f"KB{i}", f"{(today - timedelta(days=i + 1)).isoformat()}T09:00:00", agent="beto",
                     channel="Email") for i in range(3))
    run_import(write_conversations(tmp_path, rows),
               write_sales(tmp_path, [sale(f"S{i}", f"A{i}", "150000") for i in range(5)]))


def test_dashboard_draws_filters_downloads_and_drills_down(asgi_live_server: str, browser: Browser, tmp_path: Path):
    base = asgi_live_server
    # given a small imported history and an analyst
    history(tmp_path)
    UserFactory(username="ines", role=Role.ANALISTA, full_name="Inés Analista")
    start, end = default_window()

    # when she opens the dashboard from the menu
    page = login(browser, base, "ines")
    page.click("nav >> text=Reportes")
    expect(page).to_have_url(f"{base}/reportes/")
    page.wait_for_selector("body[data-dashboard=ready]")

    # then the KPI cards show the numbers with their traffic lights in words
    expect(page.get_by_test_id("kpi-avg_first_response_seconds")).to_have_text("1 h 05 min")
    expect(page.get_by_test_id("kpi-status-avg_first_response_seconds")).to_have_text("Cerca de la meta")
    expect(page.get_by_test_id("kpi-unanswered_open")).to_have_text("3")  # Beto's
    expect(page.get_by_test_id("kpi-status-unanswered_open")).to_have_text("Cerca de la meta")
    expect(page.get_by_test_id("kpi-status-closed_without_response")).to_have_text("En meta")
    # and the charts are drawn with the data
    volume = chart_data(page, "chart-agent_volume")
    assert volume["labels"] == ["Ana Agente", "Beto Agente"]
    assert volume["data"] == [[8, 3], [5, 0]]
    assert volume["width"] > 0 and volume["height"] > 0
    assert chart_data(page, "chart-sales_conversations")["data"] == [[5, 0]]
    assert chart_data(page, "chart-revenue_by_agent")["data"] == [[750000, 0]]
    weekly = chart_data(page, "chart-daily_activity")
    assert len(weekly["labels"]) == len(buckets(start, end, "week"))
    assert sum(weekly["data"][0]) == 11
    expect(page.get_by_test_id("conversion-rate")).to_contain_text("100")

    # when she groups by day
    page.select_option("#id_granularity", "day")

    # then the address holds the filter and the charts have one bucket per day, without a page load
    expect(page).to_have_url(re.compile(r"[?&]granularity=day"))
    page.wait_for_function("() => Chart.getChart(document.getElementById('chart-daily_activity'))?.data.labels.length"
                           " === 30")
    daily = chart_data(page, "chart-daily_activity")
    assert sum(daily["data"][0]) == 11 and daily["data"][0][-1] == 1
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

    # when she downloads that chart's CSV (headers in her language by default)
    with page.expect_download() as download:
        page.get_by_test_id("csv-daily_activity").click()
    csv_path = tmp_path / "actividad.csv"
    download.value.save_as(csv_path)
    # then it holds the same daily rows the chart shows
    lines = csv_path.read_bytes().decode("utf-8").splitlines()
    assert lines[0] == "\ufeffPeriodo (primer día),Iniciadas,Resueltas"
    assert len(lines) == 31
    assert lines[-1] == f"{end.isoformat()},1,1"
    assert sum(int(line.split(",")[1]) for line in lines[1:]) == 11

    # when she picks machine names in the export options and the Excel flavour
    expect(page.get_by_test_id("export-options")).to_have_attribute("open", "")  # unfolded for analysts
    page.get_by_label("Nombres de máquina («state: resuelta»)").check()
    with page.expect_download() as excel_download:
        page.get_by_test_id("csv-daily_activity-excel").click()
    excel_path = tmp_path / "actividad-excel.csv"
    excel_download.value.save_as(excel_path)
    # then semicolons and machine names; the choice is remembered on the next visit
    assert excel_path.read_bytes().decode("utf-8").splitlines()[0] == "\ufeffbucket;started;resolved"
    page.reload()
    assert page.get_by_label("Nombres de máquina («state: resuelta»)").is_checked()

    # and the per-conversation export (streamed by the ASGI server) has the window's eleven conversations
    export = page.request.get(base + (page.get_by_test_id("export-conversations").get_attribute("href") or ""))
    exported = export.body().decode("utf-8").splitlines()
    assert export.ok and exported[0].startswith("\ufeffID de la conversación,ID del cliente,Cliente,Fecha y hora")
    assert len(exported) == 12

    # when she clicks Ana's "conversations" bar
    click_bar(page, "chart-agent_volume", 0, 0)

    # then a dialog lists the eight conversations behind it, with links to them
    dialog = page.get_by_test_id("drill")
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("drill-count")).to_have_text("8 conversaciones")
    expect(dialog.locator("tbody tr")).to_have_count(8)
    expect(dialog.locator("tbody tr").first).to_contain_text("Cliente KA0")
    expect(dialog.locator("tbody tr").first).to_contain_text("Ana Agente")
    assert re.fullmatch(r"/inbox/\d+/", dialog.locator("tbody tr a").first.get_attribute("href") or "")
    expect(page.locator("#drill-title")).to_contain_text("Rendimiento de los agentes por volumen · Ana Agente")
