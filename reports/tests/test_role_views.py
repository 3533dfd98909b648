"""Each role's dashboard (seed 002: each profile sees what is relevant to it) and the administrator's assignment
health: figures computed by hand on a small live scene."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.roles import Role
from accounts.tests.factories import TeamFactory, UserFactory
from inbox import actions
from inbox.models import Inbox
from reports.assignment_health import assignment_health
from reports.dashboard_ui import ROLE_VIEWS
from reports.tests.csvdata import BOGOTA

pytestmark = pytest.mark.django_db
URL = "/reportes/"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=BOGOTA)


def sections(html: str) -> list[str]:
    return re.findall(r'<section class="panel chart-panel" aria-labelledby="h-\w+" data-chart="(\w+)"', html)


def kpi_cards(html: str) -> list[str]:
    return re.findall(r'<div class="panel kpi-card" data-kpi="(\w+)"', html)


@pytest.mark.parametrize(("role", "first_charts", "first_kpis", "granularity"), [
    (Role.GERENTE, ["daily_activity", "sales_by_channel", "revenue_by_agent"], ["revenue", "sales", "conversion_rate"],
     "week"),
    (Role.SUPERVISOR, ["agent_volume", "agent_response_times", "sla_compliance"],
     ["avg_first_response_seconds", "avg_reply_seconds"], "day"),
    (Role.DIRECTOR_VENTAS, ["revenue_by_agent", "sales_conversations", "sales_by_channel"],
     ["revenue", "sales", "conversion_rate"], "week"),
    (Role.ANALISTA, ["agent_volume", "agent_response_times"], ["avg_first_response_seconds"], "week"),
    (Role.ADMIN, ["daily_activity", "agent_volume", "agent_response_times"], ["avg_first_response_seconds"], "week"),
])
def test_each_role_gets_its_own_arrangement(role, first_charts, first_kpis, granularity, make_user, client_for):
    # given a user of the role / when they open the dashboard without filters
    with time_machine.travel(NOW, tick=False):
        html = client_for(make_user(role)).get(URL).content.decode()
    # then the charts come in the role's order, its KPI cards first, its default grouping and its intro sentence
    assert sections(html)[:len(first_charts)] == first_charts
    assert kpi_cards(html)[:len(first_kpis)] == first_kpis
    assert f'<option value="{granularity}" selected>' in html
    assert str(ROLE_VIEWS[role].intro) in html
    # and only the administrator gets the assignment health, only the analyst the export options unfolded
    assert ('data-testid="assignment-health"' in html) is (role == Role.ADMIN)
    assert ('data-testid="export-options" open' in html) is (role == Role.ANALISTA)


def test_the_supervisor_page_shows_service_kpis_and_the_director_gets_the_sales_ones(make_user, client_for):
    supervisor = client_for(make_user(Role.SUPERVISOR))
    with time_machine.travel(NOW, tick=False):
        html = supervisor.get(URL).content.decode()
        director = client_for(make_user(Role.DIRECTOR_VENTAS)).get("/api/v1/reports/dashboard").json()["kpis"]
    assert not {"revenue", "sales", "conversion_rate"} & set(kpi_cards(html))
    assert (director["revenue"], director["sales"], director["conversion_rate"]) == ("0.00", 0, None)


@pytest.fixture
def scene(settings):
    """Ventas (auto-assign) with two agents: Ana (capacity 2) and Beto (capacity 4); Carla works no inbox.
    09:00 a conversation arrives in Ventas and goes to an agent at once; 09:10 one arrives in Global and waits;
    09:20 a supervisor assigns it to Beto (10 min after it started); 09:30 Ana goes offline and her unanswered
    conversation returns to the pool and goes to Beto; 09:40 a second Global conversation waits."""
    settings.INBOX_FIRST_ANSWER_MINUTES = 15
    team = TeamFactory(code="ventas", name="Ventas")
    ventas, _ = Inbox.objects.get_or_create(code="ventas", defaults={"name": "Ventas", "auto_assign": True})
    ventas.teams.set([team])
    ana = UserFactory(role=Role.AGENTE, full_name="Ana Agente", availability="disponible", capacity=2)
    beto = UserFactory(role=Role.AGENTE, full_name="Beto Agente", availability="ocupado", capacity=4)
    ana.teams.add(team)
    beto.teams.add(team)
    UserFactory(role=Role.AGENTE, full_name="Carla Sin Equipo", availability="disponible")
    supervisor = UserFactory(role=Role.SUPERVISOR, full_name="Sara Supervisora")
    supervisor.teams.add(team)

    def inbound(phone: str, **kwargs):
        return actions.do_receive_inbound(channel="whatsapp", body="Hola", customer_name=f"Cliente {phone}",
                                          phones=[phone], **kwargs)[0]

    with time_machine.travel(NOW.replace(hour=9), tick=False):
        first = inbound("3001110001", inbox_code="ventas")  # → Ana (Beto is busy)
    with time_machine.travel(NOW.replace(hour=9, minute=10), tick=False):
        second = inbound("3001110002")
    with time_machine.travel(NOW.replace(hour=9, minute=20), tick=False):
        actions.check_assign(supervisor, second.pk, assignee=beto.pk)
    with time_machine.travel(NOW.replace(hour=9, minute=30), tick=False):
        beto.availability = "disponible"
        beto.save(update_fields=["availability"])
        ana.availability = "desconectado"
        ana.save(update_fields=["availability"])
        assert actions.do_return_stale_to_pool() == 1
    with time_machine.travel(NOW.replace(hour=9, minute=40), tick=False):
        inbound("3001110003")
    return {"first": first, "ana": ana, "beto": beto}


def test_assignment_health_counts_what_happened(scene):
    # when the administrator looks at 10:00
    health = assignment_health(start=NOW.date() - timedelta(days=29), end=NOW.date(), now=NOW)
    # then one conversation waits without an owner, for 20 minutes (since its customer's unanswered message)
    assert health.unassigned_open == 1 and health.oldest_unassigned_seconds == 20 * 60
    # three started; two got an owner (at once and after 10 min), one never did
    assert health.started == 3 and health.never_owned == 1
    assert (health.time_to_owner_mean_seconds, health.time_to_owner_median_seconds) == (300, 300)
    # Ana's conversation returned to the pool once
    assert health.returns_to_pool == 1
    assert [(r.name, r.returns) for r in health.returns_by_agent] == [("Ana Agente", 1)]
    # Carla belongs to no team of an inbox
    assert health.agents_without_inbox == ["Carla Sin Equipo"]
    # Beto holds both conversations (2 of 4); Ana and the supervisor are offline with none; Carla cannot be reached
    # by assignment: only Beto is in service
    loads = {a.name: (a.open, a.capacity) for a in health.capacity}
    assert loads["Beto Agente"] == (2, 4) and loads["Ana Agente"] == (0, 2) and "Carla Sin Equipo" not in loads
    assert health.capacity_use == 2 / 4


def test_imported_history_never_counts_as_unassigned_work(scene, tmp_path):
    # given imported history with an unassigned open conversation
    from reports.tests.csvdata import conv, import_rows
    import_rows(tmp_path, [conv("H1", "HK1", "2026-11-20T09:00:00")], [])
    # then the live figures are unchanged
    health = assignment_health(start=NOW.date() - timedelta(days=29), end=NOW.date(), now=NOW)
    assert health.unassigned_open == 1 and health.started == 3


def test_the_administrator_reads_it_on_the_dashboard_and_in_the_api(scene, make_user, client_for, api_client_for):
    admin = make_user(Role.ADMIN)
    with time_machine.travel(NOW, tick=False):
        html = client_for(admin).get(URL).content.decode()
        body = api_client_for(admin).get("/api/v1/reports/assignment-health").json()
        refused = api_client_for(make_user(Role.SUPERVISOR)).get("/api/v1/reports/assignment-health")
    assert "Salud de la asignación" in html and "Carla Sin Equipo" in html and "la más antigua espera 20 min" in html
    assert body["unassigned_open"] == 1 and body["agents_without_inbox"] == ["Carla Sin Equipo"]
    assert body["returns_by_agent"][0]["name"] == "Ana Agente"
    assert refused.status_code == 403
    assert timezone.now() > NOW  # (the clock was frozen only inside the block)


def test_a_supervisor_sees_sales_counts_and_conversion_but_no_money_anywhere(make_user, client_for, tmp_path):
    # given history with a sale in the window
    from reports.tests.csvdata import conv, import_rows, sale
    import_rows(tmp_path, [conv("E1", "K1", "2026-11-20T09:00:00", agent="ana", state="resuelta",
                                closed_at="2026-11-20T10:00:00", outcome="genero_venta")],
                [sale("S1", "E1", "150")])
    supervisor = client_for(make_user(Role.SUPERVISOR))
    with time_machine.travel(NOW, tick=False):
        kpis = supervisor.get("/api/v1/reports/dashboard").json()["kpis"]
        csv_head = supervisor.get("/api/v1/reports/dashboard", {"format": "csv", "chart": "kpis",
                                                                "headers": "name"}).content.decode("utf-8-sig")
        drill = supervisor.get("/api/v1/reports/dashboard/conversations",
                               {"chart": "daily_activity", "series": "started", "bucket": "2026-11-17",
                                "granularity": "week"}).json()
    # then counts and the conversion rate (the sales-conversations chart shows it), never revenue
    assert kpis["sales"] == 1 and kpis["conversion_rate"] == 1.0 and "revenue" not in kpis
    assert "revenue" not in csv_head.splitlines()[0] and "conversion_rate" in csv_head.splitlines()[0]
    assert drill["results"][0]["sales"] == 1 and drill["results"][0]["revenue"] is None
