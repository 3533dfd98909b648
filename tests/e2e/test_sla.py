"""Browser test (issue 16, service levels): a supervisor sees a conversation's overdue badge in the list sorted by
"SLA due", gets the live alert when the breach is recorded (here by the agent's late answer, in the server), and
changes a policy on its page."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from accounts.actions import do_create_api_token
from accounts.roles import Role
from accounts.tests.factories import UserFactory
from automation.models import SlaPolicy, SlaTimer
from inbox.actions import do_receive_inbound
from inbox.models import Conversation
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]


def test_overdue_badge_live_alert_and_policy_page(asgi_live_server: str, browser: Browser):
    # given the policies (the API channel timed too: its answers need no outside service), an agent and a
    # supervisor, and a customer who wrote 7 minutes ago
    SlaPolicy.objects.update_or_create(channel="whatsapp", inbox=None, defaults={"first_response_seconds": 300})
    SlaPolicy.objects.update_or_create(channel="api", inbox=None, defaults={"first_response_seconds": 300})
    agent = UserFactory(username="valeria", role=Role.AGENTE, full_name="Valeria Agente", availability="disponible")
    UserFactory(username="sofia", role=Role.SUPERVISOR, full_name="Sofía Supervisora")
    c, _m, _new = do_receive_inbound(channel="api", body="¿Tienen el producto en azul?",
                                     customer_name="Ramiro Núñez", phones=["+573105550000"])
    Conversation.objects.filter(pk=c.pk).update(assignee=agent)
    # (the clock as it would stand 7 minutes after the message: its due time 2 minutes ago)
    due = timezone.now() - timedelta(minutes=2)
    timer = SlaTimer.objects.get(pk=c.pk)
    timer.targets["first_response"].update(due=due.isoformat(), warn=(due - timedelta(minutes=1)).isoformat())
    timer.check_at = due + timedelta(days=1)  # the sweep does not run here: the late answer records the breach
    timer.save()
    Conversation.objects.filter(pk=c.pk).update(sla_due_at=due, sla_warn_at=due - timedelta(minutes=1))

    # when the supervisor opens the list sorted by "SLA due"
    page = login(browser, asgi_live_server, "sofia")
    page.goto(f"{asgi_live_server}/inbox/?state=open&sort=sla")
    expect(page.locator("#realtime-state")).to_have_attribute("data-state", "connected", timeout=10_000)
    # then the row's badge is red and says how late it is
    badge = page.locator(f"#row-{c.pk} .sla")
    expect(badge).to_have_class("badge sla sla-late")
    expect(badge).to_have_text("SLA vencido hace 2 min")

    # when the agent answers late (through the API, in the server)
    _token, raw = do_create_api_token(agent, name="e2e", acting_user=None)
    api = httpx.Client(base_url=asgi_live_server, headers={"Authorization": f"Bearer {raw}"}, timeout=10)
    assert api.post(f"/api/v1/conversations/{c.pk}/messages",
                    json={"body": "Sí, lo tenemos en azul."}).status_code == 201
    # then the supervisor's page shows the alert, in words, with a link to the conversation
    notice = page.locator("[data-live-notices] a").last
    expect(notice).to_contain_text("SLA vencido — Primera respuesta de Ramiro Núñez", timeout=10_000)
    expect(notice).to_have_attribute("href", f"/inbox/{c.pk}/")
    # and the row's badge goes without a reload: answered, nothing is due any more
    expect(page.locator(f"#row-{c.pk} .sla")).to_have_count(0)

    # when she sets WhatsApp's first response to 4 minutes on the policies page
    page.goto(f"{asgi_live_server}/automatizacion/niveles-de-servicio/")
    row = page.locator("#sla-table tbody tr", has_text="WhatsApp").first
    row.get_by_label("Primera respuesta, en minutos").fill("4")
    page.click("#sla-save")
    # then it is saved, and shown as she wrote it
    expect(page.locator(".msg-success, .msg").first).to_contain_text("Niveles de servicio guardados.")
    expect(page.locator("#sla-table tbody tr", has_text="WhatsApp").first.get_by_label(
        "Primera respuesta, en minutos")).to_have_value("4")
    assert SlaPolicy.objects.get(channel="whatsapp", inbox=None).first_response_seconds == 240
