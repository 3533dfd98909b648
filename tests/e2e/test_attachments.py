"""Browser test (issue 16): an agent attaches files to an answer (several, one removed again), inserts a quick reply
that brings its own file, and sends; a file WhatsApp does not take is refused with the reason and kept for the
agent to fix; a file alone is an answer — on a desktop and on a phone."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from automation import actions as automation
from automation.models import ScheduledMessage
from inbox import actions
from inbox.attachments import Upload
from inbox.models import Conversation, Message
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.mark.parametrize("viewport", [{"width": 1440, "height": 900}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_an_agent_sends_files_and_a_quick_replys_file(asgi_live_server: str, browser: Browser, transactional_db: Any,
                                                       viewport: dict[str, int]):
    # given Raúl's WhatsApp conversation and his quick reply that carries the catalogue
    raul = UserFactory(username="raul", role=Role.AGENTE, full_name="Raúl Mendoza", availability="disponible")
    c, _m, _new = actions.do_receive_inbound(channel="whatsapp", body="¿Tienen catálogo y lista de precios?",
                                             customer_name="María José Rodríguez", phones=["+57 311 555 0101"])
    Conversation.objects.filter(pk=c.pk).update(assignee=raul)
    automation.check_save_quick_reply(raul, title="Catálogo", shortcut="catalogo",
                                      body="Hola {{cliente.primer_nombre}}, le comparto el catálogo.",
                                      attachment=Upload("catálogo 2027.pdf", "application/pdf", b"%PDF catalogo"))
    page = login(browser, asgi_live_server, "raul")
    page.set_viewport_size(viewport)
    page.goto(f"{asgi_live_server}/inbox/{c.pk}/")
    expect(page.locator("#realtime-state")).to_have_attribute("data-state", "connected", timeout=10_000)
    chips = page.locator("#reply-file-chips .file-chip")

    # when he attaches a price list and a photo, then removes the photo
    page.set_input_files("#reply-files", files=[
        {"name": "precios.pdf", "mimeType": "application/pdf", "buffer": b"%PDF precios"},
        {"name": "foto.png", "mimeType": "image/png", "buffer": PNG}])
    expect(chips).to_have_count(2)
    expect(chips.nth(1)).to_contain_text("foto.png")
    page.get_by_role("button", name="Quitar foto.png").click()
    expect(chips).to_have_count(1)
    # and inserts the quick reply, which adds its own file next to his
    box = page.locator("#reply-body")
    box.click()
    box.press_sequentially("/cat")
    expect(page.locator("#qr-list [role=option]").first).to_contain_text("catálogo 2027.pdf")
    box.press("Enter")
    expect(box).to_have_value("Hola María, le comparto el catálogo.")
    expect(chips).to_have_count(2)
    expect(chips.nth(1)).to_contain_text("catálogo 2027.pdf")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0

    # then sending delivers the text with both files, and the composer is empty again
    page.click("#send-reply")
    expect(page.locator("#timeline")).to_contain_text("catálogo 2027.pdf")
    expect(page.locator("#timeline")).to_contain_text("precios.pdf")
    expect(chips).to_have_count(0)
    expect(box).to_have_value("")
    sent = Message.objects.get(conversation=c, kind="outbound")
    assert [a["name"] for a in sent.attachments] == ["precios.pdf", "catálogo 2027.pdf"]

    # when he attaches a file WhatsApp does not deliver, then the reason shows and the file stays to be removed
    page.set_input_files("#reply-files", files=[{"name": "fotos.zip", "mimeType": "application/zip",
                                                  "buffer": b"PK\x03\x04"}])
    page.click("#send-reply")
    expect(page.locator("#err-reply-form")).to_contain_text("WhatsApp no acepta «fotos.zip»")
    expect(chips).to_have_count(1)
    page.get_by_role("button", name="Quitar fotos.zip").click()

    # and a photo alone, without text, is an answer — though not one to schedule for later: that says why
    page.set_input_files("#reply-files", files=[{"name": "local.png", "mimeType": "image/png", "buffer": PNG}])
    page.get_by_test_id("schedule-open").click()
    page.click("#schedule-send")
    expect(page.locator("[data-schedule-error]")).to_contain_text("Los archivos adjuntos no se programan")
    assert not ScheduledMessage.objects.exists()
    page.get_by_test_id("schedule-open").click()
    page.click("#send-reply")
    expect(page.locator("#timeline img.attachment-image")).to_have_count(1)
    assert Message.objects.filter(conversation=c, kind="outbound").count() == 2
    assert Message.objects.filter(conversation=c, kind="outbound").latest("id").body == ""
