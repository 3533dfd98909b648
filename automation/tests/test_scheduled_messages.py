"""Issue 16: scheduled messages ("Enviar más tarde") — sent once at their time by the worker, edited or cancelled
until then; WhatsApp's window is respected (a template goes out, free text after the window does not, and the
author is told); the shortcuts follow the team's business days. Time is frozen, never waited for."""

from __future__ import annotations

from datetime import date, datetime, time
from itertools import count
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import BusinessHours, Holiday
from accounts.roles import Role
from accounts.tests.factories import TeamFactory, UserFactory
from automation import actions
from automation.choices import ScheduledState
from automation.models import ScheduledMessage
from automation.scheduling import suggestions
from connectors.whatsapp.message_templates import unsupported_reason, variables
from connectors.whatsapp.models import MessageTemplate
from connectors.whatsapp.tests.helpers import WA_ID, clear_tasks, inbound, post, run_worker
from core.errors import ActionError, ConflictError, NotFoundError
from core.models import EventLog
from fakes import whatsapp as fw
from inbox import actions as inbox
from inbox.choices import Channel
from inbox.describe import annotate_timeline
from inbox.models import Conversation, ConversationEvent, Inbox, Message
from inbox.selectors import timeline

pytestmark = pytest.mark.django_db
BOGOTA = ZoneInfo("America/Bogota")
_phones = count(1)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BOGOTA)


def api_conversation(agent, name: str = "Ana Peña") -> Conversation:
    c, _m, _new = inbox.do_receive_inbound(channel="api", body="¿Me recuerdan el pago mañana?", customer_name=name,
                                           phones=[f"301{next(_phones):07d}"])
    Conversation.objects.filter(pk=c.pk).update(assignee=agent)
    c.refresh_from_db()
    return c


def sentences(c: Conversation) -> list[str]:
    items = timeline(c, limit=100)
    annotate_timeline(items)
    return [str(i["text"]) for i in items if i["type"] == "event"]


