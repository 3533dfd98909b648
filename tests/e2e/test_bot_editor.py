"""Browser test (the bot's flow editor): a supervisor opens a one-step flow, adds a step from the palette, writes its
text in the side form, links the two by dragging an arrow, saves and publishes without a reload, then chats with
it in the simulator and sees the bot's answers. Drawflow draws the diagram; the page must raise no Content-Security-
Policy violation (Drawflow moves nodes through element.style, which the policy allows) and no script error."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from bots.actions import check_create_flow
from bots.models import BotFlow
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]

WATCH = """
window.__problems = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__problems.push("CSP " + e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sample);
}, true);
window.addEventListener("error", (e) => { window.__problems.push("JS " + e.message); });
"""


def _centre(page: Page, selector: str) -> tuple[float, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_a_supervisor_adds_a_step_links_it_publishes_and_simulates(
        browser: Browser, transactional_db: Any, request: pytest.FixtureRequest) -> None:
    # given a supervisor and a draft whose only step greets and leads nowhere
    lucia = UserFactory(username="lucia", role=Role.SUPERVISOR, full_name="Lucía Peña")
    flow = check_create_flow(lucia, name="Bienvenida", graph={"start": "hola", "steps": {
        "hola": {"type": "send", "text": "¡Hola! Soy el asistente.", "x": 60, "y": 80}}})
    live = request.getfixturevalue("asgi_live_server")
    page = login(browser, live, "lucia")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.add_init_script(WATCH)

    # when she opens the editor, the step is drawn with its type, text and one labelled exit
    page.goto(f"{live}/bots/{flow.pk}/")
    hola = page.locator(".drawflow-node", has_text="¡Hola! Soy el asistente.")
    expect(hola).to_contain_text("Enviar mensaje")
    expect(hola.locator(".output")).to_have_attribute("data-label", "siguiente")
    expect(page.get_by_test_id("bot-problems")).to_contain_text("Sin continuación en: «siguiente».")

    # and adds an "end" step from the palette and writes its text in the side form
    page.get_by_test_id("bot-add-end").click()
    form = page.get_by_test_id("bot-step-form")
    expect(form).to_contain_text("Fin")
    form.get_by_label("Mensaje de despedida").fill("¡Gracias por escribirnos!")
    fin = page.locator(".drawflow-node", has_text="¡Gracias por escribirnos!")
    expect(fin).to_be_visible()
    expect(page.locator("[data-dirty-state]")).to_be_visible()

    # and links the greeting to it by dragging from its exit to the new step's entry
    fin_id = fin.get_attribute("id")
    x, y = _centre(page, f"#{hola.get_attribute('id')} .output_1")
    page.mouse.move(x, y)
    page.mouse.down()
    tx, ty = _centre(page, f"#{fin_id} .input_1")
    page.mouse.move((x + tx) / 2, (y + ty) / 2)
    page.mouse.move(tx, ty)
    page.mouse.up()
    expect(page.locator(".drawflow .connection")).to_have_count(1)

    # and saves: no reload, a sentence, and the problem is gone
    page.get_by_test_id("bot-save").click()
    expect(page.get_by_test_id("bot-feedback")).to_contain_text("Diagrama guardado.")
    expect(page.get_by_test_id("bot-problems")).not_to_contain_text("Sin continuación")
    expect(page.locator("[data-dirty-state]")).to_be_hidden()
    flow.refresh_from_db()
    end_id = next(k for k, s in flow.graph["steps"].items() if s["type"] == "end")
    assert flow.graph["steps"]["hola"]["next"] == {"next": end_id}
    assert flow.graph["steps"][end_id]["text"] == "¡Gracias por escribirnos!"

    # and publishes
    page.get_by_test_id("bot-publish").click()
    expect(page.get_by_test_id("bot-feedback")).to_contain_text("Versión 1 publicada")
    expect(page.get_by_test_id("bot-published")).to_have_text("Versión 1 publicada")
    published = BotFlow.objects.get(pk=flow.pk).published
    assert published is not None and published.number == 1

    # then, in the simulator, a customer's "hola" gets both of the bot's messages
    page.get_by_test_id("bot-tab-sim").click()
    page.get_by_test_id("bot-sim-input").fill("hola")
    page.get_by_test_id("bot-sim-input").press("Enter")
    chat = page.get_by_test_id("bot-sim-chat")
    expect(chat.get_by_test_id("bot-sim-answer")).to_contain_text(["¡Hola! Soy el asistente.",
                                                                    "¡Gracias por escribirnos!"])
    expect(page.get_by_test_id("bot-sim-state")).to_contain_text("Terminado")
    assert page.evaluate("window.__problems") == []


def test_the_simulator_offers_choices_as_buttons_and_an_analyst_reads_without_editing(
        browser: Browser, transactional_db: Any, request: pytest.FixtureRequest) -> None:
    # given the example flow, and an analyst (may look and test, not change)
    sara = UserFactory(username="sara", role=Role.SUPERVISOR)
    UserFactory(username="alba", role=Role.ANALISTA)
    from bots.forms import example_graph

    flow = check_create_flow(sara, name="Ejemplo", graph=example_graph())
    live = request.getfixturevalue("asgi_live_server")
    page = login(browser, live, "alba")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.add_init_script(WATCH)
    page.goto(f"{live}/bots/{flow.pk}/")
    # then there is no palette nor save, and a step's form opens read-only
    expect(page.locator(".drawflow-node")).to_have_count(6)
    expect(page.get_by_test_id("bot-save")).to_have_count(0)
    expect(page.locator("[data-add-step]")).to_have_count(0)
    page.locator(".drawflow-node", has_text="¿En qué le puedo ayudar?").click()
    expect(page.get_by_test_id("bot-step-form").get_by_label("Pregunta")).to_be_disabled()
    # when the analyst tests it and presses an offered choice
    page.get_by_test_id("bot-tab-sim").click()
    page.get_by_test_id("bot-sim-input").fill("hola")
    page.get_by_test_id("bot-sim-send").click()
    page.get_by_test_id("bot-sim-choice").filter(has_text="Hablar con alguien").click()
    # then the handoff is said as the bot would, and as a note of what would happen
    chat = page.get_by_test_id("bot-sim-chat")
    expect(chat).to_contain_text("Le comunico con una persona del equipo")
    expect(chat.get_by_test_id("bot-sim-note")).to_contain_text("Derivaría la conversación a una persona")
    expect(page.locator(".drawflow-node.is-current")).to_contain_text("Derivar a una persona")
    assert page.evaluate("window.__problems") == []


def test_the_bot_pages_pass_axe_and_fit_a_phone(browser: Browser, transactional_db: Any,
                                                request: pytest.FixtureRequest) -> None:
    # given a flow of six steps and someone who edits it
    from bots.forms import example_graph
    from tests.e2e.test_accessibility import axe_violations, describe

    UserFactory(username="lucia", role=Role.SUPERVISOR)
    flow = check_create_flow(UserFactory(role=Role.SUPERVISOR), name="Ejemplo", graph=example_graph())
    live = request.getfixturevalue("asgi_live_server")
    page = login(browser, live, "lucia")
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        for path in ("/bots/", f"/bots/{flow.pk}/", f"/bots/{flow.pk}/estadisticas/", "/bots/nuevo/"):
            page.goto(f"{live}{path}")
            # then nothing serious for axe, and nothing wider than the screen
            violations = axe_violations(page)
            assert not violations, f"{path} at {width}px\n{describe(violations)}"
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (path, width)
    # and with a step's form open and a conversation in the simulator
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live}/bots/{flow.pk}/")
    page.locator(".drawflow-node", has_text="¿En qué le puedo ayudar?").click()
    expect(page.get_by_test_id("bot-step-form")).to_contain_text("Opciones")
    violations = axe_violations(page)
    assert not violations, f"step form\n{describe(violations)}"
    page.get_by_test_id("bot-tab-sim").click()
    page.get_by_test_id("bot-sim-input").fill("hola")
    page.get_by_test_id("bot-sim-send").click()
    expect(page.get_by_test_id("bot-sim-choice")).to_have_count(2)
    violations = axe_violations(page)
    assert not violations, f"simulator\n{describe(violations)}"
