"""Browser test: axe-core finds nothing serious or critical on any main page, in Spanish and in English
(STYLE.md habit 17: "every control has a label; axe-core finds nothing serious").

axe-core is vendored for tests only (tests/e2e/vendor/, see VERSIONS.json) and injected into each page; the app
never serves it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.screens import SCREENS, SCREENS_BY_NAME, SUPERVISOR, Screen, build_world, open_as, visit

pytestmark = [pytest.mark.e2e]
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}
LANGUAGES = ["es", "en"]
# Dialogs are hidden until opened, so axe does not see them on the page itself: each opener is clicked in turn.
DIALOG_OPENERS = [  # (screen, who, the buttons that open a dialog)
    (SCREENS_BY_NAME["inbox-list"], None, "button[data-action=shortcuts]"),
    (SCREENS_BY_NAME["inbox-conversation"], SUPERVISOR, "#conv-header button[data-dialog]"),  # all four
    (SCREENS_BY_NAME["call-screen"], None, "#open-templates"),
]


def axe_violations(page: Page) -> list[dict[str, Any]]:
    if not page.evaluate("typeof axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: a <script> tag (add_script_tag) is inline code the page's
        # Content-Security-Policy refuses.
        page.evaluate(AXE.read_text())
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v["impact"] in BLOCKING]


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"]:
            lines.append(f"    {' > '.join(map(str, node['target']))}")
            summary = node.get("failureSummary", "").replace("\n", " ").strip()
            if summary:
                lines.append(f"      {summary[:300]}")
    return "\n".join(lines)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
def test_no_serious_accessibility_violations(screen: Screen, language: str, asgi_live_server: str,
                                             browser: Browser):
    world = build_world(language)
    page = open_as(browser, asgi_live_server, screen.user, language=language)
    try:
        visit(page, world.url(asgi_live_server, screen))
        assert page.locator("html").get_attribute("lang") == language
        violations = axe_violations(page)
        assert not violations, f"{screen.name} ({language}) {page.url}\n{describe(violations)}"
    finally:
        page.context.close()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("screen", "who", "openers"), DIALOG_OPENERS, ids=[s.name for s, _w, _o in DIALOG_OPENERS])
def test_no_serious_accessibility_violations_in_dialogs(screen: Screen, who: str | None, openers: str,
                                                        language: str, asgi_live_server: str, browser: Browser):
    world = build_world(language)
    page = open_as(browser, asgi_live_server, who or screen.user, language=language)
    try:
        visit(page, world.url(asgi_live_server, screen))
        buttons = page.locator(openers)
        assert buttons.count() > 0, f"no {openers} on {screen.name}"
        found = []
        for button in buttons.all():
            name = button.inner_text().strip()
            button.click()
            dialog = page.locator("dialog[open]")
            dialog.wait_for()
            expect(dialog.locator("[aria-busy=true]")).to_have_count(0)  # parts refreshed on opening
            violations = axe_violations(page)
            if violations:
                found.append(f"{screen.name} ({language}), dialog opened by «{name}» "
                             f"(#{dialog.get_attribute('id')}):\n{describe(violations)}")
            dialog.evaluate("d => d.close()")
        assert not found, "\n".join(found)
    finally:
        page.context.close()