def test_a_scheduled_message_is_sent_once_at_its_time(agent, django_capture_on_commit_callbacks):
    # given a conversation and, at 17:00, a reminder for tomorrow at 9:00
    with time_machine.travel(local(2026, 12, 3, 17, 0), tick=False):
        c = api_conversation(agent)
        scheduled = actions.check_schedule_message(agent, c.pk, send_at=local(2026, 12, 4, 9, 0),
                                                   body="Buenos días, le recuerdo el pago de hoy.")
    assert scheduled.state == ScheduledState.SCHEDULED
    # when the worker's sweep runs a minute early, then nothing is sent
    with time_machine.travel(local(2026, 12, 4, 8, 59), tick=False):
        assert actions.do_send_due_scheduled() == 0
    # when it runs at 9:00, twice (a restart, a late deferred task), then the message is sent once, as its author's
    with time_machine.travel(local(2026, 12, 4, 9, 0, 30), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        assert actions.do_send_due_scheduled() == 1
        assert actions.do_send_scheduled(scheduled.pk) is False
        assert actions.do_send_due_scheduled() == 0
    (message,) = Message.objects.filter(conversation=c, kind="outbound")
    assert (message.body, message.author_id) == ("Buenos días, le recuerdo el pago de hoy.", agent.pk)
    assert message.meta["scheduled_message_id"] == scheduled.pk
    scheduled.refresh_from_db()
    assert (scheduled.state, scheduled.sent_message_id) == (ScheduledState.SENT, message.pk)
    assert EventLog.objects.filter(type="scheduled_message.sent").count() == 1
    # and the history says who scheduled it and for when, in words
    assert any(s.startswith(f"{agent.display_name} programó un mensaje para el 04/12/2026") for s in sentences(c))


def test_edit_and_cancel_until_it_is_sent(agent):
    with time_machine.travel(local(2026, 12, 3, 10, 0), tick=False):
        c = api_conversation(agent)
        scheduled = actions.check_schedule_message(agent, c.pk, send_at=local(2026, 12, 3, 15, 0), body="Hola")
        # when the agent moves it and rewrites it, then it waits with the new text and time
        actions.check_update_scheduled(agent, scheduled.pk, send_at=local(2026, 12, 3, 16, 0), body="Hola de nuevo")
        scheduled.refresh_from_db()
        assert (scheduled.body, scheduled.send_at) == ("Hola de nuevo", local(2026, 12, 3, 16, 0))
        # when they cancel it, then it is never sent, and it cannot be cancelled twice
        actions.check_cancel_scheduled(agent, scheduled.pk)
        with pytest.raises(ConflictError) as twice:
            actions.check_cancel_scheduled(agent, scheduled.pk)
        assert twice.value.code == "not_scheduled"
    with time_machine.travel(local(2026, 12, 3, 16, 1), tick=False):
        assert actions.do_send_due_scheduled() == 0
    assert ScheduledMessage.objects.get().state == ScheduledState.CANCELLED
    assert not Message.objects.filter(kind="outbound").exists()
    assert any("canceló el mensaje programado para el 03/12/2026 16:00" in s for s in sentences(c))


def test_only_its_author_rewrites_it_others_may_move_or_cancel_it(agent, supervisor):
    with time_machine.travel(local(2026, 12, 3, 10, 0), tick=False):
        c = api_conversation(agent)
        scheduled = actions.check_schedule_message(agent, c.pk, send_at=local(2026, 12, 4, 9, 0), body="Hola")
        # when a supervisor rewrites it, then it is refused (it goes out in the agent's name)
        with pytest.raises(ActionError) as refused:
            actions.check_update_scheduled(supervisor, scheduled.pk, send_at=local(2026, 12, 4, 9, 0),
                                           body="Otro texto")
        assert refused.value.code == "not_author" and agent.display_name in refused.value.message
        # when they only move it, then it moves, and the history says who moved it from when to when
        actions.check_update_scheduled(supervisor, scheduled.pk, send_at=local(2026, 12, 4, 11, 0))
    scheduled.refresh_from_db()
    assert (scheduled.body, timezone.localtime(scheduled.send_at, BOGOTA).hour) == ("Hola", 11)
    assert any(s.startswith(f"{supervisor.display_name} movió el mensaje programado del 04/12/2026 09:00 al "
                            "04/12/2026 11:00") for s in sentences(c))


def test_it_is_not_sent_for_an_author_who_no_longer_answers(agent, supervisor):
    with time_machine.travel(local(2026, 12, 3, 10, 0), tick=False):
        c = api_conversation(agent)
        scheduled = actions.check_schedule_message(agent, c.pk, send_at=local(2026, 12, 4, 9, 0), body="Hola")
    # given the conversation went to another agent meanwhile
    other = UserFactory(role=Role.AGENTE, username="agente2", full_name="Rosa Quispe")
    Conversation.objects.filter(pk=c.pk).update(assignee=other)
    with time_machine.travel(local(2026, 12, 4, 9, 1), tick=False):
        assert actions.do_send_due_scheduled() == 0
    scheduled.refresh_from_db()
    assert scheduled.state == ScheduledState.FAILED and "Rosa Quispe" in scheduled.failure
    assert not Message.objects.filter(conversation=c, kind="outbound").exists()


def test_a_merge_takes_the_waiting_messages_to_the_conversation_kept(agent):
    # given a duplicate conversation of the same customer with a message scheduled in it
    with time_machine.travel(local(2026, 12, 3, 10, 0), tick=False):
        keep = api_conversation(agent, name="Ana Peña")
        dup = Conversation.objects.create(customer=keep.customer, channel=keep.channel, inbox=keep.inbox,
                                          assignee=agent)
        scheduled = actions.check_schedule_message(agent, dup.pk, send_at=local(2026, 12, 4, 9, 0), body="Hola")
        # when the duplicate is merged into the other
        inbox.check_merge_conversations(agent, keep_id=keep.pk, merge_id=dup.pk)
    # then the message waits in the conversation kept, and goes out there
    assert ScheduledMessage.objects.get(pk=scheduled.pk).conversation_id == keep.pk
    with time_machine.travel(local(2026, 12, 4, 9, 1), tick=False):
        assert actions.do_send_due_scheduled() == 1
    assert Message.objects.get(kind="outbound").conversation_id == keep.pk


def test_a_template_meta_removed_fails_its_message_and_the_sync_goes_on(agent, whatsapp_conversation):
    c = whatsapp_conversation
    template = next(t for t in MessageTemplate.objects.filter(status__iexact="APPROVED")
                    if not unsupported_reason(t))
    with time_machine.travel(local(2026, 12, 3, 11, 0), tick=False):
        scheduled = actions.check_schedule_message(agent, c.pk, send_at=local(2026, 12, 6, 9, 0),
                                                   template_id=template.pk,
                                                   variables=dict.fromkeys(variables(template), "Ana"))
    # given Meta dropped the template (a sync deletes its row)
    template.delete()
    # when its time comes, then it is not sent, and the reason names the template
    with time_machine.travel(local(2026, 12, 6, 9, 1), tick=False):
        assert actions.do_send_due_scheduled() == 0
    scheduled.refresh_from_db()
    assert scheduled.state == ScheduledState.FAILED and template.name in scheduled.failure


def test_what_cannot_be_scheduled(agent):
    with time_machine.travel(local(2026, 12, 3, 10, 0), tick=False):
        c = api_conversation(agent)
        cases = [
            ({"send_at": local(2026, 12, 3, 9, 0), "body": "Tarde"}, "send_at_past"),
            ({"send_at": local(2028, 1, 1, 9, 0), "body": "Muy lejos"}, "send_at_too_far"),
            ({"send_at": local(2026, 12, 4, 9, 0), "body": "   "}, "empty_message"),
            ({"send_at": local(2026, 12, 4, 9, 0), "body": "Hola {{cliente.ciudad}}"}, "unfilled_variable"),
        ]
        for kwargs, code in cases:
            with pytest.raises(ActionError) as refused:
                actions.check_schedule_message(agent, c.pk, **kwargs)
            assert refused.value.code == code
        # another agent's conversation is not theirs to write in
        other = UserFactory(role=Role.AGENTE, username="agente2")
        with pytest.raises(ActionError):
            actions.check_schedule_message(other, c.pk, send_at=local(2026, 12, 4, 9, 0), body="Hola")
        # a call is not answered in writing
        Conversation.objects.filter(pk=c.pk).update(channel=Channel.PHONE)
        with pytest.raises(ConflictError):
            actions.check_schedule_message(agent, c.pk, send_at=local(2026, 12, 4, 9, 0), body="Hola")
    assert not ScheduledMessage.objects.exists()


@pytest.fixture
def whatsapp_conversation(client, whatsapp_number, django_capture_on_commit_callbacks, agent):
    """A WhatsApp customer wrote at 2026-12-03 10:00 (their window closes 24 h later)."""
    clear_tasks()
    wrote = local(2026, 12, 3, 10, 0)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, whatsapp_number, inbound(whatsapp_number, fw.text_message(
            WA_ID, "Hola", timestamp=int(wrote.timestamp()), wamid="wamid.sched1")))
    run_worker()
    c = Message.objects.get(external_id="wamid.sched1").conversation
    Conversation.objects.filter(pk=c.pk).update(assignee=agent)
    c.refresh_from_db()
    yield c
    clear_tasks()


