"""Browser proof of the Content-Security-Policy (issue 12): walking every main screen as the agent, the supervisor
and the administrator — and using them: opening a conversation in place and writing a note, the call screen's
dialog, filters that send themselves, a confirmation, the charts, the Django admin, the web-chat demo page with the
public widget — Chromium reports not one `securitypolicyviolation`, and every page came with the policy.

The collector is an init script that forwards each violation event to Python through an exposed function, so it
survives navigations; Chromium's "Refused to …" console messages are collected as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page, Response, expect

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD
from connectors.webchat.models import ChatSite
from leads.models import Lead
from reports.tests.csvdata import conv, run_import, sale, write_conversations, write_sales
from reports.tests.leadflow_data import LeadNoteFactory
from tests.e2e.screens import ADMIN, AGENT, SCREENS, SUPERVISOR, World, build_world, visit

pytestmark = [pytest.mark.e2e]

COLLECTOR = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolation({directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample,
                         where: e.sourceFile + ":" + e.lineNumber, page: location.pathname + location.search});
  window.__cspSeen = (window.__cspSeen || 0) + 1;  // after the call above, so Python has it once this shows
}, true);
"""


@dataclass
class Watch:
    """What one browser context saw: policy violations, and HTML documents that arrived without the policy."""

    violations: list[str] = field(default_factory=list)
    unprotected: list[str] = field(default_factory=list)

    def on_violation(self, event: dict[str, Any]) -> None:
        self.violations.append(f"{event['page']}: {event['directive']} blocked {event['blocked'] or 'inline'} "
                               f"at {event['where']} {event['sample']!r}")

    def on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.violations.append(f"console: {message.text}")

    def on_response(self, response: Response) -> None:
        if (response.request.resource_type == "document" and response.status == 200
                and "content-security-policy" not in response.headers):
            self.unprotected.append(response.url)


def watched(context: BrowserContext, watch: Watch) -> BrowserContext:
    context.expose_function("__cspViolation", watch.on_violation)
    context.add_init_script(COLLECTOR)
    context.on("console", watch.on_console)
    context.on("response", watch.on_response)
    return context


def signed_in(browser: Browser, base: str, username: str | None, watch: Watch) -> Page:
    page = watched(browser.new_context(viewport={"width": 1440, "height": 900}), watch).new_page()
    page.goto(f"{base}/login/")
    if username is not None:
        page.fill("#id_username", username)
        page.fill("#id_password", DEFAULT_PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("#realtime-state")).to_have_attribute("data-state", "connected", timeout=10_000)
    return page


@pytest.fixture
def live(transactional_db: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """The live server running tasks in-process, so web-chat and note side effects happen as with a worker."""
    immediate = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
                             "QUEUES": settings.TASK_QUEUES}}
    with override_settings(TASKS=immediate):
        yield request.getfixturevalue("asgi_live_server")


def reports_history(tmp_path: Path) -> None:
    """Enough numbers for the dashboard's and the lead-flow report's charts to draw (imported, then noted)."""
    today = timezone.localdate()
    rows = [conv(f"C{i}", f"K{i}", f"{today - timedelta(days=i)}T08:00:00", agent="ana", state="resuelta",
                 closed_at=f"{today - timedelta(days=i)}T12:00:00", outcome="genero_venta",
                 first_response_seconds="600", resolution_seconds="3600") for i in range(4)]
    run_import(write_conversations(tmp_path, rows), write_sales(tmp_path, [sale("S0", "C0", "90000")]))
    ana, now = User.objects.get(username=AGENT), timezone.now()
    for lead, outcome in zip(Lead.objects.all()[:2], ("positivo", "negativo"), strict=True):
        LeadNoteFactory(lead=lead, author=ana, created_at=now - timedelta(minutes=5), outcome=outcome)


def test_the_collector_reports_a_blocked_inline_script(live: str, browser: Browser):
    # given a watched page / when something inserts an inline script without the nonce
    watch = Watch()
    page = signed_in(browser, live, None, watch)
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
                  " document.head.appendChild(s); }")
    # then it did not run, and the violation reached Python
    page.wait_for_function("() => window.__cspSeen > 0")
    assert page.evaluate("window.__ran") is None
    assert any("script-src" in v for v in watch.violations), watch.violations
    assert not watch.unprotected


def test_no_policy_violation_on_any_screen_as_people_use_them(live: str, browser: Browser, tmp_path: Path):
    world = build_world()
    reports_history(tmp_path)
    User.objects.filter(username=ADMIN).update(is_staff=True, is_superuser=True)  # the Django admin, too
    watch = Watch()
    pages = {who: signed_in(browser, live, who, watch) for who in (AGENT, SUPERVISOR, ADMIN)}

    # every screen of the menu, each by the role that works there (anonymous ones in a fresh context)
    anonymous = signed_in(browser, live, None, watch)
    for screen in SCREENS:
        visit(pages[screen.user] if screen.user else anonymous, world.url(live, screen))

    agent, supervisor, admin = pages[AGENT], pages[SUPERVISOR], pages[ADMIN]
    use_the_workspace(agent, live, world)
    use_the_call_screen(agent, live, world)
    use_the_reports(supervisor, live)
    use_filters_that_send_themselves(supervisor, admin, live)
    use_a_confirmation(admin, live, world)
    use_the_django_admin(admin, live)
    use_the_web_chat_widget(anonymous, live)

    assert not watch.unprotected, watch.unprotected
    assert not watch.violations, "\n".join(watch.violations)


