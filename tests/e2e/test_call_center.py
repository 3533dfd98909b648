"""Browser test: a lead simulated in (fake) Kommo appears in two agents' open queue pages; one agent takes it
with a predefined note, and the other agent's page shows it taken — all without reloading."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from playwright.sync_api import Browser, Page, expect

from accounts.roles import Role
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from leads.actions import check_save_note_template

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def live_with_kommo(kommo_account: Any, fake_kommo: Any, django_db_blocker: Any, transactional_db: Any,
                    request: pytest.FixtureRequest) -> Iterator[str]:
    # The forked server processes webhooks in-process (ImmediateBackend) so the test needs no worker;
    # the worker path is covered by tests/integration/test_worker_to_browser.py.
    immediate = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
                             "QUEUES": ["default", "crm", "messaging"]}}
    with override_settings(TASKS=immediate, KOMMO_DEMO=True):
        live = request.getfixturevalue("asgi_live_server")
        fake_kommo.state.subscribe_webhook(f"{live}/integrations/kommo/webhook/{kommo_account.webhook_secret}/",
                                           ["add_lead", "update_lead", "status_lead", "delete_lead"])
        yield live


def login(browser: Browser, base: str, username: str) -> Page:
    page = browser.new_context().new_page()
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    return page


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
