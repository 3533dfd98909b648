"""Browser test (issue 16, automation rules): a supervisor writes a keyword rule in the editor (adding a condition
and choosing its field shows only that field's operators), tries it in the test box, turns it on from the list
without a reload, and a customer's message is answered by it — shown in the conversation as the automation's."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from django.test import override_settings
from playwright.sync_api import Browser, expect

from accounts.actions import do_create_api_token
from accounts.roles import Role
from accounts.tests.factories import UserFactory
from automation.models import AutomationRule
from inbox.models import Message
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]
SHOTS = os.environ.get("SHOTS", "")


@pytest.fixture
def live(transactional_db, request) -> Iterator[str]:
    """The live server running its tasks in-process (the rules' evaluation happens right after the message)."""
    immediate = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
                             "QUEUES": ["default", "crm", "messaging"]}}
    with override_settings(TASKS=immediate):
        yield request.getfixturevalue("asgi_live_server")


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


@pytest.mark.parametrize("viewport", [{"width": 1440, "height": 900}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_supervisor_writes_tests_and_turns_on_a_keyword_rule(live: str, browser: Browser, viewport):
    asgi_live_server = live
    supervisor = UserFactory(username="sofia", role=Role.SUPERVISOR, full_name="Sofía Supervisora")
    page = login(browser, asgi_live_server, "sofia")
    page.set_viewport_size(viewport)
    # when she opens the rules and starts a new one
    page.goto(f"{asgi_live_server}/automatizacion/reglas/")
    page.click("#new-rule")
    page.fill("#id_name", "Precios")
    # and adds a condition: the message's text contains «precio, cuánto cuesta»
    page.click("#add-condition")
    row = page.locator("#rule-conditions [data-rule-row]").last
    row.locator("[data-cond-field]").select_option("text")
    # then only the text's operators are offered
    visible = row.locator("[data-cond-op] option:not([hidden])")
    expect(visible).to_have_count(3)
    row.locator("[data-cond-op]").select_option("contains")
    row.locator("[data-cond-value]").fill("precio, cuánto cuesta")
    # and the first action answers the customer (its text only: no value field for this action)
    action = page.locator("#rule-actions [data-rule-row]").first
    action.locator("[data-action-type]").select_option("send_message")
    expect(action.locator('[data-part="value"]')).to_be_hidden()
    action.locator("[data-action-text]").fill("Hola {{cliente.primer_nombre}}, le enviamos la lista de precios.")
    # and a second action, added and then removed again
    page.click("#add-action")
    expect(page.locator("#rule-actions [data-rule-row]")).to_have_count(2)
    page.locator("#rule-actions [data-rule-row]").last.locator("[data-remove-row]").click()
    expect(page.locator("#rule-actions [data-rule-row]")).to_have_count(1)
    shot(page, f"rule-editor-{viewport['width']}")
    page.click("#save-rule")
    expect(page.locator(".msg").first).to_contain_text("Regla «Precios» guardada.")
    rule = AutomationRule.objects.get(name="Precios")
    assert rule.conditions == [{"field": "text", "op": "contains", "value": ["precio", "cuánto cuesta"]}]
    assert not rule.active

    # when she tries a sample message in the test box
    page.fill("#id_message", "Buenas, ¿CUÁNTO CUESTA el envío?")
    page.click("#rule-test-run")
    result = page.locator(f'[data-rule-result="{rule.pk}"]')
    expect(result).to_contain_text("Se aplicaría si estuviera activa:")
    expect(result).to_contain_text("Enviar un mensaje al cliente")
    shot(page, f"rule-test-{viewport['width']}")

    # when she turns it on from the list (in place)
    page.goto(f"{asgi_live_server}/automatizacion/reglas/")
    card = page.locator(f'[data-rule="{rule.pk}"]')
    card.locator("[data-rule-toggle]").click()
    expect(card.locator("[data-rule-state]")).to_have_text("Activa")
    rule.refresh_from_db()
    assert rule.active
    shot(page, f"rules-list-{viewport['width']}")

    # then a customer asking for prices is answered by the rule (the server runs its tasks in-process)
    _token, raw = do_create_api_token(supervisor, name="e2e", acting_user=None)
    api = httpx.Client(base_url=asgi_live_server, headers={"Authorization": f"Bearer {raw}"}, timeout=10)
    created = api.post("/api/v1/conversations", json={"customer": {"name": "Ramiro Núñez", "phone": "+573105550000"},
                                                      "message": "¿Qué precio tiene el plan hogar?"})
    assert created.status_code == 201
    conversation_id = created.json()["id"]
    assert Message.objects.filter(conversation_id=conversation_id, author=None, kind="outbound").values_list(
        "body", flat=True).get() == "Hola Ramiro, le enviamos la lista de precios."
    # and the conversation says it was the automation, and which rule
    page.goto(f"{asgi_live_server}/inbox/{conversation_id}/")
    expect(page.locator(".msg-outbound").first).to_contain_text("Automatización · Precios")
    expect(page.locator("li.event", has_text="Regla de automatización «Precios»")).to_contain_text(
        "Enviar un mensaje al cliente (hecho)")
    shot(page, f"rule-conversation-{viewport['width']}")
