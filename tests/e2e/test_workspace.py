"""Browser tests (issue 11): the three-pane workspace as people use it — transfers that never lose a
conversation, the people picker, the keyboard, in-place changes without reloading, bulk actions and tasks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from playwright.sync_api import Browser, Page, expect

from accounts.roles import Role
from accounts.tests.factories import TeamFactory, UserFactory
from inbox import actions
from inbox.models import Conversation, Inbox, Task
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def teams(transactional_db: Any) -> dict[str, Any]:
    """Marketing (Ana) and Ventas (Raúl), both assigning by hand, and a supervisor (Fernanda)."""
    marketing_team = TeamFactory(code="marketing-e2e", name="Marketing E2E")
    ventas_team = TeamFactory(code="ventas-e2e", name="Ventas E2E")
    marketing, _ = Inbox.objects.update_or_create(code="marketing", defaults={"name": "Marketing",
                                                                              "auto_assign": False})
    ventas, _ = Inbox.objects.update_or_create(code="ventas", defaults={"name": "Ventas", "auto_assign": False})
    marketing.teams.set([marketing_team])
    ventas.teams.set([ventas_team])
    ana = UserFactory(username="ana", role=Role.AGENTE, full_name="Ana Marketing", availability="disponible")
    ana.teams.add(marketing_team)
    raul = UserFactory(username="raul", role=Role.AGENTE, full_name="Raúl Mendoza", availability="disponible")
    raul.teams.add(ventas_team)
    fernanda = UserFactory(username="fernanda", role=Role.SUPERVISOR, full_name="Fernanda Cárdenas")
    return {"marketing": marketing, "ventas": ventas, "ana": ana, "raul": raul, "fernanda": fernanda}


def inbound(name: str, phone: str, body: str, inbox: str = "marketing") -> Conversation:
    c, _m, _new = actions.do_receive_inbound(channel="whatsapp", body=body, customer_name=name, phones=[phone],
                                             inbox_code=inbox)
    return c


def open_workspace(page: Page, base: str, path: str = "/inbox/") -> None:
    page.goto(f"{base}{path}")
    expect(page.locator("#realtime-state")).to_have_attribute("data-state", "connected", timeout=10_000)
    page.evaluate("window.__sameDocument = 'yes'")


def same_document(page: Page) -> bool:
    return page.evaluate("window.__sameDocument") == "yes"


def test_transfer_outside_the_inbox_is_refused_and_a_move_with_the_person_reaches_them(
        asgi_live_server: str, browser: Browser, teams: dict[str, Any]):
    # given a Marketing conversation owned by Ana
    c = inbound("Lucía Paredes", "+573001110001", "Quiero cambiar mi plan")
    actions.check_assign(teams["fernanda"], c.pk, assignee=teams["ana"].pk)
    page = login(browser, asgi_live_server, "fernanda")
    open_workspace(page, asgi_live_server, f"/inbox/{c.pk}/")

    # when the supervisor opens "Transferir", the picker offers only people who work Marketing
    page.click("[data-dialog=transfer-dialog]")
    page.click("#transfer-q")
    options = page.locator("#transfer-options .picker-option")
    expect(options.first).to_be_visible()
    expect(page.locator("#transfer-options")).to_contain_text("Ana Marketing")
    expect(page.locator("#transfer-options")).not_to_contain_text("Raúl Mendoza")

    # and a hand-made request for Raúl (not in Marketing) is refused with a clear message, nothing moves
    page.evaluate(f"document.querySelector('#transfer-form [name=to_user]').value = '{teams['raul'].pk}'")
    page.fill("#transfer-context", "El cliente pregunta por un plan empresarial de ventas.")
    page.click("#transfer-submit")
    expect(page.locator("#err-transfer-form")).to_contain_text("Raúl Mendoza no atiende la bandeja «Marketing»")
    c.refresh_from_db()
    assert c.assignee == teams["ana"] and c.inbox.code == "marketing"

    # when she moves it to Ventas, the picker now offers Raúl; she picks him by keyboard and transfers
    page.select_option("#transfer-inbox", "ventas")
    page.fill("#transfer-q", "")
    page.locator("#transfer-q").press_sequentially("Raú", delay=20)
    expect(options).to_have_count(1)  # only Raúl matches "Raú" among the people of Ventas
    expect(options).to_contain_text("Raúl Mendoza")
    page.locator("#transfer-q").press("Enter")
    expect(page.locator("#transfer-q")).to_have_value("Raúl Mendoza")
    page.click("#transfer-submit")
    expect(page.get_by_test_id("assignee")).to_have_text("Raúl Mendoza")
    expect(page.locator("#transfer-dialog")).to_be_hidden()
    expect(page.locator("#timeline")).to_contain_text("Fernanda Cárdenas transfirió la conversación a Raúl Mendoza")
    assert same_document(page)

    # then Raúl sees it in his list and opens it (never a 404)
    raul = login(browser, asgi_live_server, "raul")
    open_workspace(raul, asgi_live_server)
    row = raul.locator(f"#row-{c.pk}")
    expect(row).to_contain_text("Lucía Paredes")
    row.locator(".ws-row-link").click()
    expect(raul.locator("#conv-title")).to_have_text("Lucía Paredes")
    assert raul.url.endswith(f"/inbox/{c.pk}/")


def test_supervisor_assigns_with_the_picker_showing_availability_and_load(
        asgi_live_server: str, browser: Browser, teams: dict[str, Any]):
    c = inbound("Marcos Vidal", "+573001110002", "¿Tienen envío a Pasto?")
    busy = UserFactory(username="beto", role=Role.AGENTE, full_name="Beto Ocupado", availability="ocupado")
    busy.teams.add(*teams["marketing"].teams.all())
    page = login(browser, asgi_live_server, "fernanda")
    open_workspace(page, asgi_live_server, f"/inbox/{c.pk}/")

    page.keyboard.press("a")  # the shortcut opens the assign dialog
    expect(page.locator("#assign-dialog")).to_be_visible()
    expect(page.locator("#assign-q")).to_be_focused()
    options = page.locator("#assign-options .picker-option")
    expect(options.first).to_contain_text("Ana Marketing")  # available before busy
    expect(page.locator("#assign-options")).to_contain_text("Disponible")
    expect(page.locator("#assign-options")).to_contain_text("0/")  # open load / capacity
    expect(page.locator("#assign-options")).to_contain_text("Beto Ocupado")
    options.filter(has_text="Ana Marketing").click()
    page.click("#assign-submit")

    expect(page.get_by_test_id("assignee")).to_have_text("Ana Marketing")
    expect(page.locator(f"#row-{c.pk} [data-f=assignee]")).to_have_text("Ana Marketing")
    expect(page.locator("#timeline")).to_contain_text("Fernanda Cárdenas asignó la conversación a Ana Marketing")
    assert same_document(page)


def test_an_agent_works_three_conversations_with_the_keyboard_only(
        asgi_live_server: str, browser: Browser, teams: dict[str, Any]):
    convs = [inbound(f"Cliente {n}", f"+57300111100{n}", f"Pregunta número {n}") for n in (3, 4, 5)]
    for c in convs:
        actions.check_assign(teams["fernanda"], c.pk, assignee=teams["ana"].pk)
    page = login(browser, asgi_live_server, "ana")
    open_workspace(page, asgi_live_server, "/inbox/?state=open&agent=me&sort=waiting")

    for n in (3, 4, 5):
        page.keyboard.press("j")
        page.keyboard.press("Enter")
        expect(page.locator("#conv-title")).to_have_text(f"Cliente {n}")
        page.keyboard.press("r")
        expect(page.locator("#reply-body")).to_be_focused()
        page.keyboard.type(f"Hola, respondo la pregunta {n}.")
        page.keyboard.press("Control+Enter")
        expect(page.locator("#timeline .msg-outbound").last).to_contain_text(f"respondo la pregunta {n}")
        page.keyboard.press("Escape")  # leave the text box
        expect(page.locator("#reply-body")).not_to_be_focused()
        page.keyboard.press("n")
        page.keyboard.type("Cliente atendido por teclado.")
        page.keyboard.press("Control+Enter")
        expect(page.locator("#timeline .msg-note").last).to_contain_text("atendido por teclado")
        page.keyboard.press("Escape")
        # (a real person is slower than Playwright: let the browser finish the Escape before the next key, or
        # Chromium delivers that Escape's close request to the dialog "e" has just opened)
        expect(page.locator("#reply-body")).not_to_be_focused()
        page.keyboard.press("e")
        expect(page.locator("#close-dialog")).to_be_visible()
        # the dialog re-reads the reasons possible now and focuses the first one: "answered"
        expect(page.locator("#close-dialog input[name=reason][value=answered]")).to_be_focused()
        page.keyboard.press("Space")
        page.keyboard.press("Control+Enter")

        expect(page.get_by_test_id("conversation-state")).to_have_text("Resuelta")
        expect(page.locator("#close-dialog")).to_be_hidden()

    assert same_document(page)
    assert all(c.state == "resuelta" and c.close_reason == "answered"
               for c in Conversation.objects.filter(pk__in=[c.pk for c in convs]))


def test_bulk_tag_tasks_priority_and_tags_update_in_place(
        asgi_live_server: str, browser: Browser, teams: dict[str, Any]):
    a = inbound("Diana Ruiz", "+573001110006", "Hola")
    b = inbound("Elena Soto", "+573001110007", "Buenas")
    page = login(browser, asgi_live_server, "fernanda")
    open_workspace(page, asgi_live_server)

    # bulk: tag both from the list
    page.check(f"#row-{a.pk} .ws-check")
    page.check(f"#row-{b.pk} .ws-check")
    expect(page.locator("#bulk-form")).to_be_visible()
    expect(page.locator("[data-bulk-count]")).to_have_text("2")
    page.select_option("#bulk-op", "tag")
    page.fill("#bulk-tag", "campaña-navidad")
    page.click("#bulk-form button.btn-primary")
    expect(page.locator("#ws-flash")).to_contain_text("2 conversaciones actualizadas")
    assert set(Conversation.objects.get(pk=a.pk).tags.values_list("name", flat=True)) == {"campaña-navidad"}
    assert set(Conversation.objects.get(pk=b.pk).tags.values_list("name", flat=True)) == {"campaña-navidad"}

    # priority, a tag, and a task completed from the context pane — all in place
    page.locator(f"#row-{a.pk} .ws-row-link").click()
    expect(page.locator("#conv-title")).to_have_text("Diana Ruiz")
    page.select_option("#priority-select", "urgente")
    expect(page.locator(f"#row-{a.pk}")).to_contain_text("Urgente")
    page.fill("#tag-add", "vip")
    page.press("#tag-add", "Enter")
    expect(page.locator(".conv-tags")).to_contain_text("vip")
    page.click("#conv-tasks summary")
    page.fill("#task-title", "Llamar para confirmar la dirección")
    page.click("#task-form button")
    task_item = page.locator("#conv-tasks .task").first
    expect(task_item).to_contain_text("Llamar para confirmar la dirección")
    task_item.locator("button").click()
    expect(page.locator("#conv-tasks .task").first).to_have_class("task task-completada")
    assert Task.objects.get().status == "completada"
    expect(page.locator("#timeline")).to_contain_text("Fernanda Cárdenas completó la tarea")
    assert same_document(page)
    a.refresh_from_db()
    assert a.priority == "urgente" and set(a.tags.values_list("name", flat=True)) == {"campaña-navidad", "vip"}


def test_back_and_reload_follow_the_selection(asgi_live_server: str, browser: Browser, teams: dict[str, Any]):
    first = inbound("Gabriel Ríos", "+573001110008", "Uno")
    second = inbound("Helena Prado", "+573001110009", "Dos")
    page = login(browser, asgi_live_server, "fernanda")
    open_workspace(page, asgi_live_server)
    page.locator(f"#row-{first.pk} .ws-row-link").click()
    expect(page.locator("#conv-title")).to_have_text("Gabriel Ríos")
    page.locator(f"#row-{second.pk} .ws-row-link").click()
    expect(page.locator("#conv-title")).to_have_text("Helena Prado")
    assert page.url.endswith(f"/inbox/{second.pk}/")
    page.go_back()
    expect(page.locator("#conv-title")).to_have_text("Gabriel Ríos")
    page.reload()
    expect(page.locator("#conv-title")).to_have_text("Gabriel Ríos")
    expect(page.locator(f"#row-{first.pk}")).to_have_class(re.compile(r"\bis-selected\b"))


@pytest.fixture
def live_sending(transactional_db: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A live server that delivers answers in-process right after the request (ImmediateBackend), as a worker
    would a moment later."""
    immediate = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
                             "QUEUES": ["default", "crm", "messaging"]}}
    with override_settings(TASKS=immediate):
        yield request.getfixturevalue("asgi_live_server")


