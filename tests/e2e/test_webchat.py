"""Browser test (web chat): a visitor on the demo page writes, the agent (another browser context) sees it live in
the inbox, typing shows both ways, the agent answers and the visitor sees the reply live; a reload keeps the chat."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from playwright.sync_api import Browser, expect

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from connectors.webchat.actions import do_ensure_demo_site
from connectors.webchat.models import ChatSite
from connectors.webchat.tests.factories import ChatSiteFactory
from inbox.actions import do_send_automatic
from inbox.models import Conversation, Message
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def live(transactional_db: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """The live server delivering replies in-process (ImmediateBackend), as the worker would."""
    immediate = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
                             "QUEUES": settings.TASK_QUEUES}}
    with override_settings(TASKS=immediate):
        yield request.getfixturevalue("asgi_live_server")


def test_visitor_and_agent_chat_live_with_typing_both_ways(live: str, browser: Browser):
    # given the demo site (answering into Global) and an available agent watching her inbox
    do_ensure_demo_site()
    UserFactory(username="valeria", role=Role.AGENTE, full_name="Valeria Agente", availability="disponible")
    agent = login(browser, live, "valeria")
    agent.goto(f"{live}/inbox/")
    expect(agent.locator("#realtime-state")).to_have_attribute("data-state", "connected", timeout=10_000)

    # when a visitor opens the chat on the demo page, gives her name and writes
    visitor = browser.new_context(locale="es-CO").new_page()  # the widget speaks the visitor's language
    visitor.goto(f"{live}/webchat/demo/")
    visitor.locator(".cw-bubble").click()
    expect(visitor.locator(".cw-status")).to_have_text("En línea")
    expect(visitor.locator(".cw-welcome")).to_have_text("¡Hola! ¿En qué podemos ayudarte?")
    visitor.locator(".cw-prechat input[name=name]").fill("Lucía Visitante")
    visitor.locator(".cw-prechat button[type=submit]").click()
    composer = visitor.locator(".cw-composer textarea")
    composer.fill("Hola, ¿hacen envíos a Cali?")
    composer.press("Enter")
    # (confirmed by the server: the pending "Enviando…" label becomes "Tú")
    expect(visitor.locator(".cw-msg.cw-in .cw-meta")).to_have_text("Tú", timeout=10_000)

    # then the conversation appears live in the agent's inbox, and she opens it
    conversation = Conversation.objects.get(channel="webchat")
    row = agent.locator(f"li[data-conversation-id='{conversation.pk}']")
    expect(row).to_contain_text("Lucía Visitante", timeout=10_000)
    row.locator("a.ws-row-link").click()
    expect(agent.locator("#timeline .msg-inbound")).to_contain_text("envíos a Cali")
    expect(agent.locator("#realtime-state")).to_have_attribute("data-state", "connected", timeout=10_000)

    # when the visitor types (without sending), the agent's page says so
    composer.press_sequentially("Y también", delay=30)
    expect(agent.locator("#webchat-visitor-typing")).to_be_visible(timeout=10_000)

    # when the agent types a reply, the widget says so
    agent.locator("#reply-body").press_sequentially("Sí, ", delay=30)
    expect(visitor.locator(".cw-typing")).to_be_visible(timeout=10_000)

    # when she sends it, the visitor sees it live (and the "typing" hint goes away)
    agent.locator("#reply-body").fill("Sí, enviamos a Cali en dos días.")
    agent.locator("#send-reply").click()
    reply = visitor.locator(".cw-msg.cw-out")
    expect(reply).to_contain_text("enviamos a Cali en dos días", timeout=10_000)
    expect(reply.locator(".cw-meta")).to_have_text("Valeria")
    expect(visitor.locator(".cw-typing")).to_be_hidden()

    # and the widget, open on screen, reports it read
    outbound = Message.objects.get(conversation=conversation, kind="outbound")
    for _ in range(50):
        outbound.refresh_from_db()
        if outbound.delivery_status == "read":
            break
        visitor.wait_for_timeout(100)
    assert outbound.delivery_status == "read"

    # when the visitor reloads the page, the chat is still open with the whole conversation
    visitor.reload()
    expect(visitor.locator(".cw-msg")).to_have_count(2, timeout=10_000)
    expect(visitor.locator(".cw-prechat")).to_be_hidden()


@pytest.fixture
def shop_page(live: str) -> Iterator[str]:
    """A customer's website on another origin (its own little server) embedding the widget with one line."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    site = ChatSiteFactory(name="Tienda externa", require_contact="ninguno")
    body = (f'<!doctype html><html lang="es"><body><h1>Tienda</h1>'
            f'<script src="{live}/static/webchat/widget.js" data-site="{site.token}" async></script>'
            f'</body></html>').encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # The shop is served from "localhost", Centralita from "127.0.0.1": two different origins.
    origin = f"http://localhost:{server.server_address[1]}"
    ChatSite.objects.filter(pk=site.pk).update(allowed_origins=[origin])
    yield origin
    server.shutdown()


