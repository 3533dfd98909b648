"""Browser test: the call screen updates in place. An agent adds a note and a predefined note, builds and confirms
an order, and a supervisor reassigns the lead with the people picker, all while a marker set at page load
survives (no reload). At 390x844 neither the queue nor the call screen scrolls sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from accounts.choices import Availability
from accounts.roles import Role
from accounts.tests.factories import DEFAULT_PASSWORD, TeamFactory, UserFactory
from leads.actions import check_save_note_template
from orders.tests.factories import product, ready_lead

pytestmark = [pytest.mark.e2e]
NO_OVERFLOW = "document.documentElement.scrollWidth <= window.innerWidth"


def login(browser: Browser, base: str, username: str, **context: object) -> Page:
    page = browser.new_context(**context).new_page()
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#realtime-state")).to_be_attached()
    return page


def mark(page: Page) -> None:
    page.evaluate("window.__marker = 'no reload'")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__marker") == "no reload"


def test_agent_works_a_lead_without_a_single_reload(asgi_live_server: str, browser: Browser):
    base = asgi_live_server
    UserFactory(username="ana", role=Role.AGENTE, full_name="Ana Operadora")
    supervisor = UserFactory(username="sara", role=Role.SUPERVISOR, full_name="Sara Supervisora")
    UserFactory(username="beto", role=Role.AGENTE, full_name="Beto Operador", availability=Availability.AVAILABLE,
                teams=[TeamFactory(name="Ventas Norte")])
    check_save_note_template(supervisor, title="Llamar nuevamente", text="El cliente pidió que lo llamemos mañana",
                             outcome="parcial", tags=["rellamar"])
    product("PH-001", name="Plan Hogar", price="89000", stock=10)
    lead = ready_lead(name="Pedido Plan Hogar")

    # given the agent on the call screen
    page = login(browser, base, "ana", permissions=["clipboard-read", "clipboard-write"])
    page.goto(f"{base}/call-center-queue/leads/{lead.pk}/")
    mark(page)
    phone = page.locator("a[href^='tel:']").first
    expect(phone).to_have_attribute("href", "tel:" + lead.customer.phones.get().e164)

    # when they copy the phone number, a transient status says so
    page.get_by_role("button", name="Copiar el teléfono").first.click()
    expect(page.locator("#copy-status")).to_have_text("Copiado")

    # and they write a note
    page.fill("#id_text", "Contestó; quiere el plan hogar")
    page.select_option("#id_outcome", "positivo")
    page.click("#save-note")
    expect(page.locator("#notes-list")).to_contain_text("Contestó; quiere el plan hogar")
    expect(page.locator("#notes-list")).to_contain_text("Positivo")
    expect(page.get_by_test_id("lead-status")).to_have_text("En proceso")
    expect(page.get_by_test_id("holder")).to_contain_text("Ana Operadora")
    expect(page.locator("#lead-history")).to_contain_text("Ana Operadora agregó una nota")
    expect(page.locator("#id_text")).to_have_value("")

    # and apply a predefined note
    page.click("#open-templates")
    page.click("button[data-template='Llamar nuevamente']")
    expect(page.locator("#notes-list")).to_contain_text("El cliente pidió que lo llamemos mañana")
    expect(page.get_by_test_id("customer-tag")).to_have_text("rellamar")
    expect(page.locator("#templates-dialog")).not_to_be_visible()

    # and build the order: add a line, change its quantity, confirm
    page.fill("#product-search", "plan")
    expect(page.locator("[data-stock-sku='PH-001']")).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.click("[data-add='PH-001']")
    expect(page.get_by_test_id("draft-total")).to_contain_text("89.000\u00a0COP")
    page.fill("input[name='qty-PH-001']", "2")
    page.click("#update-lines")
    expect(page.get_by_test_id("draft-total")).to_contain_text("178.000\u00a0COP")
    page.click("#confirm-order")
    expect(page.get_by_test_id("lead-orders")).to_be_visible()
    expect(page.locator("#call-feedback")).to_contain_text("confirmado")

    # then nothing reloaded the page
    assert_not_reloaded(page)
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

    # when a supervisor reassigns it from the people picker, with the keyboard
    boss = login(browser, base, "sara")
    boss.goto(f"{base}/call-center-queue/leads/{lead.pk}/")
    mark(boss)
    search = boss.get_by_role("combobox", name="Reasignar a")
    search.fill("beto")
    expect(search).not_to_have_attribute("data-stale", "1")  # the options answer "beto", not an earlier search
    option = boss.get_by_role("option", name="Beto Operador")
    expect(option).to_contain_text("Disponible")
    expect(option).to_contain_text("Ventas Norte")
    expect(option).to_contain_text("0 leads abiertos")
    search.press("ArrowDown")
    expect(option).to_have_attribute("aria-selected", "true")
    search.press("Enter")
    expect(search).to_have_value("Beto Operador")
    expect(boss.get_by_role("listbox")).to_be_hidden()
    search.press("Enter")  # the second Enter submits
    expect(boss.get_by_test_id("holder")).to_contain_text("Beto Operador")
    expect(boss.locator("#lead-history")).to_contain_text("Sara Supervisora reasignó el lead de Ana Operadora a Beto")
    assert_not_reloaded(boss)


def test_queue_and_call_screen_fit_a_phone(asgi_live_server: str, browser: Browser):
    base = asgi_live_server
    UserFactory(username="ana", role=Role.AGENTE, full_name="Ana Operadora")
    product("PH-001", name="Plan Hogar", price="89000", stock=10)
    long_name = "Pedido de la señora María de los Ángeles Rodríguez-Villanueva Castañeda, sucursal norte 2026"
    lead = ready_lead(name=long_name)
    page = login(browser, base, "ana", viewport={"width": 390, "height": 844})

    page.goto(f"{base}/call-center-queue")
    expect(page.locator("#queue-table")).to_contain_text("Rodríguez-Villanueva")
    assert page.evaluate(NO_OVERFLOW)

    page.goto(f"{base}/call-center-queue/leads/{lead.pk}/")
    page.fill("#product-search", "plan")
    expect(page.locator("[data-stock-sku='PH-001']")).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.click("[data-add='PH-001']")
    expect(page.get_by_test_id("draft-total")).to_contain_text("89.000\u00a0COP")
    assert page.evaluate(NO_OVERFLOW)
