"""Issue 16: the dashboard's service-level charts — SLA compliance per channel (first responses in time ÷ decided)
and breaches per agent — read the counts automation.sla keeps when each target is decided, fresh on every read."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from accounts.roles import Role
from automation import sla
from automation.models import SlaPolicy
from inbox import actions as inbox
from inbox.models import Conversation
from reports.dashboard import DashboardFilters, dashboard

pytestmark = pytest.mark.django_db
BOGOTA = ZoneInfo("America/Bogota")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=BOGOTA)


def conversation(phone: str, channel: str, agent) -> Conversation:
    c, _m, _n = inbox.do_receive_inbound(channel=channel, body="Hola", customer_name=f"Cliente {phone}",
                                         phones=[phone])
    Conversation.objects.filter(pk=c.pk).update(assignee=agent)
    return c


def test_compliance_per_channel_and_breaches_per_agent(make_user, client_for):
    # given WhatsApp (5 min) and web chat (1 min) targets, and two agents on Tuesday
    for channel, seconds in (("whatsapp", 300), ("webchat", 60)):
        SlaPolicy.objects.update_or_create(channel=channel, inbox=None, defaults={
            "first_response_seconds": seconds, "escalate_after_seconds": None})
    ana, beto = make_user(Role.AGENTE, full_name="Ana Ríos"), make_user(Role.AGENTE, full_name="Beto Paz")
    with time_machine.travel(at(2026, 12, 1, 10, 0), tick=False):
        fast = conversation("3001000001", "whatsapp", ana)
        slow = conversation("3001000002", "whatsapp", beto)
        conversation("3001000003", "webchat", beto)
    # when Ana answers in 2 minutes, Beto's WhatsApp answer comes after the sweep saw it late, his chat never
    with time_machine.travel(at(2026, 12, 1, 10, 2), tick=False):
        inbox.check_send_reply(ana, fast.pk, body="Hola, ¿en qué le ayudo?")
        sla.do_detect_breaches()  # the web chat (due 10:01) is breached now
    with time_machine.travel(at(2026, 12, 1, 10, 6), tick=False):
        sla.do_detect_breaches()  # Beto's WhatsApp (due 10:05)
        inbox.check_send_reply(beto, slow.pk, body="Perdón la demora.")
    # then compliance per channel and breaches per agent say so
    with time_machine.travel(at(2026, 12, 1, 12, 0), tick=False):
        f = DashboardFilters(start=date(2026, 12, 1), end=date(2026, 12, 1), granularity="day")
        board = dashboard(f, charts=["sla_compliance", "sla_breaches"])
        assert board["sla_compliance"] == [
            {"bucket": "2026-12-01", "channel": "webchat", "met": 0, "breached": 1, "compliance_rate": 0.0},
            {"bucket": "2026-12-01", "channel": "whatsapp", "met": 1, "breached": 1, "compliance_rate": 0.5}]
        assert [(r["agent_name"], r["first_response"], r["total"]) for r in board["sla_breaches"]] == [
            ("Beto Paz", 2, 2)]
        # and a filter on the channel narrows it; an agent's own view shows only their rows
        only_chat = dashboard(DashboardFilters(start=f.start, end=f.end, granularity="day", channel="webchat"),
                              charts=["sla_compliance"])
        assert [r["channel"] for r in only_chat["sla_compliance"]] == ["webchat"]
        supervisor = client_for(make_user(Role.SUPERVISOR))
        api = supervisor.get("/api/v1/reports/dashboard?start=2026-12-01&end=2026-12-01&granularity=day").json()
        assert api["sla_compliance"][1]["compliance_rate"] == 0.5 and api["sla_breaches"][0]["total"] == 2
