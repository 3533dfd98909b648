"""Browser test (issue 12): a WhatsApp message the customer edits shows the new text, "(editado)" and its earlier
versions, and one they delete shows «Mensaje eliminado por el cliente», both patched into the open conversation
from the realtime event (the exact payload the inbox sends) and both on a fresh page load."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from inbox.actions import conversation_payload, do_receive_inbound, message_payload
from inbox.models import Message
from inbox.revision_actions import do_record_message_change
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]


def announce(page, message: Message) -> None:
    """What realtime/static/realtime/events.js dispatches when `conversation/message_updated` arrives."""
    event = {"type": "conversation", "op": "message_updated", "event_id": 1,
             "conversation": conversation_payload(message.conversation), "message": message_payload(message)}
    page.evaluate("(e) => document.body.dispatchEvent(new CustomEvent('centralita:conversation', {detail: e}))",
                  json.loads(json.dumps(event)))


def test_edited_and_deleted_whatsapp_messages_in_the_open_conversation(asgi_live_server: str, browser: Browser):
    UserFactory(username="valeria", role=Role.AGENTE, full_name="Valeria Agente", availability="disponible")
    now = timezone.now()
    c, first, _new = do_receive_inbound(channel="whatsapp", body="Quiero 2 cajas", customer_name="Lucía Fernández",
                                        phones=["+573001112233"], external_id="wamid.e2e-1",
                                        received_at=now - timedelta(minutes=5))
    _c, second, _new = do_receive_inbound(channel="whatsapp", body="Mi tarjeta es 4111 1111 1111 1111",
                                          customer_name="Lucía Fernández", phones=["+573001112233"],
                                          external_id="wamid.e2e-2", received_at=now - timedelta(minutes=4))
    page = login(browser, asgi_live_server, "valeria")
    page.goto(f"{asgi_live_server}/inbox/{c.pk}/")
    expect(page.locator("#realtime-state")).to_have_attribute("data-state", "connected", timeout=10_000)
    page.evaluate("window.__stillTheSamePage = 'sí'")

    # the customer edits the first message
    do_record_message_change(kind="edit", target_external_id="wamid.e2e-1", event_id="wamid.e2e-edit",
                             at=now - timedelta(minutes=3), body="Mejor 3 cajas")
    first.refresh_from_db()
    announce(page, first)
    bubble = page.locator(f'#timeline [data-item="message-{first.pk}"]')
    expect(bubble).to_contain_text("Mejor 3 cajas")
    expect(bubble.locator('[data-f="edited"]')).to_have_text("(editado)")
    bubble.locator("details.msg-history summary").click()
    expect(bubble.locator(".msg-versions")).to_contain_text("Quiero 2 cajas")

    # and deletes the second one
    do_record_message_change(kind="delete", target_external_id="wamid.e2e-2", event_id="wamid.e2e-revoke",
                             at=now - timedelta(minutes=2))
    second.refresh_from_db()
    announce(page, second)
    gone = page.locator(f'#timeline [data-item="message-{second.pk}"]')
    expect(gone.locator('[data-f="deleted"]')).to_contain_text("Mensaje eliminado por el cliente")
    expect(gone).not_to_contain_text("4111")
    assert page.evaluate("window.__stillTheSamePage") == "sí"  # patched in place, no reload
    items = page.eval_on_selector_all("#timeline [data-item]", "nodes => nodes.map(n => n.dataset.item)")
    assert len(items) == len(set(items))

    # a fresh load renders the same on the server
    page.reload()
    expect(page.locator(f'#timeline [data-item="message-{first.pk}"]')).to_contain_text("Mejor 3 cajas")
    expect(page.locator(f'#timeline [data-item="message-{first.pk}"] [data-f="edited"]')).to_be_visible()
    expect(page.locator(f'#timeline [data-item="message-{second.pk}"] [data-f="deleted"]')).to_be_visible()
    assert "4111" not in page.content()
