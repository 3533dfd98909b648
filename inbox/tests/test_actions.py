from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine

from accounts import actions as accounts
from accounts.models import Skill
from accounts.roles import Role
from accounts.tests.factories import TeamFactory, UserFactory
from core.errors import ActionError, ConflictError, InvalidTransition, PermissionDeniedError
from core.models import EventLog
from inbox import actions
from inbox.choices import CONVERSATION_TRANSITIONS, ConversationState
from inbox.models import Conversation, ConversationEvent, Inbox, Message

pytestmark = pytest.mark.django_db
S = ConversationState
BOGOTA = ZoneInfo("America/Bogota")


@pytest.fixture
def ventas():
    team = TeamFactory(code="ventas", name="Ventas")
    inbox, _created = Inbox.objects.get_or_create(code="ventas", defaults={"name": "Ventas", "auto_assign": True})
    inbox.teams.set([team])
    return inbox


def available_agent(team_code="ventas", **kwargs):
    agent = UserFactory(role=Role.AGENTE, availability="disponible", **kwargs)
    agent.teams.add(TeamFactory(code=team_code, name=team_code.title()))
    return agent


def inbound(body="Hola, quiero información", phone="3001234567", **kwargs):
    return actions.do_receive_inbound(channel="whatsapp", body=body, customer_name="Ana Peña", phones=[phone],
                                      **kwargs)


def test_new_message_starts_a_conversation_in_global_without_owner():
    c, message, created = inbound()
    assert created and c.inbox.is_global and c.assignee is None and c.state == S.NEW
    assert message.kind == "inbound" and c.awaiting_reply


def test_same_customer_and_channel_continue_one_conversation_and_redeliveries_are_ignored():
    c1, _m, _ = inbound(external_id="wamid.1")
    c2, _m2, created = inbound("¿Siguen ahí?", phone="+57 300 123 4567", external_id="wamid.2")
    again, _m3, created_again = inbound(external_id="wamid.1")
    assert c1.pk == c2.pk == again.pk and not created and not created_again
    assert Message.objects.filter(conversation=c1).count() == 2


def test_auto_assignment_to_the_least_loaded_available_agent(ventas):
    a, b = available_agent(), available_agent()
    away = UserFactory(role=Role.AGENTE, availability="ausente")
    away.teams.add(ventas.teams.first())
    owners = [inbound(phone=f"30012345{i:02d}", inbox_code="ventas")[0].assignee for i in range(4)]
    assert {o.pk for o in owners} == {a.pk, b.pk}
    assert sum(1 for o in owners if o == a) == 2
    assert all(Conversation.objects.filter(assignee=o, state=S.PENDING).exists() for o in owners)


def test_auto_assignment_fairness_over_1000_arrivals(ventas):
    agents = [available_agent() for _ in range(7)]
    for agent in agents:
        agent.capacity = 1000
        agent.save()
    offline = UserFactory(role=Role.AGENTE, availability="desconectado")
    offline.teams.add(ventas.teams.first())
    for i in range(1000):
        inbound(phone=f"+5731{i:08d}", inbox_code="ventas")
    loads = [Conversation.objects.filter(assignee=a).count() for a in agents]
    assert sum(loads) == 1000 and max(loads) - min(loads) <= 1
    assert not Conversation.objects.filter(assignee=offline).exists()


def test_capacity_skills_and_business_hours_are_respected(ventas, admin_user):
    full = available_agent()
    full.capacity = 0
    full.save()
    skill = Skill.objects.create(code="reclamos", name="Reclamos")
    ventas.skill = skill
    ventas.save()
    unskilled = available_agent()
    skilled = available_agent()
    skilled.skills.add(skill)
    team = ventas.teams.first()
    accounts.check_set_business_hours(admin_user, team.pk, intervals=[(d, time(8), time(18)) for d in range(5)])
    with time_machine.travel(datetime(2026, 11, 23, 9, 0, tzinfo=BOGOTA), tick=False):
        assert actions.pick_agent(ventas) == skilled
    with time_machine.travel(datetime(2026, 11, 23, 20, 0, tzinfo=BOGOTA), tick=False):
        assert actions.pick_agent(ventas) is None
    assert unskilled not in actions.candidates(ventas)


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("target", list(S))
def test_transition_table_exhaustively(current, target, agent):
    c, _m, _ = inbound()
    Conversation.objects.filter(pk=c.pk).update(state=current)
    c.refresh_from_db()
    if current == target:
        assert actions.do_transition_conversation(c, to=target, acting_user=agent) is False
    elif target in CONVERSATION_TRANSITIONS[current]:
        assert actions.do_transition_conversation(c, to=target, acting_user=agent) is True
        assert ConversationEvent.objects.filter(conversation=c, kind="state", data__to=target.value).exists()
    else:
        with pytest.raises(InvalidTransition) as exc:
            actions.do_transition_conversation(c, to=target, acting_user=agent)
        assert exc.value.details["allowed"] == sorted(s.value for s in CONVERSATION_TRANSITIONS[current])


