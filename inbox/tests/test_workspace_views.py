"""The workspace's adapters (issue 11): fragments instead of pages, the transfer rule, the pickers, the list's
orders and waiting times, the close dialog's reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import Role
from accounts.tests.factories import TeamFactory, UserFactory
from core.errors import ActionError
from inbox import actions
from inbox.models import Conversation, Inbox, Message
from inbox.people import assignable_people, can_take
from inbox.selectors import InboxFilters, filtered, sorted_page
from inbox.templatetags.inbox_tags import short_wait
from inbox.views import close_options

pytestmark = pytest.mark.django_db

PANE = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "section#conversation-pane"}
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_SOURCE": "form#reply-form"}
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


@pytest.fixture
def inboxes() -> dict[str, Any]:
    marketing_team, ventas_team = TeamFactory(code="mkt", name="Mkt"), TeamFactory(code="vta", name="Vta")
    marketing, _ = Inbox.objects.update_or_create(code="marketing", defaults={"name": "Marketing",
                                                                              "auto_assign": False})
    ventas, _ = Inbox.objects.update_or_create(code="ventas", defaults={"name": "Ventas", "auto_assign": False})
    marketing.teams.set([marketing_team])
    ventas.teams.set([ventas_team])
    ana = UserFactory(role=Role.AGENTE, full_name="Ana Marketing", availability="disponible")
    ana.teams.add(marketing_team)
    raul = UserFactory(role=Role.AGENTE, full_name="Raúl Mendoza", availability="ausente")
    raul.teams.add(ventas_team)
    boss = UserFactory(role=Role.SUPERVISOR, full_name="Fernanda Cárdenas")
    return {"marketing": marketing, "ventas": ventas, "ana": ana, "raul": raul, "boss": boss}


def inbound(body: str = "Hola", phone: str = "3001234567", inbox: str = "marketing", **kw: Any) -> Conversation:
    c, _m, _new = actions.do_receive_inbound(channel="whatsapp", body=body, customer_name="Lucía Paredes",
                                             phones=[phone], inbox_code=inbox, **kw)
    return c


def test_opening_a_conversation_in_place_answers_the_pane_only(client_for, inboxes):
    # given an open conversation
    c = inbound()
    client = client_for(inboxes["boss"])
    # when the list asks for it into the conversation pane
    fragment = client.get(f"/inbox/{c.pk}/", **PANE)
    # then the answer is the pane's content, not a page; a normal request (reload, link) gets the whole page
    assert fragment.status_code == 200
    assert b"<html" not in fragment.content and b'data-conversation="%d"' % c.pk in fragment.content
    page = client.get(f"/inbox/{c.pk}/")
    assert b"<html" in page.content and b'id="inbox-list"' in page.content and b'id="conv-context"' in page.content


def test_a_reply_in_place_answers_only_the_changed_regions(client_for, inboxes):
    c = inbound()
    actions.check_assign(inboxes["boss"], c.pk, assignee=inboxes["ana"].pk)
    client = client_for(inboxes["ana"])
    response = client.post(f"/inbox/{c.pk}/messages", {"kind": "reply", "body": "Con gusto le ayudo"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "<body" not in html
    assert 'hx-target="#timeline" hx-swap="beforeend"' in html and "Con gusto le ayudo" in html  # the new message
    assert 'id="conv-header"' in html and 'hx-swap-oob="true"' in html  # state and owner
    assert f'hx-target="#row-{c.pk}"' in html  # the list row
    assert 'id="conv-dialogs"' not in html  # who may act did not change: the dialogs stay as they are
    assert "Respuesta enviada al cliente." in html
    # and without htmx the same action keeps the post/redirect/get behaviour
    plain = client.post(f"/inbox/{c.pk}/messages", {"kind": "note", "body": "nota"})
    assert plain.status_code == 302 and plain["Location"] == f"/inbox/{c.pk}/"


def test_a_refused_action_answers_its_reason_next_to_the_control(client_for, inboxes):
    c = inbound()
    client = client_for(inboxes["boss"])
    response = client.post(f"/inbox/{c.pk}/close", {"reason": "answered"},
                           HTTP_HX_REQUEST="true", HTTP_HX_SOURCE="form#close-form")
    html = response.content.decode()
    assert response.status_code == 409
    assert 'id="err-close-form"' in html and "No se puede cerrar con ese motivo" in html
    assert 'id="conv-header"' not in html  # nothing changed, nothing else is sent


def test_transfer_to_someone_outside_the_inbox_is_refused_and_nothing_moves(inboxes):
    c = inbound()
    actions.check_assign(inboxes["boss"], c.pk, assignee=inboxes["ana"].pk)
    with pytest.raises(ActionError) as exc:
        actions.check_transfer(inboxes["boss"], c.pk, to_user=str(inboxes["raul"].pk),
                               comment="El cliente quiere hablar con ventas sobre su plan.")
    assert exc.value.code == "assignee_cannot_take"
    assert "Raúl Mendoza no atiende la bandeja «Marketing»" in exc.value.message and "Ventas" in exc.value.message
    c.refresh_from_db()
    assert c.assignee == inboxes["ana"] and c.inbox.code == "marketing"
    with pytest.raises(ActionError):
        actions.check_assign(inboxes["boss"], c.pk, assignee=inboxes["raul"].pk)


def test_transfer_with_the_move_reaches_the_person_who_then_sees_it(inboxes):
    c = inbound()
    actions.check_assign(inboxes["boss"], c.pk, assignee=inboxes["ana"].pk)
    actions.check_transfer(inboxes["boss"], c.pk, to_user=inboxes["raul"].pk, to_inbox="ventas",
                           comment="El cliente quiere hablar con ventas sobre su plan.")
    c.refresh_from_db()
    assert c.assignee == inboxes["raul"] and c.inbox.code == "ventas"
    assert actions.visible_to(inboxes["raul"], c.pk)
    assert actions.access_conversation(inboxes["raul"], c.pk).pk == c.pk


def test_the_picker_offers_only_people_who_can_take_it_best_first(client_for, inboxes):
    c = inbound()
    other_agent = UserFactory(role=Role.AGENTE, full_name="Beto Ocupado", availability="ocupado")
    other_agent.teams.add(*inboxes["marketing"].teams.all())
    people = assignable_people(c)
    names = [p.name for p in people]
    assert "Raúl Mendoza" not in names  # works Ventas only
    assert names.index("Ana Marketing") < names.index("Beto Ocupado")  # available first
    assert "Fernanda Cárdenas" in names  # supervisors work every inbox
    assert [p.name for p in assignable_people(c, inbox=inboxes["ventas"])].count("Raúl Mendoza") == 1
    assert [p.name for p in assignable_people(c, q="raul", inbox=inboxes["ventas"])] == ["Raúl Mendoza"]
    assert can_take(inboxes["ana"], inboxes["marketing"]) and not can_take(inboxes["raul"], inboxes["marketing"])
    # the endpoint renders the same options, with availability and load
    html = client_for(inboxes["boss"]).get(f"/inbox/{c.pk}/people?q=an&listbox=x").content.decode()
    assert "Ana Marketing" in html and "Disponible" in html and "0/" in html and "Raúl" not in html


def test_an_agent_cannot_ask_for_people_of_a_conversation_they_cannot_see(client_for, inboxes):
    c = inbound(inbox="ventas")
    response = client_for(inboxes["ana"]).get(f"/inbox/{c.pk}/people")
    assert response.status_code == 404


def test_waiting_since_starts_at_the_first_unanswered_message_and_ends_with_the_answer(inboxes):
    with time_machine.travel(NOW, tick=False) as clock:
        c = inbound("primero")
        clock.shift(timedelta(minutes=5))
        inbound("segundo")
        c.refresh_from_db()
        assert c.waiting_since == NOW  # the wait started with the first message, not the last
        actions.check_assign(inboxes["boss"], c.pk, assignee=inboxes["ana"].pk)
        actions.check_send_reply(inboxes["ana"], c.pk, body="Hola Lucía")
        c.refresh_from_db()
        assert c.waiting_since is None
        clock.shift(timedelta(hours=1))
        inbound("tercero")
        c.refresh_from_db()
        assert c.waiting_since == NOW + timedelta(minutes=5, hours=1)
        actions.check_close_conversation(inboxes["ana"], c.pk, reason="derived_documented",
                                         comment="Se derivó a ventas por teléfono y quedó documentado.")
        c.refresh_from_db()
        assert c.waiting_since is None


def test_oldest_waiting_first_pages_without_gaps_or_repeats(inboxes):
    # given 7 conversations that wait since different times and 3 that nobody waits on
    with time_machine.travel(NOW, tick=False) as clock:
        waiting = []
        for n in range(7):
            clock.shift(timedelta(minutes=1))
            waiting.append(inbound(f"m{n}", phone=f"30000000{n:02d}"))
        answered = []
        for n in range(3):
            c = inbound(f"r{n}", phone=f"30000001{n:02d}")
            actions.check_assign(inboxes["boss"], c.pk, assignee=inboxes["ana"].pk)
            actions.check_send_reply(inboxes["ana"], c.pk, body="ok")
            answered.append(c)
    qs = filtered(inboxes["boss"], InboxFilters(state="open"))
    # when paging 3 at a time
    seen: list[int] = []
    cursor = ""
    while True:
        rows, cursor_next = sorted_page(qs, sort="waiting", after=cursor, size=3)
        seen += [r.pk for r in rows]
        if not cursor_next:
            break
        cursor = cursor_next
    # then the longest wait comes first, the conversations nobody waits on last, each exactly once
    assert seen[:7] == [c.pk for c in waiting]
    assert sorted(seen[7:]) == sorted(c.pk for c in answered) and len(seen) == 10


def test_priority_order_puts_urgent_first_then_the_longest_wait(inboxes):
    with time_machine.travel(NOW, tick=False) as clock:
        a = inbound("a", phone="3000000101")
        clock.shift(timedelta(minutes=1))
        b = inbound("b", phone="3000000102")
        clock.shift(timedelta(minutes=1))
        c = inbound("c", phone="3000000103")
    actions.check_set_associations(inboxes["boss"], c.pk, priority="urgente")
    rows, _next = sorted_page(filtered(inboxes["boss"], InboxFilters(state="open")), sort="priority", size=2)
    more, _none = sorted_page(filtered(inboxes["boss"], InboxFilters(state="open")), sort="priority",
                              after=_next or "", size=2)
    assert [r.pk for r in rows + more] == [c.pk, a.pk, b.pk]


def test_the_list_shows_waiting_time_and_sorts_unowned_by_longest_wait(client_for, inboxes):
    with time_machine.travel(NOW - timedelta(days=3), tick=False):
        old = inbound("desde hace días", phone="3000000201")
    with time_machine.travel(NOW, tick=False):
        new = inbound("ahora", phone="3000000202")
        html = client_for(inboxes["boss"]).get("/inbox/?state=open&unowned=on").content.decode()
    assert html.index(f'id="row-{old.pk}"') < html.index(f'id="row-{new.pk}"')
    assert "espera 3 d" in html
    for label in ("Buscar", "Estado", "Bandeja", "Canal", "Prioridad", "Orden"):
        assert f">{label}" in html  # every filter has a visible label


def test_the_list_costs_the_same_statements_for_5_or_40_rows(client_for, inboxes):
    client = client_for(inboxes["boss"])
    for n in range(5):
        inbound(f"m{n}", phone=f"30000003{n:02d}")
    client.get("/inbox/")
    cache.clear()  # the folder counts are cached for a few seconds: count them on both measured requests
    with CaptureQueriesContext(connection) as few:
        client.get("/inbox/")
    for n in range(5, 40):
        inbound(f"m{n}", phone=f"30000003{n:02d}")
    cache.clear()
    with CaptureQueriesContext(connection) as many:
        client.get("/inbox/")
    assert len(few.captured_queries) == len(many.captured_queries)


def test_close_reasons_say_why_the_others_are_not_possible(client_for, inboxes):
    c = inbound()
    options = {o["value"]: o for o in close_options(c)}
    assert not options["answered"]["possible"] and "respuesta" in options["answered"]["hint"]
    assert not options["task_created"]["possible"] and "tarea" in options["task_created"]["hint"]
    assert options["derived_documented"]["possible"] and "20" in options["derived_documented"]["hint"]
    html = client_for(inboxes["boss"]).get(f"/inbox/{c.pk}/close-form").content.decode()
    assert 'value="answered"' not in html and "No disponible ahora" in html and "checked" not in html


def test_tags_priority_associations_and_tasks_from_the_pane(client_for, inboxes):
    c = inbound()
    client = client_for(inboxes["boss"])
    assert client.post(f"/inbox/{c.pk}/priority", {"priority": "alta"}, **HTMX).status_code == 200
    assert client.post(f"/inbox/{c.pk}/tags", {"add": "vip"}, **HTMX).status_code == 200
    assert client.post(f"/inbox/{c.pk}/associations", {"company": "Acme", "ticket_ref": "T-9"},
                       **HTMX).status_code == 200
    assert client.post(f"/inbox/{c.pk}/tasks", {"title": "Llamar", "responsible": str(inboxes["ana"].pk)},
                       **HTMX).status_code == 200
    task = c.tasks.get()
    done = client.post(f"/inbox/tasks/{task.pk}/status", {"op": "complete"}, **HTMX)
    assert done.status_code == 200 and 'id="conv-tasks"' in done.content.decode()
    c.refresh_from_db()
    task.refresh_from_db()
    assert (c.priority, c.company, c.ticket_ref, task.status) == ("alta", "Acme", "T-9", "completada")
    assert list(c.tags.values_list("name", flat=True)) == ["vip"] and task.responsible == inboxes["ana"]
    assert client.post(f"/inbox/{c.pk}/tags", {"remove": "vip"}, **HTMX).status_code == 200
    assert not c.tags.exists()
    bad = client.post(f"/inbox/{c.pk}/priority", {"priority": "altísima"}, **HTMX)
    assert bad.status_code == 400 and "Prioridad inválida" in bad.content.decode()


def test_bulk_from_the_list_reports_each_refusal(client_for, inboxes):
    a, b = inbound(phone="3000000401"), inbound(phone="3000000402")
    actions.check_assign(inboxes["boss"], a.pk, assignee=inboxes["ana"].pk)
    actions.check_send_reply(inboxes["ana"], a.pk, body="Listo")
    response = client_for(inboxes["boss"]).post("/inbox/bulk", {"ids": [a.pk, b.pk], "op": "close",
                                                                "reason": "answered"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "1 conversación actualizada" in html and f"#{b.pk}" in html
    assert Conversation.objects.get(pk=a.pk).state == "resuelta"
    assert Conversation.objects.get(pk=b.pk).state != "resuelta"


@pytest.mark.parametrize(("seconds", "text"), [(20, "menos de 1 min"), (600, "10 min"), (7200, "2 h"),
                                               (3 * 86400 + 5, "3 d")])
def test_short_wait(seconds: int, text: str):
    assert short_wait(NOW - timedelta(seconds=seconds), NOW) == text


def test_a_failed_answer_offers_a_retry_that_queues_it_again_in_place(client_for, inboxes):
    # given an answer Meta refused, in a conversation Ana works
    c = inbound()
    actions.check_assign(inboxes["boss"], c.pk, assignee=inboxes["ana"].pk)
    failed = Message.objects.create(conversation=c, cycle=c.cycle, kind="outbound", author=inboxes["ana"],
                                    body="Con gusto", delivery_status="failed",
                                    delivery_error="(#131030) Recipient phone number not in allowed list")
    client = client_for(inboxes["ana"])
    # then the conversation shows "Reintentar envío" beside it
    page = client.get(f"/inbox/{c.pk}/", **PANE).content.decode()
    assert f'action="/inbox/{c.pk}/messages/{failed.pk}/retry"' in page and "Reintentar envío" in page
    # when she retries it in place
    response = client.post(f"/inbox/{c.pk}/messages/{failed.pk}/retry", HTTP_HX_REQUEST="true",
                           HTTP_HX_SOURCE="form#retry")
    # then it is queued again and the history says who retried what had failed
    html = response.content.decode()
    assert response.status_code == 200 and "El mensaje volvió a la cola de envío." in html
    assert "Ana Marketing reintentó el envío de una respuesta que había fallado" in html
    failed.refresh_from_db()
    assert (failed.delivery_status, failed.delivery_error) == ("queued", "")
    # and a second click finds nothing to retry (409 with the reason), another agent's conversation is not found
    again = client.post(f"/inbox/{c.pk}/messages/{failed.pk}/retry", HTTP_HX_REQUEST="true")
    assert again.status_code == 409 and "Solo se reintenta un mensaje cuyo envío falló." in again.content.decode()
    other = client_for(inboxes["raul"]).post(f"/inbox/{c.pk}/messages/{failed.pk}/retry")
    assert other.status_code in (302, 404)
    assert Message.objects.get(pk=failed.pk).delivery_status == "queued"
