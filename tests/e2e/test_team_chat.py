"""Browser test (issue 19): two agents chat in a direct message, one pasting a screenshot from the clipboard; the
other sees it arrive without reloading (the menu's badge, the sidebar, the message with its picture), answers, and
the first sees the answer live. Then a supervisor publishes an announcement that requires acknowledgement: the
banner appears for each agent and disappears for each one after they acknowledge, while the supervisor's list of
acknowledgements updates live."""

from __future__ import annotations

import base64

import pytest
from playwright.sync_api import Browser, Page, expect

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]

PNG_B64 = base64.b64encode(
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
).decode()

PASTE_SCREENSHOT = """([selector, b64]) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const file = new File([bytes], "image.png", { type: "image/png" });
  const data = new DataTransfer();
  data.items.add(file);
  const box = document.querySelector(selector);
  box.focus();
  box.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
}"""


def _connected(page: Page) -> None:
    expect(page.locator("#realtime-state")).to_have_attribute("data-state", "connected", timeout=10_000)


def test_chat_with_a_pasted_screenshot_then_an_announcement_everyone_acknowledges(asgi_live_server: str,
                                                                                  browser: Browser):
    UserFactory(username="lucia", role=Role.AGENTE, full_name="Lucía Rojas", availability="disponible")
    UserFactory(username="mateo", role=Role.AGENTE, full_name="Mateo Gil", availability="disponible")
    UserFactory(username="paula", role=Role.SUPERVISOR, full_name="Paula Supervisora", availability="disponible")

    # Mateo has the chat open on its home; Lucía opens a direct message to him
    mateo = login(browser, asgi_live_server, "mateo")
    mateo.goto(f"{asgi_live_server}/chat/")
    _connected(mateo)
    mateo.evaluate("window.__samePage = 'sí'")
    lucia = login(browser, asgi_live_server, "lucia")
    lucia.goto(f"{asgi_live_server}/chat/mensaje-directo")
    lucia.get_by_label("Mateo Gil").check()
    lucia.get_by_test_id("chat-open-direct").click()
    expect(lucia.locator("h1")).to_contain_text("Mateo Gil")
    _connected(lucia)

    # she writes and pastes a screenshot, then presses Enter
    lucia.get_by_test_id("chat-body").fill("Mira el error que sale al confirmar:")
    lucia.evaluate(PASTE_SCREENSHOT, ["[data-testid=chat-body]", PNG_B64])
    expect(lucia.locator("[data-chat-files] li")).to_contain_text("captura-")
    lucia.get_by_test_id("chat-body").press("Enter")
    sent = lucia.get_by_test_id("chat-message").last
    expect(sent).to_contain_text("Mira el error que sale al confirmar:")
    expect(sent.get_by_test_id("chat-image")).to_be_visible()
    expect(lucia.get_by_test_id("chat-body")).to_have_value("")

    # Mateo's page, never reloaded, shows the badge and the new direct message in its sidebar
    expect(mateo.locator("[data-chat-unread]").first).to_have_text("1", timeout=10_000)
    direct_link = mateo.get_by_test_id("chat-direct-link").filter(has_text="Lucía Rojas")
    expect(direct_link).to_be_visible(timeout=10_000)
    assert mateo.evaluate("window.__samePage") == "sí"
    direct_link.click()
    received = mateo.get_by_test_id("chat-message").last
    expect(received).to_contain_text("Mira el error que sale al confirmar:")
    image = received.get_by_test_id("chat-image")
    expect(image).to_be_visible()
    # the picture itself arrives (served to him, decoded): polled, it loads after the row appears
    mateo.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(),
                            timeout=10_000)
    expect(mateo.locator("[data-chat-unread]").first).to_be_hidden(timeout=10_000)  # read on opening

    # he answers; Lucía sees it without reloading
    _connected(mateo)
    lucia.evaluate("window.__samePage = 'lucía'")
    mateo.get_by_test_id("chat-body").fill("Ya lo veo, es el **stock**. Te aviso.")
    mateo.get_by_test_id("chat-send").click()
    answer = lucia.get_by_test_id("chat-message").last
    expect(answer).to_contain_text("Ya lo veo, es el stock. Te aviso.", timeout=10_000)
    expect(answer.locator("strong", has_text="stock")).to_be_visible()
    assert lucia.evaluate("window.__samePage") == "lucía"
    # each message once, though it came both as the send's answer and as an event
    ids = lucia.eval_on_selector_all("#chat-rows .chat-row", "rows => rows.map(r => r.id)")
    assert len(ids) == len(set(ids)) == 2
    # she reacts from the picker; Mateo sees the reaction in place
    answer.locator(".chat-react-picker summary").click()
    answer.get_by_role("button", name="Reaccionar con 👍").click()
    expect(lucia.get_by_test_id("chat-message").last.locator(".chat-reaction")).to_have_text("👍 1")
    expect(mateo.get_by_test_id("chat-message").last.locator(".chat-reaction")).to_have_text("👍 1", timeout=10_000)

    # --- a supervisor publishes an announcement that requires acknowledgement ---------------------------------
    paula = login(browser, asgi_live_server, "paula")
    paula.goto(f"{asgi_live_server}/anuncios/nuevo/")
    paula.fill("#id_title", "Nuevo horario de despacho")
    paula.fill("#id_body", "Desde el lunes los pedidos se despachan hasta las **4:00 p. m.**")
    paula.locator("#id_requires_ack").check()
    paula.get_by_test_id("ann-save-publish").click()
    expect(paula.get_by_test_id("ann-title")).to_have_text("Nuevo horario de despacho")
    _connected(paula)
    expect(paula.get_by_test_id("ann-ack-count")).to_contain_text("0 de 2")
    paula.evaluate("window.__samePage = 'paula'")

    # the banner appears for both agents without reloading their chat pages
    for agent in (lucia, mateo):
        banner = agent.get_by_test_id("ann-banner").filter(has_text="Nuevo horario de despacho")
        expect(banner).to_be_visible(timeout=10_000)

    # Lucía acknowledges (the button names its announcement to a screen reader): her banner goes and the focus
    # moves to the page rather than being lost with the button, Mateo's stays, Paula's list counts her at once
    ack = lucia.get_by_test_id("ann-banner").filter(has_text="Nuevo horario de despacho") \
        .get_by_test_id("ann-banner-ack")
    expect(ack).to_have_accessible_description("Nuevo horario de despacho")
    ack.click()
    expect(lucia.get_by_test_id("ann-banner").filter(has_text="Nuevo horario de despacho")).to_have_count(0)
    expect(lucia.locator("#main")).to_be_focused()
    expect(paula.get_by_test_id("ann-ack-count")).to_contain_text("1 de 2", timeout=10_000)
    expect(paula.locator("#ann-acks tr.is-done")).to_contain_text("Lucía Rojas")
    expect(mateo.get_by_test_id("ann-banner").filter(has_text="Nuevo horario de despacho")).to_be_visible()

    # then Mateo; Paula never reloaded
    mateo.get_by_test_id("ann-banner").filter(has_text="Nuevo horario de despacho") \
        .get_by_test_id("ann-banner-ack").click()
    expect(mateo.get_by_test_id("ann-banner").filter(has_text="Nuevo horario de despacho")).to_have_count(0)
    expect(paula.get_by_test_id("ann-ack-count")).to_contain_text("2 de 2", timeout=10_000)
    assert paula.evaluate("window.__samePage") == "paula"
    # and it stays gone after a reload
    lucia.reload()
    expect(lucia.get_by_test_id("chat-body")).to_be_visible()
    expect(lucia.get_by_test_id("ann-banner").filter(has_text="Nuevo horario de despacho")).to_have_count(0)
