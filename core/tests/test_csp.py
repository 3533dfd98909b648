"""Issue 12: the Content-Security-Policy. Every page gets it, nothing inline runs without the request's nonce, and
no template or script of ours needs 'unsafe-inline' or 'unsafe-eval' (docs/security.md)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.template.autoreload import get_template_directories
from django.test import Client
from django.urls import reverse

from core.actions import check_update_site_settings

REPO = Path(settings.BASE_DIR)
NONCE = re.compile(r"'nonce-([^']+)'")


def _policy(header: str) -> dict[str, list[str]]:
    directives = (part.strip().split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


# --- the header --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_page_gets_the_policy_and_its_inline_style_carries_the_nonce_of_the_header(admin_user, client_for):
    # given an organisation colour (base.html writes it in the one inline <style> block)
    check_update_site_settings(admin_user, company_name="Andina", default_language="es", brand_color="#aa3300")
    client = client_for(admin_user)

    # when a page is opened twice
    first, second = client.get(reverse("accounts:home")), client.get(reverse("accounts:home"))

    # then the policy allows our own files and this response's nonce, and nothing inline or evaluated
    policy = _policy(first["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"][0] == "'self'" and policy["style-src"][0] == "'self'"
    assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"] and policy["form-action"][0] == "'self'"
    assert "'unsafe-inline'" not in first["Content-Security-Policy"]
    assert "'unsafe-eval'" not in first["Content-Security-Policy"]
    # and the nonce of the header is the one on the page's <style>, fresh for every response
    nonce = NONCE.search(" ".join(policy["style-src"]))
    assert nonce is not None
    html = first.content.decode()
    assert f'<style nonce="{nonce.group(1)}">body {{ --brand: #aa3300;' in html
    assert nonce.group(1) not in second["Content-Security-Policy"]


@pytest.mark.django_db
def test_anonymous_pages_and_the_django_admin_get_the_policy():
    for url in (reverse("accounts:login"), "/django-admin/login/"):
        response = Client().get(url)
        assert response.status_code == 200, url
        assert "script-src 'self'" in response["Content-Security-Policy"], url


# --- the templates and scripts: nothing that would need 'unsafe-inline' or 'unsafe-eval' ---------------------


# Email bodies, not pages: a mail client renders them (inline <style> is how email is styled); the campaign editor's
# preview serves them in a sandboxed frame with a policy of their own (campaigns.views.email_frame).
EMAIL_BODIES = ("campaigns/templates/campaigns/email/",)


def _our_templates() -> list[Path]:
    dirs = [d for d in get_template_directories() if d.is_relative_to(REPO) and ".venv" not in d.parts]
    return sorted({f for d in dirs for f in d.rglob("*.html")
                   if not any(str(f.relative_to(REPO)).startswith(prefix) for prefix in EMAIL_BODIES)})


class _InlineCodeFinder(HTMLParser):
    """Collects what the policy would block: event-handler attributes, javascript: URLs, style="" attributes,
    htmx attributes evaluated as code, and <script>/<style> blocks without the nonce."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _value in attrs}
        line = self.getpos()[0]
        for name, value in attrs:
            text = (value or "").strip().lower()
            if re.fullmatch(r"on[a-z]+", name):
                self.found.append(f"line {line}: <{tag} {name}=…> (inline event handler)")
            if text.startswith("javascript:"):
                self.found.append(f"line {line}: <{tag} {name}=\"javascript:…\">")
            if name == "style":
                self.found.append(f"line {line}: <{tag} style=…> (use a class in a stylesheet)")
            if re.match(r"(data-)?hx-on", name) or (name.startswith(("hx-", "data-hx-")) and text.startswith("js:")):
                self.found.append(f"line {line}: <{tag} {name}=…> (htmx would evaluate it: needs 'unsafe-eval')")
            if name in {"hx-trigger", "data-hx-trigger"} and "[" in text:
                self.found.append(f"line {line}: <{tag} {name}=…[filter]> (evaluated: needs 'unsafe-eval')")
        if tag == "script" and "src" not in names and "nonce" not in names:
            kind = dict(attrs).get("type") or ""
            if kind.lower() != "application/json":
                self.found.append(f"line {line}: inline <script> without nonce")
        if tag == "style" and "nonce" not in names:
            self.found.append(f"line {line}: <style> block without nonce (move it to a stylesheet)")


def test_templates_hold_no_inline_handlers_styles_or_scripts_without_the_nonce():
    templates = _our_templates()
    assert len(templates) > 90  # every app's templates were found, not just templates/
    problems = []
    for path in templates:
        finder = _InlineCodeFinder()
        finder.feed(path.read_text())
        problems += [f"{path.relative_to(REPO)} {p}" for p in finder.found]
    assert not problems, "\n".join(problems)


def test_the_scanner_catches_each_kind_of_inline_code():
    # given one offender of each kind / when scanned / then each is reported
    finder = _InlineCodeFinder()
    finder.feed('<select onchange="this.form.submit()"></select><a href=" JavaScript:go()">x</a>'
                '<p style="margin:0"></p><button hx-on:click="x()"></button><div hx-trigger="keyup[ctrlKey]"></div>'
                '<script>alert(1)</script><style>p{}</style>'
                '<script type="application/json">{}</script><script nonce="{{ csp_nonce }}">ok()</script>'
                '<style nonce="{{ csp_nonce }}">p{}</style><script src="/static/x.js"></script>')
    assert len(finder.found) == 7, finder.found


# Patterns that only run with 'unsafe-eval' or 'unsafe-inline', or that write inline handlers and styles.
FORBIDDEN_IN_JS = {
    r"\beval\s*\(": "eval",
    r"\bnew\s+Function\b": "new Function",
    r"\bset(Timeout|Interval)\s*\(\s*['\"`]": "string timer",
    r"setAttribute\(\s*['\"](on[a-z]+|style)['\"]": "inline handler or style attribute",
    r"(innerHTML|outerHTML|insertAdjacentHTML).*(\sstyle=|\son[a-z]+=)": "HTML with inline handler or style",
    r"javascript:": "javascript: URL",
    r"inlineScriptNonce": "htmx would stamp the page's nonce on scripts inside swapped fragments",
}


def test_our_scripts_need_neither_eval_nor_inline_code():
    scripts = sorted(p for p in REPO.glob("*/**/static/**/*.js") if "vendor" not in p.parts and ".venv" not in p.parts
                     and "node_modules" not in p.parts)
    assert len(scripts) > 5
    problems = [f"{path.relative_to(REPO)}:{n}: {what}"
                for path in scripts for n, line in enumerate(path.read_text().splitlines(), 1)
                for pattern, what in FORBIDDEN_IN_JS.items() if re.search(pattern, line)]
    assert not problems, "\n".join(problems)