def test_reply_answers_and_waits_for_the_customer_then_customer_reply_makes_it_pending(agent):
    c, _m, _ = inbound()
    actions.check_assign(agent, c.pk, assignee=agent.username)
    actions.check_send_reply(agent, c.pk, body="¡Hola Ana! Te cuento…")
    c.refresh_from_db()
    assert c.state == S.ON_HOLD and c.first_response_at is not None and not c.awaiting_reply
    inbound("Perfecto, gracias")
    c.refresh_from_db()
    assert c.state == S.PENDING and c.awaiting_reply


def test_closing_without_a_reason_is_refused_and_lists_the_possible_ones(agent):
    c, _m, _ = inbound()
    actions.check_assign(agent, c.pk, assignee=agent.username)
    with pytest.raises(ConflictError) as exc:
        actions.check_close_conversation(agent, c.pk, reason="answered")
    assert exc.value.status == 409 and exc.value.details["accepted_reasons"] == []
    with pytest.raises(ConflictError):
        actions.check_close_conversation(agent, c.pk, reason="limpiar bandeja")


def test_each_closure_reason_when_it_holds(agent):
    # answered: an outbound message in the cycle
    c1, _m, _ = inbound(phone="3001111111")
    actions.check_send_reply(agent, c1.pk, body="Listo, ya quedó.")
    assert actions.check_close_conversation(agent, c1.pk, reason="answered").state == S.RESOLVED
    # derived_documented: a descriptive comment
    c2, _m, _ = inbound(phone="3002222222")
    actions.check_assign(agent, c2.pk, assignee=agent.username)
    with pytest.raises(ConflictError):
        actions.check_close_conversation(agent, c2.pk, reason="derived_documented", comment="por tel")
    actions.check_close_conversation(agent, c2.pk, reason="derived_documented",
                                     comment="Se atendió por teléfono; se le envió la cotización por correo.")
    # task_created: a linked task
    c3, _m, _ = inbound(phone="3003333333")
    actions.check_assign(agent, c3.pk, assignee=agent.username)
    actions.check_create_task(agent, c3.pk, title="Enviar repuesto")
    assert actions.check_close_conversation(agent, c3.pk, reason="task_created").close_reason == "task_created"
    # customer_confirmed: what the customer confirmed
    c4, _m, _ = inbound(phone="3004444444")
    actions.check_assign(agent, c4.pk, assignee=agent.username)
    closed = actions.check_close_conversation(agent, c4.pk, reason="customer_confirmed",
                                              comment="El cliente escribió que ya no necesita nada.")
    assert closed.closed_at is not None


def test_reopening_starts_a_new_cycle(agent):
    c, _m, _ = inbound()
    actions.check_send_reply(agent, c.pk, body="Resuelto")
    actions.check_close_conversation(agent, c.pk, reason="answered")
    c2, _m, created = inbound("Otra pregunta")
    c2.refresh_from_db()
    assert c2.pk == c.pk and not created and c2.cycle == 2 and c2.state == S.PENDING
    assert c2.first_response_at is None  # the new cycle needs its own first answer
    with pytest.raises(ConflictError):  # the old cycle's reply does not count for the new one
        actions.check_close_conversation(agent, c.pk, reason="answered")


def test_transfer_and_escalation_need_a_descriptive_comment(agent, supervisor, ventas):
    other = available_agent()
    agent.teams.add(*ventas.teams.all())  # the fallback target must work the inbox too
    c, _m, _ = inbound(inbox_code="ventas")
    owner = c.assignee
    with pytest.raises(ActionError) as exc:
        actions.check_transfer(owner, c.pk, to_user=other.username, comment="toma")
    assert exc.value.code == "comment_required"
    actions.check_transfer(owner, c.pk, to_user=other.username if other != owner else agent.username,
                           comment="Contexto: pide factura. Próximo paso: enviarla hoy.")
    c.refresh_from_db()
    assert c.assignee != owner and ConversationEvent.objects.filter(conversation=c, kind="transferred").exists()
    actions.check_escalate(c.assignee, c.pk, comment="Cliente molesto por demora; requiere autorización de reembolso.")
    c.refresh_from_db()
    assert c.state == S.ESCALATED and c.assignee == supervisor


