"""Browser test (issue 15): a WhatsApp customer buys in the conversation. The agent opens it in the workspace,
adds products from the panel beside it, is asked for the address the customer's record lacks, types it, confirms,
and the sale is the conversation's — on a desktop and on a phone, without leaving the page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from customers.models import Customer
from inbox import actions
from inbox.models import Conversation
from orders.models import Order, Sale
from orders.tests.factories import product
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]


@pytest.mark.parametrize("viewport", [{"width": 1440, "height": 900}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_an_agent_sells_in_a_whatsapp_conversation(asgi_live_server: str, browser: Browser, transactional_db: Any,
                                                    viewport: dict[str, int]):
    # given Raúl's WhatsApp conversation with a customer whose record has no address yet
    raul = UserFactory(username="raul", role=Role.AGENTE, full_name="Raúl Mendoza", availability="disponible")
    product("COMBO-FAM", name="Combo familiar de temporada", price="259900", stock=4)
    c, _m, _new = actions.do_receive_inbound(channel="whatsapp", body="Hola, ¿me separan dos combos familiares?",
                                             customer_name="María José Rodríguez Echeverría",
                                             phones=["+57 311 555 0101"])
    Conversation.objects.filter(pk=c.pk).update(assignee=raul)
    page = login(browser, asgi_live_server, "raul")
    page.set_viewport_size(viewport)
    page.goto(f"{asgi_live_server}/inbox/{c.pk}/")
    page.evaluate("window.__sameDocument = 'yes'")

    # when he searches the catalog beside the conversation and adds two
    panel = page.locator("#order-panel")
    panel.scroll_into_view_if_needed()
    page.fill("#product-search", "combo")
    row = page.locator("[data-stock-sku='COMBO-FAM']")
    expect(row).to_contain_text("4 disponibles")
    # (the typeahead's debounced requests settle first: a late answer would redraw the row with quantity 1)
    page.wait_for_load_state("networkidle")
    row.locator("[data-quantity]").fill("2")
    row.locator("[data-add='COMBO-FAM']").click()
    expect(page.get_by_test_id("draft-total")).to_contain_text("519.800\u00a0COP")

    # then the delivery data is open, saying what is missing; confirming without the address is refused in place
    delivery = page.get_by_test_id("order-delivery")
    expect(delivery).to_contain_text("faltan datos")
    expect(page.locator("#delivery-address-error")).to_contain_text("Falta la dirección de entrega")
    page.fill("#delivery-city", "Medellín")
    page.click("#confirm-order")
    expect(page.get_by_test_id("order-error")).to_contain_text("Complete los datos del cliente")
    expect(page.locator("#delivery-city")).to_have_value("Medellín")

    # when he types the address and confirms, the order is confirmed in the panel, without a page load
    page.fill("#delivery-address", "Calle 10 # 43-20, apto 502")
    page.fill("#delivery-department", "Antioquia")
    page.click("#confirm-order")
    expect(page.get_by_test_id("order-feedback")).to_contain_text("confirmado")
    order = Order.objects.get()
    expect(page.locator("#order-panel")).to_contain_text(order.number)
    assert page.evaluate("window.__sameDocument") == "yes"
    assert order.state == "confirmado" and order.conversation_id == c.pk
    assert Sale.objects.get().conversation_id == c.pk
    assert Customer.objects.get(pk=c.customer_id).address == "Calle 10 # 43-20, apto 502"
    # and nothing in the side panel overflows the phone's width
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
