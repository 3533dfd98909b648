"""Issue 15: live jobs never touch imported history. The pool return used to take the agent off every imported
"activa" conversation without a first response a few seconds after start (their agent is an import-created profile
that is offline and cannot sign in), so "Rendimiento por agente" and "Ingresos por agente" dropped them while the
total revenue kept their sales."""

from __future__ import annotations

from datetime import date

import pytest
import time_machine
from django.utils.module_loading import import_string

from core.schedule import SCHEDULE
from inbox.models import Conversation
from reports.dashboard import DashboardFilters, dashboard
from reports.importer import do_import_history, parse_history
from reports.tests.csvdata import conv, sale, write_conversations, write_sales

pytestmark = pytest.mark.django_db

WINDOW = DashboardFilters(start=date(2026, 11, 1), end=date(2026, 11, 30))


def test_every_periodic_job_leaves_imported_history_and_its_dashboard_unchanged(tmp_path):
    # given a history with active conversations that an agent holds without a first response (one with a sale),
    # a resolved one with a sale, and an active one without an agent
    with time_machine.travel("2026-12-01T15:00:00Z", tick=False):
        parsed = parse_history(
            write_conversations(tmp_path, [
                conv("C1", "K1", "2026-11-10T09:00:00", agent="ana"),
                conv("C2", "K2", "2026-11-11T10:00:00", agent="beto"),
                conv("C3", "K1", "2026-11-12T11:00:00", state="resuelta", agent="beto",
                     closed_at="2026-11-12T12:30:00", first_response_seconds="60", resolution_seconds="5400",
                     outcome="Generó venta", customer_state="Cliente con venta"),
                conv("C4", "K3", "2026-11-13T08:00:00"),
            ]),
            write_sales(tmp_path, [sale("S1", "C1", "828800.00"), sale("S2", "C3", "99900.00")]))
        assert parsed.errors == []
        do_import_history(parsed)
        before = dashboard(WINDOW)
        holders = dict(Conversation.objects.values_list("import_ref", "assignee__import_ref"))
    assert {row["agent_name"] for row in before["revenue_by_agent"]} == {"Ana Agente", "Beto Agente"}

    # when every periodic job runs, an hour and then two days later (the pool return's threshold long past)
    for moment in ("2026-12-01T16:00:00Z", "2026-12-03T16:00:00Z"):
        with time_machine.travel(moment, tick=False):
            for job in SCHEDULE:
                import_string(job.task).call()

    # then the imported conversations keep their agents and the dashboard is exactly what it was
    with time_machine.travel("2026-12-03T16:00:00Z", tick=False):
        assert dict(Conversation.objects.values_list("import_ref", "assignee__import_ref")) == holders
        after = dashboard(WINDOW)
    assert after == before