def test_widget_on_another_origin_when_nobody_is_available(live: str, shop_page: str, browser: Browser):
    # given a shop on its own origin, allowed for its site, and no agent available
    visitor = browser.new_context(locale="es-CO").new_page()
    visitor.goto(f"{shop_page}/")
    # when the visitor opens the chat, it says nobody is available and asks for a way to answer
    visitor.locator(".cw-bubble").click()
    expect(visitor.locator(".cw-status")).to_have_text("Fuera de línea")
    expect(visitor.locator(".cw-offline")).to_contain_text("no hay agentes disponibles")
    visitor.locator(".cw-prechat input[name=name]").fill("Lucía")
    visitor.locator(".cw-prechat button[type=submit]").click()
    expect(visitor.locator(".cw-prechat .cw-error")).to_have_text("Escribe tu correo o tu teléfono.")
    visitor.locator(".cw-prechat input[name=email]").fill("lucia@correo.example")
    visitor.locator(".cw-prechat button[type=submit]").click()
    visitor.locator(".cw-composer textarea").fill("¿Me escriben mañana?")
    visitor.locator(".cw-composer textarea").press("Enter")
    expect(visitor.locator(".cw-msg.cw-in .cw-meta")).to_have_text("Tú", timeout=10_000)
    # then the conversation still lands in the inbox, for the customer with that e-mail
    conversation = Conversation.objects.get(channel="webchat")
    assert conversation.customer.emails.get().email == "lucia@correo.example"
    assert conversation.messages.get().body == "¿Me escriben mañana?"

    # and the same page on an origin the site does not allow ("127.0.0.1" instead of "localhost") gets no chat
    other = browser.new_context(locale="es-CO").new_page()
    other.goto(shop_page.replace("localhost", "127.0.0.1") + "/")
    other.wait_for_timeout(1500)
    expect(other.locator(".cw-bubble")).to_have_count(0)


