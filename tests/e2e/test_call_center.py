"""Browser test: a lead simulated in (fake) Kommo appears in two agents' open queue pages; one agent takes it
with a predefined note, and the other agent's page shows it taken — all without reloading."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from leads.actions import check_save_note_template
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]


def test_simulated_lead_appears_live_and_is_taken_with_a_predefined_note(live_with_kommo: str, browser: Browser):
    base = live_with_kommo
    UserFactory(username="admin", role=Role.ADMIN)
    ana = UserFactory(username="ana", role=Role.AGENTE, full_name="Ana Operadora")
    UserFactory(username="beto", role=Role.AGENTE, full_name="Beto Operador")
    supervisor = UserFactory(username="sara", role=Role.SUPERVISOR)
    check_save_note_template(supervisor, title="Llamar nuevamente", text="El cliente pidió que lo llamemos mañana",
                             outcome="parcial", tags=["rellamar"])

    # given both agents watch the queue
    ana_page, beto_page = login(browser, base, "ana"), login(browser, base, "beto")
    for page in (ana_page, beto_page):
        page.goto(f"{base}/call-center-queue")
        expect(page.locator("#realtime-state")).to_have_attribute("data-state", "connected", timeout=10_000)
        expect(page.locator("#queue-table")).to_contain_text("No hay leads")

    # when an administrator simulates a lead in Kommo from the demo panel
    admin_page = login(browser, base, "admin")
    admin_page.goto(f"{base}/settings/kommo/")
    admin_page.fill("#id_lead_name", "Pedido web 2026")
    admin_page.fill("#id_contact_name", "Lucía Ñáñez")
    admin_page.fill("#id_phone", "+57 310 555 1234")
    admin_page.click("#simulate-lead")
    expect(admin_page.locator(".messages")).to_contain_text("Lead simulado")

    # then it appears in both open queue pages without a reload
    for page in (ana_page, beto_page):
        expect(page.locator("#queue-table")).to_contain_text("Pedido web 2026", timeout=15_000)
    row = beto_page.locator("#queue-table tr", has_text="Pedido web 2026")
    expect(row).to_contain_text("Ninguno")

    # when Ana opens it and applies the predefined note
    ana_page.click("text=Pedido web 2026")
    expect(ana_page.locator("#customer-form")).to_be_visible()
    expect(ana_page.locator("#id_phones")).to_have_value("+573105551234")
    ana_page.click("#open-templates")
    ana_page.click("button[data-template='Llamar nuevamente']")
    expect(ana_page.get_by_test_id("holder")).to_contain_text("Ana Operadora")
    expect(ana_page.get_by_test_id("customer-tag")).to_have_text("rellamar")
    expect(ana_page.get_by_test_id("lead-status")).to_have_text("En proceso")

    # then Beto's page shows it taken by Ana, live, and Beto cannot add notes on it
    expect(row).to_contain_text("Ana Operadora", timeout=10_000)
    expect(row).to_contain_text("En proceso")
    assert beto_page.evaluate("performance.getEntriesByType('navigation').length") == 1
    beto_page.click("text=Pedido web 2026")
    expect(beto_page.get_by_test_id("holder")).to_contain_text("Otro operador tiene este lead")
    expect(beto_page.locator("#note-form")).to_have_count(0)
    assert ana.held_leads.count() == 1