def test_free_text_after_the_whatsapp_window_is_not_sent_and_its_author_is_told(agent, whatsapp_conversation):
    c = whatsapp_conversation
    # given free text scheduled for after the window closes
    with time_machine.travel(local(2026, 12, 3, 11, 0), tick=False):
        scheduled = actions.check_schedule_message(agent, c.pk, send_at=local(2026, 12, 5, 9, 0),
                                                   body="¿Pudo revisar la cotización?")
    # when its time comes, then it is not sent: it failed, with WhatsApp's reason, on the history
    with time_machine.travel(local(2026, 12, 5, 9, 0, 5), tick=False):
        assert actions.do_send_due_scheduled() == 0
    scheduled.refresh_from_db()
    assert scheduled.state == ScheduledState.FAILED and "24 horas" in scheduled.failure
    assert not Message.objects.filter(conversation=c, kind="outbound").exists()
    failed = [s for s in sentences(c) if s.startswith("No se envió el mensaje que")]
    assert failed and agent.display_name in failed[0] and "24 horas" in failed[0]
    assert EventLog.objects.filter(type="scheduled_message.failed").count() == 1
    assert ConversationEvent.objects.filter(conversation=c, kind="scheduled_failed").count() == 1


def test_a_template_goes_out_after_the_window(agent, whatsapp_conversation):
    c = whatsapp_conversation
    template = next(t for t in MessageTemplate.objects.filter(status__iexact="APPROVED")
                    if not unsupported_reason(t))
    values = dict.fromkeys(variables(template), "Ana")
    with time_machine.travel(local(2026, 12, 3, 11, 0), tick=False):
        scheduled = actions.check_schedule_message(agent, c.pk, send_at=local(2026, 12, 6, 9, 0),
                                                   template_id=template.pk, variables=values)
    with time_machine.travel(local(2026, 12, 6, 9, 1), tick=False):
        assert actions.do_send_due_scheduled() == 1
    message = Message.objects.get(conversation=c, kind="outbound")
    assert message.meta["template"]["name"] == template.name
    assert ScheduledMessage.objects.get(pk=scheduled.pk).state == ScheduledState.SENT