def test_visitor_answers_the_bots_question_with_a_button(live: str, browser: Browser, monkeypatch):
    # given the demo site, someone available, and a visitor on a phone who wrote once
    do_ensure_demo_site()
    UserFactory(username="valeria", role=Role.AGENTE, full_name="Valeria Agente", availability="disponible")
    UserFactory(username="sofia", role=Role.SUPERVISOR, full_name="Sofía Supervisora")
    context = browser.new_context(locale="es-CO", viewport={"width": 390, "height": 844})
    violations: list[str] = []
    context.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    visitor = context.new_page()
    visitor.goto(f"{live}/webchat/demo/")
    visitor.locator(".cw-bubble").click()
    visitor.locator(".cw-prechat input[name=name]").fill("Lucía Visitante")
    visitor.locator(".cw-prechat button[type=submit]").click()
    visitor.locator(".cw-composer textarea").fill("Hola")
    visitor.locator(".cw-composer textarea").press("Enter")
    expect(visitor.locator(".cw-msg.cw-in .cw-meta")).to_have_text("Tú", timeout=10_000)

    # (and a supervisor has the conversation open)
    conversation = Conversation.objects.get(channel="webchat")
    agent = login(browser, live, "sofia")
    agent.set_viewport_size({"width": 1280, "height": 800})
    agent.goto(f"{live}/inbox/{conversation.pk}/")
    expect(agent.locator("#timeline .msg-inbound")).to_contain_text("Hola")

    # when the bot asks with three options, one of whose titles looks like markup, and the widget shows it
    events: list[dict[str, Any]] = []  # the realtime events this process sends (the live server's layer is its own)
    monkeypatch.setattr("inbox.actions.base.send_event_on_commit",
                        lambda event, **_kw: events.append(json.loads(json.dumps(event))))
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        do_send_automatic(locked, body="¿En qué te ayudo?", meta={
            "bot": {"flow": 1, "name": "Bienvenida", "step": "menu"},
            "choices": {"button": "Ver opciones", "options": [
                {"id": "pedido", "title": "Estado de mi pedido", "description": "Con tu número de pedido"},
                {"id": "humano", "title": "Hablar con alguien", "description": ""},
                {"id": "otro", "title": '<img src=x onerror="window.__pwned=1">Otro', "description": ""}]}})
    visitor.reload()  # (the test's own process wrote it: the widget reads it from its history)
    buttons = visitor.locator(".cw-choices button.cw-choice")
    expect(buttons).to_have_count(3, timeout=10_000)
    expect(visitor.locator(".cw-choices")).to_have_attribute("aria-label", "Opciones de respuesta")
    expect(buttons.nth(0)).to_contain_text("Estado de mi pedido")
    expect(buttons.nth(0).locator(".cw-choice-desc")).to_have_text("Con tu número de pedido")
    expect(buttons.nth(2)).to_have_text('<img src=x onerror="window.__pwned=1">Otro')  # text, never markup
    expect(visitor.locator(".cw-choices img")).to_have_count(0)
    if os.environ.get("SHOTS"):
        visitor.screenshot(path=f"{os.environ['SHOTS']}/webchat-choices-phone.png")

    # and the supervisor's open conversation shows it live (the realtime event handed to the page), as it
    # shows it after a reload: from the bot, with what it offered as read-only chips
    (event,) = [e for e in events if e.get("op") == "message"]
    agent.evaluate("e => document.body.dispatchEvent(new CustomEvent('centralita:conversation', {detail: e}))",
                   event)
    def agent_sees_the_question() -> None:
        question = agent.locator("#timeline .msg-outbound").last
        expect(question).to_contain_text("Bot · Bienvenida")
        chips = question.locator("ul.msg-choices li.msg-choice")
        expect(chips).to_have_count(3)
        expect(chips.nth(2)).to_have_text('<img src=x onerror="window.__pwned=1">Otro')
        expect(question.locator("ul.msg-choices")).to_have_attribute("aria-label", "Opciones ofrecidas al cliente")
        expect(question.locator("ul.msg-choices button, ul.msg-choices img")).to_have_count(0)

    agent_sees_the_question()  # workspace.js built it from the event
    agent.reload()
    agent_sees_the_question()  # the server rendered it
    if os.environ.get("SHOTS"):
        agent.screenshot(path=f"{os.environ['SHOTS']}/inbox-bot-question.png")

    # when she reaches "Hablar con alguien" with the keyboard and presses Enter
    buttons.nth(0).focus()
    visitor.keyboard.press("Tab")
    expect(buttons.nth(1)).to_be_focused()
    visitor.keyboard.press("Enter")

    # then its title is her message, the question's buttons are disabled (the pressed one marked) and the
    # composer has the focus
    expect(visitor.locator(".cw-msg.cw-in").last).to_contain_text("Hablar con alguien")
    expect(visitor.locator(".cw-msg.cw-in .cw-meta").last).to_have_text("Tú", timeout=10_000)
    for index in range(3):
        expect(buttons.nth(index)).to_be_disabled()
    expect(buttons.nth(1)).to_have_attribute("aria-pressed", "true")
    expect(visitor.locator(".cw-composer textarea")).to_be_focused()
    if os.environ.get("SHOTS"):
        visitor.screenshot(path=f"{os.environ['SHOTS']}/webchat-choices-answered-phone.png")
    # and the inbox has her answer with the option's id, for the bot to match
    answer = Message.objects.filter(conversation=conversation, kind="inbound").latest("id")
    assert answer.body == "Hablar con alguien"
    assert answer.meta["reply"] == {"kind": "button_reply", "id": "humano", "title": "Hablar con alguien",
                                    "description": ""}

    # when she reloads, the answered question stays closed, with her choice marked
    visitor.reload()
    expect(buttons).to_have_count(3, timeout=10_000)
    for index in range(3):
        expect(buttons.nth(index)).to_be_disabled()
    expect(buttons.nth(1)).to_have_attribute("aria-pressed", "true")
    assert visitor.evaluate("window.__pwned") is None and agent.evaluate("window.__pwned") is None
    assert violations == []
