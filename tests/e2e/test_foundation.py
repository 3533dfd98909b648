"""Browser test: a supervisor sees an agent's availability change live, then switches the UI to English."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from accounts.roles import Role
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.e2e]


def login(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#realtime-state")).to_have_attribute("data-state", "connected", timeout=10_000)


def test_supervisor_sees_agent_go_busy_live_then_switches_to_english(asgi_live_server: str, browser: Browser):
    # given a supervisor watching the live team page and an agent logged in elsewhere
    UserFactory(username="supervisora", role=Role.SUPERVISOR, full_name="Sara Supervisora")
    agent = UserFactory(username="agente1", role=Role.AGENTE, full_name="Andrés Agente", availability="disponible")
    supervisor_page = browser.new_context().new_page()
    agent_page = browser.new_context().new_page()
    login(supervisor_page, asgi_live_server, "supervisora")
    supervisor_page.goto(f"{asgi_live_server}/team/presence/")
    expect(supervisor_page.locator("#realtime-state")).to_have_attribute("data-state", "connected", timeout=10_000)
    cell = supervisor_page.get_by_test_id(f"presence-{agent.username}")
    expect(cell).to_contain_text("Disponible")
    login(agent_page, asgi_live_server, "agente1")

    # when the agent switches to "ocupado" from the top bar
    agent_page.select_option("#availability-select", "ocupado")

    # then the supervisor's page shows it without a reload
    expect(cell).to_contain_text("Ocupado", timeout=10_000)
    expect(cell).to_have_class("avail avail-ocupado", timeout=5_000)
    assert supervisor_page.evaluate("performance.getEntriesByType('navigation').length") == 1

    # and when the supervisor chooses English in their profile, the UI speaks English
    supervisor_page.goto(f"{asgi_live_server}/profile/")
    supervisor_page.select_option("select[name=language]", "en")
    supervisor_page.click("#save-language")
    expect(supervisor_page.get_by_role("heading", level=1)).to_have_text("My profile")
    expect(supervisor_page.get_by_role("button", name="Sign out")).to_be_visible()
    supervisor_page.goto(f"{asgi_live_server}/team/presence/")
    expect(supervisor_page.get_by_test_id(f"presence-{agent.username}")).to_contain_text("Busy")