def test_the_shortcuts_follow_the_teams_business_days(agent):
    # given a team open Monday to Friday from 8:00, whose Monday 7 December is a holiday, and its inbox
    team = TeamFactory(code="ventas-sched", name="Ventas")
    for weekday in range(5):
        BusinessHours.objects.create(team=team, weekday=weekday, opens_at=time(8, 0), closes_at=time(18, 0))
    Holiday.objects.create(team=None, date=date(2026, 12, 7), name="Feriado")
    ventas, _ = Inbox.objects.get_or_create(code="ventas-sched", defaults={"name": "Ventas Bogotá"})
    ventas.teams.set([team])
    c = api_conversation(agent)
    Conversation.objects.filter(pk=c.pk).update(inbox=ventas)
    c.refresh_from_db()
    # when the agent opens "Enviar más tarde" on Friday 4 December at 17:20
    found = suggestions(c, now=local(2026, 12, 4, 17, 20))
    # then: in one hour, tomorrow (Saturday) at 9:00, and the next business day — Tuesday 8 at 8:00
    assert [timezone.localtime(s.at, BOGOTA) for s in found] == [
        local(2026, 12, 4, 18, 20), local(2026, 12, 5, 9, 0), local(2026, 12, 8, 8, 0)]
    assert [s.value for s in found][2] == "2026-12-08T08:00"


def test_the_composer_schedules_and_the_side_panel_lists_edits_and_cancels(agent, client_for):
    client = client_for(agent)
    with time_machine.travel(local(2026, 12, 3, 10, 0), tick=False):
        c = api_conversation(agent, name="María José Rodríguez")
        page = client.get(reverse("inbox:detail", args=[c.pk])).content.decode()
        assert 'data-testid="schedule-open"' in page and 'id="ctx-scheduled"' in page
        # when the agent schedules the text box's content for tomorrow 9:00
        listed = client.post(reverse("automation:schedule", args=[c.pk]),
                             {"body": "Le confirmo mañana", "send_date": "2026-12-04", "send_time": "9:00"})
        assert listed.status_code == 200
        html = listed.content.decode()
        assert "Le confirmo mañana" in html and "04/12/2026 09:00" in html and "Programado para el" in html
        # a wrong time is a 400 with the reason, in words
        bad = client.post(reverse("automation:schedule", args=[c.pk]),
                          {"body": "Hola", "send_date": "2026-12-04", "send_time": "9h"})
        assert bad.status_code == 400 and bad.json()["code"] == "invalid_send_at"
        # an internal note is never scheduled to the customer
        note = client.post(reverse("automation:schedule", args=[c.pk]),
                           {"body": "No darle descuento", "kind": "note", "send_date": "2026-12-04",
                            "send_time": "9:00"})
        assert note.status_code == 400 and note.json()["code"] == "note_not_scheduled"
        scheduled = ScheduledMessage.objects.get()
        hx = {"HX-Request": "true"}
        moved = client.post(reverse("automation:scheduled_update", args=[scheduled.pk]),
                            {"body": "Le confirmo el viernes", "send_date": "2026-12-05", "send_time": "10:30"},
                            headers=hx)
        assert moved.status_code == 200 and "05/12/2026 10:30" in moved.content.decode()
        cancelled = client.post(reverse("automation:scheduled_cancel", args=[scheduled.pk]), headers=hx)
        assert "Envío cancelado." in cancelled.content.decode()
    assert ScheduledMessage.objects.get().state == ScheduledState.CANCELLED