def test_only_the_owner_or_a_supervisor_acts(agent, make_user):
    other = make_user(Role.AGENTE)
    c, _m, _ = inbound()
    actions.check_assign(agent, c.pk, assignee=agent.username)
    with pytest.raises(PermissionDeniedError):
        actions.check_send_reply(other, c.pk, body="hola")
    with pytest.raises(PermissionDeniedError):
        actions.check_assign(other, c.pk, assignee=other.username)


def test_outside_global_every_open_conversation_has_an_owner(supervisor, agent, ventas):
    agent.teams.add(*ventas.teams.all())
    c, _m, _ = inbound(inbox_code="ventas")
    actions.check_assign(supervisor, c.pk, assignee=agent.username)
    with pytest.raises(ActionError) as exc:
        actions.check_assign(supervisor, c.pk, assignee=None)
    assert exc.value.code == "owner_required"


def test_mentions_in_notes_notify_and_notes_are_not_replies(agent, supervisor):
    c, _m, _ = inbound()
    note = actions.check_add_note(agent, c.pk, body=f"@{supervisor.username} ¿autorizas el cambio?")
    assert note.kind == "note"
    assert ConversationEvent.objects.get(kind="mention").data["users"] == [supervisor.username]
    with pytest.raises(ConflictError):  # a note is not an answer to the customer
        actions.check_close_conversation(agent, c.pk, reason="answered")


def test_duplicates_are_detected_and_merged(agent):
    c, _m, _ = inbound()
    dup = Conversation.objects.create(customer=c.customer, channel="whatsapp", inbox=c.inbox)
    Message.objects.create(conversation=dup, kind="inbound", body="otro hilo")
    assert actions.duplicates_of(c) == [dup]
    keep = actions.check_merge_conversations(agent, keep_id=c.pk, merge_id=dup.pk)
    assert keep.messages.count() == 2
    # the duplicate is closed through the transition function: its state event, its resolution time, the reason
    gone = Conversation.objects.get(pk=dup.pk)
    assert gone.state == S.RESOLVED and gone.close_reason == "derived_documented"
    assert gone.resolution_seconds is not None and gone.closed_at is not None
    (state_event,) = ConversationEvent.objects.filter(conversation=gone, kind="state")
    assert (state_event.data["from"], state_event.data["to"]) == ("nueva", "resuelta")
    assert state_event.actor == agent
    # and the domain events say so, for subscribers and integrations
    logged = [(r.type, r.payload.get("to_state") or r.payload.get("reason")) for r in EventLog.objects.filter(
        type__in=["conversation.state_changed", "conversation.closed"], payload__conversation_id=gone.pk)]
    assert logged == [("conversation.state_changed", "resuelta"), ("conversation.closed", "derived_documented")]


def test_stale_assignments_return_to_the_pool(ventas, settings):
    settings.INBOX_FIRST_ANSWER_MINUTES = 15
    first, second = available_agent(), available_agent()
    c, _m, _ = inbound(inbox_code="ventas")
    owner = c.assignee
    owner.availability = "desconectado"
    owner.save()
    assert actions.do_return_stale_to_pool() == 1
    c.refresh_from_db()
    assert c.assignee is not None and c.assignee != owner and {first, second} >= {c.assignee}


def test_weekly_review_verdict_requires_feedback_when_wrong(agent, supervisor):
    c, _m, _ = inbound()
    actions.check_send_reply(agent, c.pk, body="ok")
    actions.check_close_conversation(agent, c.pk, reason="answered")
    with pytest.raises(ActionError):
        actions.check_review_closure(supervisor, c.pk, cycle=1, verdict="incorrecto")
    review = actions.check_review_closure(supervisor, c.pk, cycle=1, verdict="incorrecto",
                                          feedback="Respuesta genérica; faltó confirmar la solución.")
    assert review.verdict == "incorrecto"
    with pytest.raises(PermissionDeniedError):
        actions.check_review_closure(agent, c.pk, cycle=1, verdict="correcto")


def test_two_agents_viewing_see_each_other(agent, make_user, settings):
    from django.core.cache import cache

    other = make_user(Role.AGENTE)
    c, _m, _ = inbound()
    cache.clear()
    assert actions.check_viewing(agent, c.pk) == [agent.display_name]
    assert actions.check_viewing(other, c.pk) == sorted([agent.display_name, other.display_name])
