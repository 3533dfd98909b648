"""Browser test: the pages people work in all day never scroll sideways, on a phone (390x844) or on a desktop
(1440x900) (STYLE.md habit 17: "every page works at 390 px wide")."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.screens import SCREENS, SCREENS_BY_NAME, Screen, build_world, open_as, visit

pytestmark = [pytest.mark.e2e]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
PHONE_SCREENS = [SCREENS_BY_NAME[name] for name in (
    "home", "inbox-list", "inbox-conversation", "call-queue", "call-screen", "reports-dashboard", "profile")]
NO_OVERFLOW = "document.documentElement.scrollWidth <= window.innerWidth"
# The widest elements sticking out on the right, to say what to fix (not part of the assertion).
CULPRITS = """() => {
  const limit = window.innerWidth;
  const path = el => {
    const parts = [];
    for (let n = el; n && n.nodeType === 1 && parts.length < 4; n = n.parentElement) {
      parts.unshift(n.tagName.toLowerCase() + (n.id ? '#' + n.id : '') +
                    (n.classList.length ? '.' + [...n.classList].join('.') : ''));
    }
    return parts.join(' > ');
  };
  return [...document.querySelectorAll('body *')]
    .map(el => ({el, right: el.getBoundingClientRect().right}))
    .filter(({el, right}) => right > limit + 0.5 && getComputedStyle(el).position !== 'fixed')
    .filter(({el}) => !el.parentElement || el.parentElement.getBoundingClientRect().right <= limit + 0.5)
    .slice(0, 8).map(({el, right}) => `${path(el)} (right edge ${Math.round(right)}px)`);
}"""


def overflow_report(page: Page) -> str:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return f"scrollWidth {width[0]} > innerWidth {width[1]}:\n    " + "\n    ".join(page.evaluate(CULPRITS))


@pytest.mark.parametrize("screen", PHONE_SCREENS, ids=[s.name for s in PHONE_SCREENS])
def test_no_sideways_scroll_on_a_phone(screen: Screen, asgi_live_server: str, browser: Browser):
    world = build_world("es")
    page = open_as(browser, asgi_live_server, screen.user, viewport=PHONE)
    try:
        visit(page, world.url(asgi_live_server, screen))
        assert page.evaluate(NO_OVERFLOW), f"{screen.name} at 390px: {overflow_report(page)}"
    finally:
        page.context.close()


def _overflowing(base: str, browser: Browser, viewport: dict[str, int]) -> list[str]:
    """Every main page at `viewport`, one server and one sign-in per role (the pages are only read)."""
    world = build_world("es")
    pages: dict[str | None, Page] = {}
    overflowing = []
    try:
        for screen in SCREENS:
            if screen.user not in pages:
                pages[screen.user] = open_as(browser, base, screen.user, viewport=viewport)
            page = pages[screen.user]
            visit(page, world.url(base, screen))
            if not page.evaluate(NO_OVERFLOW):
                overflowing.append(f"{screen.name}: {overflow_report(page)}")
    finally:
        for page in pages.values():
            page.context.close()
    return overflowing


def test_no_sideways_scroll_on_a_desktop(asgi_live_server: str, browser: Browser):
    overflowing = _overflowing(asgi_live_server, browser, DESKTOP)
    assert not overflowing, "\n".join(overflowing)


def test_every_page_fits_a_phone(asgi_live_server: str, browser: Browser):
    """The issue: "every page must work at 390x844 without horizontal scrolling" (not only the seven above)."""
    overflowing = _overflowing(asgi_live_server, browser, PHONE)
    assert not overflowing, "\n".join(overflowing)
