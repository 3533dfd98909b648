"""Browser test (inbox realtime): an open conversation page shows a customer's new message, an internal note and a
new owner as they happen, without reloading (a marker set in the page survives), and the open inbox list
updates its row."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, expect

from accounts.actions import do_create_api_token
from accounts.roles import Role
from accounts.tests.factories import UserFactory
from inbox.actions import do_receive_inbound
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]


def test_conversation_page_patches_itself_from_events(asgi_live_server: str, browser: Browser):
    UserFactory(username="valeria", role=Role.AGENTE, full_name="Valeria Agente", availability="disponible")
    supervisor = UserFactory(username="integracion", role=Role.SUPERVISOR, full_name="Integración")
    _token, raw = do_create_api_token(supervisor, name="e2e", acting_user=None)
    api = httpx.Client(base_url=asgi_live_server, headers={"Authorization": f"Bearer {raw}"}, timeout=10)
    c, _message, _new = do_receive_inbound(channel="whatsapp", body="Hola, ¿hacen envíos?",
                                           customer_name="Ramiro Núñez", phones=["+573105550000"])

    page = login(browser, asgi_live_server, "valeria")
    page.goto(f"{asgi_live_server}/inbox/{c.pk}/")
    expect(page.locator("#realtime-state")).to_have_attribute("data-state", "connected", timeout=10_000)
    page.evaluate("window.__stillTheSamePage = 'sí'")
    page.fill("#reply-body", "borrador sin enviar")

    # the customer writes again (the API channel, as an integration would)
    response = api.post("/api/v1/conversations", json={
        "customer": {"name": "Ramiro Núñez", "phone": "+573105550000"},
        "message": "¿Y a Medellín? <b>urgente</b>", "channel": "whatsapp"})
    assert response.status_code == 200, response.text
    inbound = page.locator("#timeline li.msg-inbound").last
    expect(inbound).to_contain_text("¿Y a Medellín? <b>urgente</b>", timeout=10_000)  # text, never markup
    expect(inbound).to_contain_text("Ramiro Núñez")
    assert page.locator("#timeline b").count() == 0

    # a supervisor assigns it to her and leaves an internal note
    assert api.post(f"/api/v1/conversations/{c.pk}/assign", json={"assignee": "valeria"}).status_code == 200
    expect(page.get_by_test_id("assignee")).to_have_text("Valeria Agente", timeout=10_000)
    expect(page.get_by_test_id("conversation-state")).to_have_text("Pendiente")
    assert api.post(f"/api/v1/conversations/{c.pk}/messages",
                    json={"kind": "note", "body": "Ojo: cliente mayorista"}).status_code == 201
    note = page.locator("#timeline li.msg-note").last
    expect(note).to_contain_text("Ojo: cliente mayorista", timeout=10_000)
    expect(note).to_contain_text("Integración")  # the author's name, never a username
    expect(page.locator('#timeline li.event[data-item^="event-"]').last).to_contain_text("asignó la conversación")

    # the page never navigated: the marker and the draft are still there
    assert page.evaluate("window.__stillTheSamePage") == "sí"
    assert page.input_value("#reply-body") == "borrador sin enviar"
    # each item once, even though the state and the assignment both arrived as events
    items = page.eval_on_selector_all("#timeline [data-item]", "nodes => nodes.map(n => n.dataset.item)")
    assert len(items) == len(set(items))

    # the open inbox list updates the row in place
    page.goto(f"{asgi_live_server}/inbox/")
    expect(page.locator("#realtime-state")).to_have_attribute("data-state", "connected", timeout=10_000)
    page.evaluate("window.__stillTheSamePage = 'lista'")
    row = page.locator(f"li[data-conversation-id='{c.pk}']")
    expect(row).to_be_visible()
    api.post("/api/v1/conversations", json={"customer": {"name": "Ramiro Núñez", "phone": "+573105550000"},
                                            "message": "¿Siguen ahí?", "channel": "whatsapp"})
    expect(row.locator('[data-f="preview"]')).to_contain_text("¿Siguen ahí?", timeout=10_000)
    assert page.evaluate("window.__stillTheSamePage") == "lista"