def use_the_workspace(page: Page, base: str, world: World) -> None:
    # the list, a conversation opened in place (htmx swaps, its scripts), a note sent in place, a saved view
    page.goto(f"{base}/inbox/?state=pendiente")
    row = page.locator(f"li[data-conversation-id='{world.conversation}'] a.ws-row-link")
    if row.count():
        row.click()
    else:
        page.goto(f"{base}/inbox/{world.conversation}/")
    expect(page.locator("#reply-form")).to_be_visible()
    page.check("input[name=kind][value=note]")
    page.fill("#reply-body", "Nota escrita bajo la política de seguridad")
    page.click("#send-reply")
    expect(page.locator("#timeline .msg-note").last).to_contain_text("bajo la política de seguridad")

    page.goto(f"{base}/inbox/?state=pendiente")
    page.click("details.ws-saved summary")
    page.fill("#save-view-form input[name=name]", "Pendientes CSP")
    page.click("#save-view-form button")
    expect(page.locator("#saved-views a", has_text="Pendientes CSP")).to_have_attribute(
        "href", re.compile(r"state=pendiente"))


def use_the_call_screen(page: Page, base: str, world: World) -> None:
    page.goto(f"{base}/call-center-queue")
    page.fill("#id_q", "Pedido")  # the queue filters as one types (htmx)
    page.wait_for_load_state("networkidle")
    page.goto(f"{base}/call-center-queue/leads/{world.lead}/")
    open_templates = page.locator("#open-templates")
    if open_templates.count():
        open_templates.click()
        expect(page.locator("#templates-dialog")).to_be_visible()
        page.keyboard.press("Escape")


def use_the_reports(page: Page, base: str) -> None:
    page.goto(f"{base}/reportes/")
    page.wait_for_selector("body[data-dashboard=ready]")
    # (functions, not expressions: Playwright polls an expression with eval(), which the policy refuses)
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('chart-agent_volume'))")
    page.select_option("#id_granularity", "day")
    expect(page).to_have_url(re.compile(r"granularity=day"))
    page.goto(f"{base}/reportes/leads/")
    page.wait_for_function("() => window.Chart && [...document.querySelectorAll('canvas')]"
                           ".some(c => Chart.getChart(c))")


def use_filters_that_send_themselves(supervisor: Page, admin: Page, base: str) -> None:
    supervisor.goto(f"{base}/team/presence/")
    supervisor.select_option("#team", "ventas-a11y")
    expect(supervisor).to_have_url(re.compile(r"team=ventas-a11y"))
    admin.goto(f"{base}/settings/kommo/webhooks/")
    admin.select_option("select[name=state]", index=1)
    expect(admin).to_have_url(re.compile(r"state=\w+"))


def use_a_confirmation(page: Page, base: str, world: World) -> None:
    # "Generar un token nuevo" asks first; declining sends nothing, accepting rotates the token
    token = ChatSite.objects.get(pk=world.site).token
    page.goto(f"{base}/webchat/sites/{world.site}/")
    asked: list[str] = []

    def decline(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", decline)
    page.click("text=Generar un token nuevo")  # (a form sent from the click would be awaited by the click)
    assert asked and "token nuevo" in asked[0]
    assert ChatSite.objects.get(pk=world.site).token == token
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click("text=Generar un token nuevo")
    assert ChatSite.objects.get(pk=world.site).token != token


def use_the_django_admin(page: Page, base: str) -> None:
    response = page.goto(f"{base}/django-admin/")
    assert response is not None and response.ok
    page.locator("#content-main a[href*=\"/django-admin/\"]").first.click()  # a change list
    expect(page.locator("#changelist, #content-main").first).to_be_visible()


def use_the_web_chat_widget(page: Page, base: str) -> None:
    # the public widget on the demo page: its shadow-root stylesheet, its API and its websocket
    page.goto(f"{base}/webchat/demo/")
    page.locator(".cw-bubble").click()
    page.locator(".cw-prechat input[name=name]").fill("Visitante CSP")
    page.locator(".cw-prechat button[type=submit]").click()
    composer = page.locator(".cw-composer textarea")
    composer.fill("Hola desde la página de demostración")
    composer.press("Enter")
    expect(page.locator(".cw-msg.cw-in").last).to_contain_text("Hola desde la página", timeout=10_000)
