"""Browser test (issue 16): an agent types `/env` in the composer, picks a quick reply with the keyboard, sees the
variable that has no value flagged (and refused if sent), completes it and sends; then schedules a follow-up for
tomorrow at 9:00 and cancels it — on a desktop and on a phone."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from automation import actions as automation
from automation.models import QuickReply, ScheduledMessage
from inbox import actions
from inbox.models import Conversation, Message
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]


@pytest.mark.parametrize("viewport", [{"width": 1440, "height": 900}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_an_agent_inserts_a_quick_reply_completes_it_and_sends_it(asgi_live_server: str, browser: Browser,
                                                                   transactional_db: Any, viewport: dict[str, int]):
    # given Raúl's WhatsApp conversation with a customer whose city is not on record, and two quick replies
    raul = UserFactory(username="raul", role=Role.AGENTE, full_name="Raúl Mendoza", availability="disponible")
    c, _m, _new = actions.do_receive_inbound(channel="whatsapp", body="¿Cuánto se demora el envío?",
                                             customer_name="María José Rodríguez", phones=["+57 311 555 0101"])
    Conversation.objects.filter(pk=c.pk).update(assignee=raul)
    automation.check_save_quick_reply(
        raul, title="Tiempo de envío", shortcut="envio",
        body="Hola {{cliente.primer_nombre}}, el envío a {{cliente.ciudad}} tarda 2 días.")
    automation.check_save_quick_reply(raul, title="Envío express", shortcut="envio-express",
                                      body="Con envío express le llega mañana.")
    page = login(browser, asgi_live_server, "raul")
    page.set_viewport_size(viewport)
    page.goto(f"{asgi_live_server}/inbox/{c.pk}/")
    expect(page.locator("#realtime-state")).to_have_attribute("data-state", "connected", timeout=10_000)

    # when he types /env, the list offers both, rendered for María, and flags the city nobody recorded
    box = page.locator("#reply-body")
    box.click()
    box.press_sequentially("/env")
    options = page.locator("#qr-list [role=option]")
    expect(options).to_have_count(2)
    expect(options.first).to_contain_text("Hola María, el envío a {{cliente.ciudad}} tarda 2 días.")
    expect(options.first).to_contain_text("Sin valor en esta conversación: {{cliente.ciudad}}")
    # and he moves down and back up with the keyboard and inserts the first with Enter
    box.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    box.press("ArrowUp")
    box.press("Enter")
    expect(page.locator("#qr-list")).to_be_hidden()
    expect(box).to_have_value("Hola María, el envío a {{cliente.ciudad}} tarda 2 días.")
    expect(page.locator("[data-qr-missing]")).to_contain_text("Complete o borre antes de enviar: {{cliente.ciudad}}")

    # then sending it as it is is refused, and nothing reaches the customer
    page.click("#send-reply")
    expect(page.locator("#err-reply-form")).to_contain_text("Complete o borre antes de enviar")
    assert not Message.objects.filter(conversation=c, kind="outbound").exists()

    # when he completes the city, the flag goes, and the answer is sent
    box.fill("Hola María, el envío a Medellín tarda 2 días.")
    expect(page.locator("[data-qr-missing]")).to_be_hidden()
    page.click("#send-reply")
    expect(page.locator("#timeline")).to_contain_text("el envío a Medellín tarda 2 días")
    assert Message.objects.get(conversation=c, kind="outbound").body == "Hola María, el envío a Medellín tarda 2 días."
    assert QuickReply.objects.get(shortcut="envio").usage_count == 1
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0

    # when he writes a follow-up and schedules it for tomorrow at 9:00 with the shortcut
    box.fill("Hola María, ¿le llegó la guía del envío?")
    page.get_by_test_id("schedule-open").click()
    page.locator("[data-schedule-at]").nth(1).click()
    expect(page.locator("#schedule-time")).to_have_value("09:00")
    page.click("#schedule-send")
    # then the side panel lists it, the text box is empty again, and nothing was sent yet
    listed = page.get_by_test_id("scheduled-list")
    expect(listed).to_contain_text("¿le llegó la guía del envío?")
    expect(listed).to_contain_text("09:00")
    expect(box).to_have_value("")
    scheduled = ScheduledMessage.objects.get()
    assert scheduled.state == "programado" and timezone.localtime(scheduled.send_at).hour == 9
    assert Message.objects.filter(conversation=c, kind="outbound").count() == 1
    # when he cancels it, then it is gone from the list and will never be sent
    page.once("dialog", lambda dialog: dialog.accept())
    listed.locator(f"[data-cancel-scheduled='{scheduled.pk}']").click()
    expect(listed).to_contain_text("Envío cancelado.")
    expect(listed).not_to_contain_text("¿le llegó la guía del envío?")
    scheduled.refresh_from_db()
    assert scheduled.state == "cancelado"
