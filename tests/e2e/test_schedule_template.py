"""Browser test (issue 16): after WhatsApp's 24-hour window has closed, an agent schedules an approved template
from "Enviar más tarde" — the box offers the templates with the customer's values, says why free text cannot go,
and the side panel lists the scheduled template."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Browser, expect

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from automation.models import ScheduledMessage
from connectors.whatsapp.message_templates import unsupported_reason, variables
from connectors.whatsapp.models import MessageTemplate
from connectors.whatsapp.tests.helpers import WA_ID, clear_tasks, inbound, post, run_worker
from fakes import whatsapp as fw
from inbox.models import Conversation, Message
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]


def test_an_agent_schedules_a_template_after_the_window(asgi_live_server: str, browser: Browser, whatsapp_number):
    # given a WhatsApp customer who wrote 26 hours ago (the window is closed), assigned to an agent
    agent = UserFactory(username="tomas", role=Role.AGENTE, full_name="Tomás Agente", availability="disponible")
    clear_tasks()
    wrote = timezone.now() - timedelta(hours=26)
    post(Client(), whatsapp_number, inbound(whatsapp_number, fw.text_message(
        WA_ID, "¿Me avisan cuando llegue el pedido?", timestamp=int(wrote.timestamp()), wamid="wamid.e2e-tpl")))
    run_worker()
    c = Message.objects.get(external_id="wamid.e2e-tpl").conversation
    Conversation.objects.filter(pk=c.pk).update(assignee=agent)
    template = next(t for t in MessageTemplate.objects.filter(status__iexact="APPROVED").order_by("name")
                    if not unsupported_reason(t) and variables(t))

    # when the agent opens "Enviar más tarde"
    page = login(browser, asgi_live_server, "tomas")
    page.goto(f"{asgi_live_server}/inbox/{c.pk}/")
    page.get_by_test_id("schedule-open").click()
    # then the box offers the approved templates and says why free text cannot go
    box = page.locator("[data-schedule-what]")
    expect(box).to_contain_text("La ventana de 24 horas está cerrada")
    # when she picks a template, fills its values and schedules it for tomorrow at 9:00
    box.locator(f'[data-schedule-template="{template.pk}"]').check()
    expect(page.locator(".schedule-hint")).to_be_hidden()  # "the text written above" no longer applies
    for key in variables(template):
        box.locator(f'[data-schedule-var="{template.pk}"][data-key="{key}"]').fill("Ana")
    page.locator("[data-schedule-at]").nth(1).click()
    if os.environ.get("SHOTS"):
        page.screenshot(path=f"{os.environ['SHOTS']}/schedule-template.png")
    # (Enter in a value schedules it, never submits the reply form around the box)
    box.locator(f'[data-schedule-var="{template.pk}"]').last.press("Enter")
    # then the side panel lists it, by the template's name, and nothing was sent yet
    listed = page.get_by_test_id("scheduled-list")
    expect(listed).to_contain_text(template.name)
    scheduled = ScheduledMessage.objects.get(conversation=c)
    assert scheduled.template_name == template.name and scheduled.state == "programado"
    assert scheduled.variables == dict.fromkeys(variables(template), "Ana")
    assert not Message.objects.filter(conversation=c, kind="outbound").exists()
    # and the box is back on the text for the next time
    expect(page.locator('[data-schedule-template=""]')).to_be_checked()
    clear_tasks()
