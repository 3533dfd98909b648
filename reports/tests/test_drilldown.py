"""GET /api/v1/reports/dashboard/conversations: the conversations behind a chart's point are exactly what the point
counts (checked for every point of every chart, unfiltered, filtered and for an agent), paginated, scoped.

Today is frozen at Wednesday 2026-11-25 10:00 in America/Bogota, as in test_dashboard_definitions.py.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from accounts.models import User
from accounts.roles import Role
from reports.tests.csvdata import BOGOTA, conv, dashboard, import_rows, sale

pytestmark = pytest.mark.django_db

DRILL_URL = "/api/v1/reports/dashboard/conversations"
WINDOW = {"start": "2026-10-20", "end": "2026-11-22"}


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(datetime(2026, 11, 25, 10, 0, tzinfo=BOGOTA), tick=False)


@pytest.fixture
def analyst(make_user):
    return make_user(Role.ANALISTA)


def mixed_history(tmp_path) -> None:
    """Two agents and an unassigned conversation over two months and three channels: sales, states, outcomes,
    open and closed, answered and unanswered, returning customers, one conversation before the window."""
    import_rows(tmp_path, [
        conv("C1", "K1", "2026-09-10T10:00:00", agent="ana", customer_state="interesado"),  # before the window
        conv("C2", "K1", "2026-10-21T10:00:00", agent="ana", state="resuelta", closed_at="2026-10-21T12:00:00",
             outcome="genero_venta", customer_state="convertido", first_response_seconds="120",
             resolution_seconds="7200"),
        conv("C3", "K2", "2026-10-22T09:00:00", agent="beto", channel="Email", state="resuelta",
             closed_at="2026-10-25T09:00:00", outcome="resuelta", customer_state="en_seguimiento",
             first_response_seconds="4000", resolution_seconds="259200"),
        conv("C4", "K3", "2026-10-30T15:00:00", agent="ana", state="escalada", closed_at="2026-10-31T10:00:00",
             outcome="escalada", customer_state="no_interesado"),
        conv("C5", "K2", "2026-11-03T11:00:00", agent="beto", channel="Email", state="resuelta",
             closed_at="2026-11-10T11:00:00", outcome="genero_venta", customer_state="convertido",
             first_response_seconds="60", resolution_seconds="604800"),
        conv("C6", "K4", "2026-11-04T08:00:00", agent="ana", first_response_seconds="300",
             customer_state="interesado"),
        conv("C7", "K5", "2026-11-10T16:00:00", channel="Web", state="resuelta", closed_at="2026-11-10T17:00:00",
             outcome="resuelta", first_response_seconds="30", resolution_seconds="3600"),
        conv("C8", "K1", "2026-11-12T10:00:00", agent="ana", state="resuelta", closed_at="2026-11-13T10:00:00",
             outcome="cerrada_sin_solucion", customer_state="no_interesado"),
        conv("C9", "K6", "2026-11-17T10:00:00", agent="beto"),
        conv("C10", "K3", "2026-11-18T10:00:00", agent="ana", state="resuelta", closed_at="2026-11-19T10:00:00",
             outcome="genero_venta", first_response_seconds="900", resolution_seconds="86400"),
        conv("C11", "K7", "2026-11-21T10:00:00", agent="beto", channel="Web", customer_state="en_seguimiento"),
    ], [
        sale("S1", "C2", "100000"), sale("S2", "C2", "25000.50"), sale("S3", "C5", "70000"),
        sale("S4", "C6", "5000"), sale("S5", "C7", "1000"), sale("S6", "C10", "300000"), sale("S7", "C1", "9"),
    ])


def drill(client, **params: Any) -> dict[str, Any]:
    response = client.get(DRILL_URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def every_point(body: dict[str, Any]) -> list[tuple[dict[str, Any], Any, str]]:
    """(drill parameters, the number on the chart, what to compare) for every point of every chart."""
    points: list[tuple[dict[str, Any], Any, str]] = []
    for row in body["agent_volume"]:
        points += [({"chart": "agent_volume", "agent_id": row["agent_id"], "series": s}, row[k], "count")
                   for s, k in (("conversations", "conversations"), ("successful", "successful"))]
    for row in body["revenue_by_agent"]:
        points.append(({"chart": "revenue_by_agent", "agent_id": row["agent_id"]}, Decimal(row["revenue"]),
                       "revenue"))
    for s in ("closed", "with_sale", "without_sale"):
        points.append(({"chart": "sales_conversations", "series": s}, body["sales_conversations"][s], "count"))
    for row in body["customer_states"]:
        points += [({"chart": "customer_states", "bucket": row["bucket"], "series": s}, row[s], "count")
                   for s in ("interesado", "en_seguimiento", "convertido", "no_interesado")]
    for row in body["retention"]:
        points += [({"chart": "retention", "bucket": row["month"] + "-01", "series": s}, row[s], "count")
                   for s in ("active", "new", "returning")]
    for row in body["daily_activity"]:
        points += [({"chart": "daily_activity", "bucket": row["bucket"], "series": s}, row[s], "count")
                   for s in ("started", "resolved")]
    for row in body["sales_by_channel"]:
        points.append(({"chart": "sales_by_channel", "bucket": row["bucket"], "channel": row["channel"]},
                       row["sales"], "sales"))
    for s in ("unanswered_open", "closed_without_response"):
        points.append(({"chart": "kpis", "series": s}, body["kpis"][s], "count"))
    return points


def assert_points_match(client, body: dict[str, Any], filters: dict[str, str]) -> int:
    checked = 0
    for params, expected, measure in every_point(body):
        page = drill(client, **{**filters, "granularity": body["granularity"], **params})
        assert page["pages"] == 1  # the data set is small: every row is on the first page
        if measure == "count":
            got: Any = page["count"]
        elif measure == "sales":
            got = sum(r["sales"] for r in page["results"])
        else:
            got = sum(Decimal(r["revenue"]) for r in page["results"])
        assert got == expected, (params, filters, got, expected)
        assert len(page["results"]) == page["count"]
        checked += 1
    return checked


@pytest.mark.parametrize("granularity", ["week", "day", "month"])
def test_every_point_of_every_chart_lists_exactly_what_it_counts(tmp_path, analyst, api_client_for, granularity):
    # given a mixed history and the analyst's (unfiltered: rollups) dashboard
    mixed_history(tmp_path)
    api = api_client_for(analyst)
    body = dashboard(api, WINDOW["start"], WINDOW["end"], granularity)
    assert body["daily_activity"] and body["agent_volume"] and body["sales_by_channel"]
    # when each point is drilled into / then the rows behind it are the number on the chart
    assert assert_points_match(api, body, WINDOW) > 20


def test_filtered_views_drill_into_the_filtered_facts(tmp_path, analyst, api_client_for):
    # given the dashboard filtered by channel (facts path) and the rows of that channel only
    mixed_history(tmp_path)
    api = api_client_for(analyst)
    filters = {**WINDOW, "channel": "email"}
    body = api.get("/api/v1/reports/dashboard", {**filters, "granularity": "week"}).json()
    assert [r["agent_name"] for r in body["agent_volume"]] == ["Beto Agente"]
    # when / then every point still matches, and every row is an email conversation
    assert assert_points_match(api, body, filters) > 10
    rows = drill(api, **filters, chart="daily_activity", bucket="2026-11-02", series="started")["results"]
    assert [r["channel"] for r in rows] == ["email"]


def test_an_agent_drills_only_into_her_own_conversations(tmp_path, analyst, api_client_for):
    # given Ana's imported profile turned into a login, and Beto's id
    mixed_history(tmp_path)
    rows = dashboard(api_client_for(analyst), WINDOW["start"], WINDOW["end"])["agent_volume"]
    ids = {r["agent_name"]: r["agent_id"] for r in rows}
    User.objects.filter(pk=ids["Ana Agente"]).update(role=Role.AGENTE, can_login=True)
    ana = api_client_for(User.objects.get(pk=ids["Ana Agente"]))
    # when she drills into her dashboard's points / then they match her numbers
    body = dashboard(ana, WINDOW["start"], WINDOW["end"])
    assert assert_points_match(ana, body, WINDOW) > 10
    # and asking for Beto's bar, or another agent through the filter, gives none of his conversations
    assert drill(ana, **WINDOW, chart="agent_volume", agent_id=ids["Beto Agente"])["count"] == 0
    week = drill(ana, **WINDOW, agent=ids["Beto Agente"], chart="daily_activity", bucket="2026-11-16")
    assert {r["agent_name"] for r in week["results"]} == {"Ana Agente"}


def test_rows_carry_what_the_panel_shows(tmp_path, analyst, api_client_for):
    # given the history
    mixed_history(tmp_path)
    api = api_client_for(analyst)
    # when the analyst opens the "with sale" slice
    page = drill(api, **WINDOW, chart="sales_conversations", series="with_sale")
    # then the rows are the closed conversations with a sale, most recent first, with names and labels
    assert page["count"] == 4
    first = page["results"][0]
    assert first["customer_name"] == "Cliente K3"
    assert first["agent_name"] == "Ana Agente"
    assert (first["channel"], first["state"], first["state_label"]) == ("whatsapp", "resuelta", "Resuelta")
    assert (first["outcome"], first["outcome_label"]) == ("genero_venta", "Generó venta")
    assert first["started_at"].startswith("2026-11-18T15:00:00")  # 10:00 in Bogotá
    assert first["closed_at"].startswith("2026-11-19T15:00:00")
    assert (first["sales"], first["revenue"]) == (1, "300000.00")
    assert [r["customer_name"] for r in page["results"]] == ["Cliente K3", "Cliente K5", "Cliente K2", "Cliente K1"]
    unassigned = page["results"][1]
    assert (unassigned["agent_id"], unassigned["agent_name"]) == (None, "")


def test_pages_of_fifty(tmp_path, analyst, api_client_for):
    # given 120 conversations started on one day
    import_rows(tmp_path, [conv(f"P{i}", f"K{i}", f"2026-11-10T{8 + i // 60:02d}:{i % 60:02d}:00")
                           for i in range(120)])
    api = api_client_for(analyst)
    params = {**WINDOW, "chart": "daily_activity", "bucket": "2026-11-09", "series": "started"}
    # when the three pages are read
    first = drill(api, **params)
    third = drill(api, **params, page=3)
    # then 50 + 50 + 20, with links between them and no row twice
    assert (first["count"], first["pages"], first["page_size"], len(first["results"])) == (120, 3, 50, 50)
    assert first["previous"] is None and "page=2" in first["next"]
    assert len(third["results"]) == 20 and third["next"] is None and "page=2" in third["previous"]
    second = drill(api, **params, page=2)
    ids = [r["conversation_id"] for p in (first, second, third) for r in p["results"]]
    assert len(set(ids)) == 120


@pytest.mark.parametrize(("params", "code"), [
    ({"chart": "nope"}, "invalid_request"),  # not a chart at all: the schema lists them
    ({"chart": "daily_activity", "series": "started"}, "missing_bucket"),
    ({"chart": "daily_activity", "bucket": "2026-11-09", "series": "sold"}, "invalid_series"),
    ({"chart": "daily_activity", "bucket": "2027-01-04"}, "invalid_bucket"),
    ({"chart": "agent_volume"}, "missing_agent"),
])
def test_bad_points_are_refused(analyst, api_client_for, params, code):
    response = api_client_for(analyst).get(DRILL_URL, {**WINDOW, **params})
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_a_chart_the_role_may_not_see_cannot_be_drilled(make_user, api_client_for):
    # given a supervisor (no revenue chart) / when she asks for it / then it is refused like an unknown chart
    response = api_client_for(make_user(Role.SUPERVISOR)).get(DRILL_URL, {**WINDOW, "chart": "revenue_by_agent",
                                                                            "agent_id": 1})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_chart"
