"""The bot report (issue 18): per flow, runs started in the window and how they ended; rates over ended runs only.
Hand-computed on a small data set."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from bots.choices import RunState
from bots.models import BotRun
from bots.tests.helpers import published, write
from reports.bots import bot_report

pytestmark = pytest.mark.django_db
BOGOTA = ZoneInfo("America/Bogota")


def run_in(flow, state: str, started: datetime, phone: str) -> None:
    c = write("hola", phone=phone)
    BotRun.objects.create(flow=flow, version=flow.published, conversation=c, state=state, started_at=started,
                          last_activity_at=started)


def test_counts_and_rates_per_flow_over_ended_runs(client, supervisor):
    # Given two flows and runs on both sides of the window (Bogotá time)
    a, b = published(name="Alfa"), published(name="Beta")
    inside = datetime(2026, 11, 10, 9, tzinfo=BOGOTA)
    for i, state in enumerate([RunState.COMPLETED, RunState.COMPLETED, RunState.HANDED_OVER, RunState.EXPIRED,
                               RunState.ACTIVE]):
        run_in(a, state, inside, f"30055520{i:02d}")
    run_in(a, RunState.COMPLETED, datetime(2026, 10, 31, 23, 59, tzinfo=BOGOTA), "3005552090")  # the day before
    run_in(b, RunState.STOPPED, datetime(2026, 11, 30, 23, 59, tzinfo=BOGOTA), "3005552091")  # the last minute
    # When the report reads November
    rows = {r.name: r for r in bot_report(date(2026, 11, 1), date(2026, 11, 30))}
    # Then Alfa: 5 started, 1 open, 4 ended: 2 completed (50 %), 1 handed over (25 %), 1 expired
    alfa = rows["Alfa"]
    assert (alfa.started, alfa.open, alfa.completed, alfa.handed_over, alfa.expired, alfa.stopped) == (5, 1, 2, 1, 1, 0)
    assert (alfa.completion_rate, alfa.handoff_rate) == (0.5, 0.25)
    # And Beta: one stopped run, 0 % and 0 %
    beta = rows["Beta"]
    assert (beta.started, beta.stopped, beta.completion_rate, beta.handoff_rate) == (1, 1, 0.0, 0.0)
    # And the page and its CSV say the same
    client.force_login(supervisor)
    page = client.get("/reportes/bot/?start=2026-11-01&end=2026-11-30")
    assert page.status_code == 200 and "Alfa" in page.content.decode()
    csv = client.get("/reportes/bot/?start=2026-11-01&end=2026-11-30&format=csv").content.decode("utf-8-sig")
    assert "Alfa" in csv and "Beta" in csv


def test_an_agent_may_not_read_the_bot_report(client, agent):
    client.force_login(agent)
    assert client.get("/reportes/bot/").status_code == 403