def test_the_api_schedules_lists_and_cancels(agent, api_client_for):
    api = api_client_for(agent)
    with time_machine.travel(local(2026, 12, 3, 10, 0), tick=False):
        c = api_conversation(agent)
        created = api.post(f"/api/v1/conversations/{c.pk}/scheduled-messages",
                           {"body": "Recordatorio de su cita", "send_at": "2026-12-04T09:00:00-05:00"},
                           content_type="application/json")
        assert created.status_code == 201, created.content
        body = created.json()
        assert (body["state"], body["author"], body["sent_message_id"]) == ("programado", agent.username, None)
        both = api.post(f"/api/v1/conversations/{c.pk}/scheduled-messages",
                        {"body": "Texto", "template": 1, "send_at": "2026-12-04T09:00:00-05:00"},
                        content_type="application/json")
        assert both.status_code == 400 and both.json()["code"] == "body_and_template"
        naive = api.post(f"/api/v1/conversations/{c.pk}/scheduled-messages",
                         {"body": "Sin zona", "send_at": "2026-12-04T09:00:00"}, content_type="application/json")
        assert naive.status_code == 400
        listed = api.get(f"/api/v1/conversations/{c.pk}/scheduled-messages").json()
        assert [s["id"] for s in listed] == [body["id"]]
        assert api.delete(f"/api/v1/scheduled-messages/{body['id']}").status_code == 204
        again = api.delete(f"/api/v1/scheduled-messages/{body['id']}")
        assert again.status_code == 409 and again.json()["code"] == "not_scheduled"
    other = api_client_for(UserFactory(role=Role.AGENTE, username="agente2"))
    assert other.delete(f"/api/v1/scheduled-messages/{body['id']}").status_code == 404


def test_someone_else_cannot_see_or_cancel_it(agent):
    with time_machine.travel(local(2026, 12, 3, 10, 0), tick=False):
        c = api_conversation(agent)
        scheduled = actions.check_schedule_message(agent, c.pk, send_at=local(2026, 12, 4, 9, 0), body="Hola")
    with pytest.raises(NotFoundError):
        actions.check_cancel_scheduled(UserFactory(role=Role.AGENTE, username="agente3"), scheduled.pk)


def test_an_agent_schedules_a_template_from_the_screen(agent, whatsapp_conversation, client_for):
    # given the customer's window has closed (they wrote 2026-12-03 10:00)
    c = whatsapp_conversation
    template = next(t for t in MessageTemplate.objects.filter(status__iexact="APPROVED")
                    if not unsupported_reason(t) and variables(t))
    browser = client_for(agent)
    with time_machine.travel(local(2026, 12, 4, 12, 0), tick=False):
        # when "Enviar más tarde" opens, then it offers the approved templates with their variables, and says why
        offered = browser.get(reverse("automation:schedule_templates", args=[c.pk])).content.decode()
        assert f"Plantilla {template.name}" in offered and f'data-schedule-var="{template.pk}"' in offered
        assert "La ventana de 24 horas está cerrada" in offered
        # when she schedules it for tomorrow 9:00 with its values
        values = {f"var_{template.pk}_{key}": "Ana" for key in variables(template)}
        response = browser.post(reverse("automation:schedule", args=[c.pk]), {
            "template": str(template.pk), "send_date": "2026-12-05", "send_time": "09:00", "body": "", **values})
        # then it is scheduled as that template with those values
        assert response.status_code == 200
        scheduled = ScheduledMessage.objects.get(conversation=c)
        assert (scheduled.template_name, scheduled.body) == (template.name, "")
        assert scheduled.variables == dict.fromkeys(variables(template), "Ana")
        # and values the template does not have are not kept; a NUL in a value is refused, never a 500
        extra = browser.post(reverse("automation:schedule", args=[c.pk]), {
            "template": str(template.pk), "send_date": "2026-12-05", "send_time": "10:00", **values,
            f"var_{template.pk}_x" * 3: "sobra"})
        assert extra.status_code == 200
        assert set(ScheduledMessage.objects.latest("pk").variables) == set(variables(template))
        nul = browser.post(reverse("automation:schedule", args=[c.pk]), {
            "template": str(template.pk), "send_date": "2026-12-05", "send_time": "11:00",
            **dict.fromkeys(values, "Ana\x00")})
        assert nul.status_code == 400 and "nulo" in nul.json()["detail"]
        # and a template that is not one of the approved ones is refused with a reason, never a 500
        for bad in ("abc", "99999999999999999999", "0"):
            refused = browser.post(reverse("automation:schedule", args=[c.pk]), {
                "template": bad, "send_date": "2026-12-05", "send_time": "09:00"})
            assert refused.status_code == 400 and refused.json()["detail"]


def test_other_channels_offer_no_templates(agent, client_for):
    c = api_conversation(agent)
    assert client_for(agent).get(reverse("automation:schedule_templates", args=[c.pk])).content == b""
