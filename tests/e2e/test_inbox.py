"""Browser test (issue 5): an inbound message arrives, is auto-assigned, answered, and closing is first refused
then accepted."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, expect

from accounts.actions import do_create_api_token
from accounts.roles import Role
from accounts.tests.factories import TeamFactory, UserFactory
from inbox.models import Conversation, Inbox
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]


def test_inbound_auto_assigned_answered_and_closed_with_a_reason(asgi_live_server: str, browser: Browser):
    team = TeamFactory(code="ventas-e2e", name="Ventas E2E")
    # (transactional tests empty the tables, including the inboxes the data migration seeds)
    inbox, _created = Inbox.objects.get_or_create(code="ventas", defaults={"name": "Ventas", "auto_assign": True})
    inbox.teams.set([team])
    agent = UserFactory(username="valeria", role=Role.AGENTE, full_name="Valeria Agente", availability="disponible")
    agent.teams.add(team)
    page = login(browser, asgi_live_server, "valeria")
    page.goto(f"{asgi_live_server}/inbox/")
    expect(page.locator("#realtime-state")).to_have_attribute("data-state", "connected", timeout=10_000)

    # when a customer writes to the Ventas inbox (through the API channel, as an integration would)
    integration = UserFactory(username="integracion", role=Role.SUPERVISOR)
    _token, raw = do_create_api_token(integration, name="e2e", acting_user=None)
    response = httpx.post(f"{asgi_live_server}/api/v1/conversations", headers={"Authorization": f"Bearer {raw}"},
                          json={"customer": {"name": "Ramiro Núñez", "phone": "+573105550000"},
                                "message": "Hola, ¿el plan incluye instalación?", "inbox": "ventas",
                                "channel": "whatsapp"}, timeout=10)
    assert response.status_code == 201, response.text
    conversation = Conversation.objects.get(pk=response.json()["id"])

    # then it appears in the agent's open inbox, already assigned to her
    row = page.locator(f"li[data-conversation-id='{conversation.pk}']")
    expect(row).to_contain_text("Valeria Agente", timeout=10_000)  # the owner's name, as the page renders it
    page.click(f"li[data-conversation-id='{conversation.pk}'] a.ws-row-link")
    expect(page.get_by_test_id("assignee")).to_have_text("Valeria Agente")

    # before answering, "answered" is not offered as a reason, and the dialog says why
    page.evaluate("window.__stillTheSamePage = 'sí'")
    page.click("#open-close")
    dialog = page.locator("#close-dialog")
    expect(dialog).to_be_visible()
    assert dialog.locator("input[name=reason][value=answered]").count() == 0
    expect(dialog.locator(".reasons-off")).to_contain_text("Aún no hay una respuesta al cliente")
    assert dialog.locator("input[name=reason]:checked").count() == 0  # nothing preselected
    dialog.locator("[data-close-dialog]").click()

    # she answers; the reply shows as a reply (not a note), the conversation waits for the customer
    page.fill("#reply-body", "¡Hola Ramiro! Sí, la instalación está incluida.")
    page.click("#send-reply")
    expect(page.locator("#timeline .msg-outbound")).to_contain_text("la instalación está incluida")
    expect(page.get_by_test_id("conversation-state")).to_have_text("En espera")
    expect(page.locator("#reply-body")).to_have_value("")  # the composer is ready for the next message

    # now "answered" is offered and closing with it is accepted, all without reloading the page
    page.click("#open-close")
    page.check("#close-dialog input[name=reason][value=answered]")
    page.click("#close-conversation")
    expect(page.get_by_test_id("conversation-state")).to_have_text("Resuelta")
    expect(page.locator("#close-dialog")).to_be_hidden()
    assert page.evaluate("window.__stillTheSamePage") == "sí"
    conversation.refresh_from_db()
    assert conversation.state == "resuelta" and conversation.close_reason == "answered"