def test_a_failed_answer_is_retried_in_place_and_its_new_outcome_arrives_live(
        live_sending: str, browser: Browser, teams: dict[str, Any]):
    asgi_live_server = live_sending
    # given Ana's answer that Meta refused
    c = inbound("Lucía Paredes", "+573001110009", "¿Me confirman el envío?")
    actions.check_assign(teams["fernanda"], c.pk, assignee=teams["ana"].pk)
    failed = c.messages.create(cycle=c.cycle, kind="outbound", author=teams["ana"], body="Sale mañana",
                               delivery_status="failed",
                               delivery_error="(#131030) Recipient phone number not in allowed list")
    page = login(browser, asgi_live_server, "ana")
    open_workspace(page, asgi_live_server, f"/inbox/{c.pk}/")
    item = page.locator(f'[data-item="message-{failed.pk}"]')
    expect(item.locator('[data-f="delivery"]')).to_have_attribute("data-status", "failed")
    # when she clicks "Reintentar envío"
    item.get_by_role("button", name="Reintentar envío").click()
    # then the history says she retried it, and the new attempt's outcome arrives without reloading: this test
    # server has no WhatsApp number connected, so it fails again with that reason, and the button is back
    expect(page.locator("#timeline")).to_contain_text("Ana Marketing reintentó el envío de una respuesta que había "
                                                      "fallado")
    expect(item.locator('[data-f="delivery"]')).to_have_attribute("title", re.compile("no está conectado"))
    expect(item.get_by_role("button", name="Reintentar envío")).to_have_count(1)
    expect(item.locator('[data-f="failure"]')).to_contain_text("No entregado: El número de WhatsApp")
    assert same_document(page)
