"""Issue 15: the demo looks like a real company. `seed_demo --seed 1` gives a dashboard where every chart has data
and the KPIs sit near their targets: first answers in minutes, resolutions in hours, sales from the calls under
"Teléfono", customers who come back."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from inbox.models import Conversation
from reports import rollups
from reports.dashboard import CHARTS, DashboardFilters, dashboard, default_window
from reports.dashboard_ui import KPI_CARDS


def light(better: str, ok: float, warn: float, value: float | None) -> str:
    """The traffic light dashboard.js draws (kpiStatus)."""
    if value is None:
        return "none"
    if better == "lower":
        return "ok" if value < ok else "warn" if value < warn else "bad"
    return "ok" if value >= ok else "warn" if value >= warn else "bad"

pytestmark = pytest.mark.django_db


def test_seed_demo_draws_every_chart_with_believable_numbers():
    # given a fresh demo company
    call_command("seed_demo", "--seed", "1", stdout=StringIO())
    rollups.refresh_all_dirty()
    # when the dashboard of the default window is read
    start, end = default_window()
    board = dashboard(DashboardFilters(start=start, end=end))
    # then no chart is empty
    assert set(CHARTS) <= set(board)
    assert any(r["conversations"] for r in board["agent_volume"])
    assert any(r["avg_first_response_seconds"] for r in board["agent_response_times"])
    assert board["sales_conversations"]["with_sale"] > 0 and board["sales_conversations"]["without_sale"] > 0
    assert any(float(r["revenue"]) > 0 for r in board["revenue_by_agent"])
    assert any(sum(v for k, v in r.items() if k != "bucket") for r in board["customer_states"])
    assert any(r["returning"] for r in board["retention"]) and any(r["new"] for r in board["retention"])
    assert any(r["started"] for r in board["daily_activity"]) and any(r["resolved"] for r in board["daily_activity"])
    # sales from the call center and from the written channels, with catalog products (issue 15)
    assert {"phone", "whatsapp", "email"} <= {r["channel"] for r in board["sales_by_channel"]}
    # and the numbers are a real month's: answers in minutes, resolutions in hours, not days or "now"
    kpis = board["kpis"]
    assert 60 < kpis["avg_first_response_seconds"] < 3600
    assert 3600 < kpis["avg_resolution_seconds"] < 48 * 3600
    assert kpis["resolved_within_48h_rate"] > 0.8
    # and the traffic lights read like a real morning: some green, some amber, some red (this morning's queue)
    lights = {k.key: light(k.better, k.ok, k.warn, kpis[k.key]) for k in KPI_CARDS if k.better != "none"}
    assert {"ok", "warn", "bad"} <= set(lights.values()), lights
    assert lights["unanswered_open"] == "bad"
    # and the customers have real-looking names
    assert not Conversation.objects.filter(customer__name__startswith="Cliente demo").exists()
