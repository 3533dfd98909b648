"""Browser tests of the shell every page shares: the login button, availability on login and the "not receiving
work" notice, the phone layout (no sideways scrolling, a menu drawer) and unread work in the title."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from accounts.actions import do_create_api_token
from accounts.models import User
from accounts.roles import Role
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from inbox.actions import do_receive_inbound

pytestmark = [pytest.mark.e2e]
PHONE = {"width": 390, "height": 844}
SPANISH = {"locale": "es-CO"}


def api_as(user: User, base: str) -> httpx.Client:
    """Changes made while a page is open go through the live server, as another tab or an integration would
    (Playwright's event loop in this thread rules out calling actions that send events from here)."""
    _token, raw = do_create_api_token(user, name="e2e", acting_user=None)
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {raw}"}, timeout=10)


def sign_in_by_mouse(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEFAULT_PASSWORD)
    page.get_by_role("button", name="Entrar").click()  # a real mouse click, not Enter
    expect(page.locator("#realtime-state")).to_have_attribute("data-state", "connected", timeout=10_000)


def no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_login_button_is_visible_login_makes_the_agent_available_and_the_notice_follows(
        asgi_live_server: str, browser: Browser):
    agent = UserFactory(username="valeria", role=Role.AGENTE, full_name="Valeria Agente")
    assert agent.availability == "desconectado"
    api = api_as(agent, asgi_live_server)
    page = browser.new_context(**SPANISH).new_page()
    page.goto(f"{asgi_live_server}/login/")

    # the primary button is on screen and painted (it used to be white on white)
    button = page.get_by_role("button", name="Entrar")
    box = button.bounding_box()
    assert box is not None and box["width"] > 40 and box["height"] > 20
    background = button.evaluate("b => getComputedStyle(b).backgroundColor")
    assert background not in {"rgb(255, 255, 255)", "rgba(0, 0, 0, 0)", "transparent"}, background
    assert button.evaluate("b => getComputedStyle(b).color") != background

    # signing in by mouse lands home, Disponible, with no notice
    sign_in_by_mouse(page, asgi_live_server, "valeria")
    expect(page.locator("#availability-select")).to_have_value("disponible")
    expect(page.locator("#availability-notice")).to_be_hidden()
    agent.refresh_from_db()
    assert agent.availability == "disponible"

    # switching to Ausente says plainly that no new conversations arrive
    page.select_option("#availability-select", "ausente")
    notice = page.locator("#availability-notice")
    expect(notice).to_be_visible(timeout=10_000)
    expect(notice).to_contain_text("No está recibiendo conversaciones nuevas: su estado es Ausente")

    # a change made elsewhere (another tab, a supervisor, the idle timeout) shows up live
    page.evaluate("window.__samePage = true")
    assert api.post("/api/v1/me/availability", json={"availability": "ocupado"}).status_code == 200
    expect(notice).to_contain_text("su estado es Ocupado", timeout=10_000)
    expect(page.locator("#availability-select")).to_have_value("ocupado")
    assert api.post("/api/v1/me/availability", json={"availability": "disponible"}).status_code == 200
    expect(notice).to_be_hidden(timeout=10_000)
    assert page.evaluate("window.__samePage") is True


def test_phone_layout_has_no_sideways_scroll_and_a_menu_drawer(asgi_live_server: str, browser: Browser):
    UserFactory(username="supervisora", role=Role.SUPERVISOR, full_name="Supervisora Con Un Nombre Bastante Largo")
    page = browser.new_context(viewport=PHONE, **SPANISH).new_page()
    sign_in_by_mouse(page, asgi_live_server, "supervisora")

    for path in ("/", "/profile/", "/reportes/", "/team/presence/"):
        page.goto(f"{asgi_live_server}{path}")
        page.wait_for_load_state("networkidle")
        assert no_sideways_scroll(page), (path, page.evaluate("document.documentElement.scrollWidth"))
        # the navigation does not eat the screen: the page's heading is near the top
        heading = page.locator("main h1").first.bounding_box()
        assert heading is not None and heading["y"] < 220, (path, heading)

    # the sidebar is a drawer behind the menu button
    page.goto(f"{asgi_live_server}/")
    toggle = page.locator(".menu-toggle")
    nav_link = page.locator("#sidebar a[data-nav='inbox:list']")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_have_attribute("aria-controls", "sidebar")
    expect(nav_link).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav_link).to_be_visible()
    expect(page.locator("#sidebar a").first).to_be_focused()
    page.keyboard.press("Escape")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(nav_link).to_be_hidden()
    expect(toggle).to_be_focused()
    toggle.click()
    nav_link.click()
    expect(page).to_have_url(re.compile(r"/inbox/$"))

    # on a desktop the sidebar is always there and the menu button is not
    desktop = browser.new_context(viewport={"width": 1440, "height": 900}, **SPANISH).new_page()
    sign_in_by_mouse(desktop, asgi_live_server, "supervisora")
    expect(desktop.locator(".menu-toggle")).to_be_hidden()
    expect(desktop.locator("#sidebar a[data-nav='inbox:list']")).to_be_visible()


def customer_writes(api: httpx.Client, text: str) -> None:
    response = api.post("/api/v1/conversations", json={
        "customer": {"name": "Ramiro Núñez", "phone": "+573105550000"}, "message": text, "channel": "whatsapp"})
    assert response.status_code in {200, 201}, response.text


def test_unread_work_shows_in_the_title_and_on_the_inbox_item(asgi_live_server: str, browser: Browser):
    UserFactory(username="valeria", role=Role.AGENTE, full_name="Valeria Agente")
    supervisor = UserFactory(username="supervisora", role=Role.SUPERVISOR, full_name="Sara Supervisora")
    c, _m, _new = do_receive_inbound(channel="whatsapp", body="Hola", customer_name="Ramiro Núñez",
                                     phones=["+573105550000"])
    api = api_as(supervisor, asgi_live_server)
    page = browser.new_context(**SPANISH).new_page()
    sign_in_by_mouse(page, asgi_live_server, "valeria")
    expect(page).to_have_title("Inicio · Centralita")
    badge = page.locator("#sidebar [data-unread-count]")
    expect(badge).to_be_hidden()

    # a supervisor hands her the conversation, and the customer writes again
    assert api.post(f"/api/v1/conversations/{c.pk}/assign", json={"assignee": "valeria"}).status_code == 200
    expect(page).to_have_title("(1) Inicio · Centralita", timeout=10_000)
    customer_writes(api, "¿Siguen ahí?")
    expect(badge).to_have_text("1", timeout=10_000)  # the same conversation counts once

    # the count survives moving around in the tab, and opening the conversation clears it
    page.goto(f"{asgi_live_server}/profile/")
    expect(page).to_have_title(re.compile(r"^\(1\) "))
    page.goto(f"{asgi_live_server}/inbox/{c.pk}/")
    expect(page).not_to_have_title(re.compile(r"^\(\d+\)"))
    page.goto(f"{asgi_live_server}/")
    expect(page).to_have_title("Inicio · Centralita")
    expect(badge).to_be_hidden()

    # a conversation opened in place in the inbox clears it too
    customer_writes(api, "Una cosa más")
    expect(page).to_have_title("(1) Inicio · Centralita", timeout=10_000)
    page.evaluate(f"document.body.dispatchEvent(new CustomEvent('centralita:conversation-opened', "
                  f"{{detail: {{id: {c.pk}}}}}))")
    expect(page).to_have_title("Inicio · Centralita")
    assert User.objects.get(username="valeria").availability == "disponible"
