"""Bulk actions: the single-conversation actions applied one by one, each refusal reported, the rest done."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from accounts.tests.factories import TeamFactory, UserFactory
from core.errors import ActionError, PermissionDeniedError
from inbox import actions
from inbox.bulk import BULK_MAX, BulkResult, check_bulk
from inbox.models import Conversation, ConversationEvent, Inbox

pytestmark = pytest.mark.django_db
COMMENT = "Pide cambio de talla; lo resuelve Soporte, ya tiene el número de pedido."
_phones = iter(range(10_000))


def conversation(*, assignee=None):
    c, _m, _new = actions.do_receive_inbound(channel="whatsapp", body="Hola, quiero cambiar la talla",
                                             customer_name="Ana Peña", phones=[f"301{next(_phones):07d}"])
    if assignee is not None:
        c.assignee = assignee
        c.save(update_fields=["assignee"])
    return c


@pytest.fixture
def soporte():
    inbox, _created = Inbox.objects.update_or_create(code="soporte", defaults={"name": "Soporte",
                                                                               "auto_assign": False})
    inbox.teams.set([TeamFactory(code="soporte", name="Soporte")])
    return inbox


@pytest.fixture
def agent_in_soporte(soporte):
    user = UserFactory(role=Role.AGENTE)
    user.teams.set(soporte.teams.all())
    return user


def events(kind):
    return ConversationEvent.objects.filter(kind=kind).count()


def test_assigning_many_is_each_assignment_and_repeating_it_changes_nothing(supervisor, agent_in_soporte):
    # given
    ids = [conversation().pk for _ in range(3)]
    # when
    first = check_bulk(supervisor, conversation_ids=ids, op="assign", assignee_id=agent_in_soporte.pk)
    assigned = events("assigned")
    again = check_bulk(supervisor, conversation_ids=ids, op="assign", assignee_id=agent_in_soporte.pk)
    # then
    assert first == again == BulkResult(ok=ids, failed=[])
    assert set(Conversation.objects.filter(pk__in=ids).values_list("assignee", flat=True)) == {agent_in_soporte.pk}
    assert assigned == 3 and events("assigned") == 3


def test_refusals_are_listed_with_their_message_and_never_stop_the_others(agent):
    # given: the agent answered the first and last customers; the middle one has no answer yet
    answered = [conversation(assignee=agent) for _ in range(2)]
    for c in answered:
        actions.check_send_reply(agent, c.pk, body="Listo, ya quedó el cambio.")
    unanswered = conversation(assignee=agent)
    ids = [answered[0].pk, unanswered.pk, 999_999, answered[1].pk]
    # when
    result = check_bulk(agent, conversation_ids=ids, op="close", reason="answered")
    # then
    assert result.ok == [answered[0].pk, answered[1].pk]
    failed = dict(result.failed)
    assert list(failed) == [unanswered.pk, 999_999]
    assert failed[unanswered.pk].startswith("No se puede cerrar con ese motivo.")
    assert failed[999_999] == "La conversación no existe."
    states = dict(Conversation.objects.filter(pk__in=ids).values_list("pk", "state"))
    assert states == {answered[0].pk: "resuelta", unanswered.pk: "nueva", answered[1].pk: "resuelta"}


def test_an_agent_gets_the_same_answer_one_by_one_as_on_the_conversation_page(agent, make_user):
    # given: one unowned conversation and one a colleague owns
    colleague = make_user(Role.AGENTE)
    free, taken = conversation(), conversation(assignee=colleague)
    # when
    result = check_bulk(agent, conversation_ids=[free.pk, taken.pk], op="assign", assignee_id=agent.pk)
    # then: what check_assign says for the second one, word for word
    with pytest.raises(ActionError) as single:
        actions.check_assign(agent, taken.pk, assignee=agent.pk)
    assert result == BulkResult(ok=[free.pk], failed=[(taken.pk, single.value.message)])


def test_moving_needs_the_descriptive_comment_of_a_transfer(supervisor, agent_in_soporte, soporte):
    # given
    ids = [conversation(assignee=agent_in_soporte).pk for _ in range(2)]
    # when
    terse = check_bulk(supervisor, conversation_ids=ids, op="move", inbox_code="soporte", comment="ver")
    moved = check_bulk(supervisor, conversation_ids=ids, op="move", inbox_code="soporte", comment=COMMENT)
    # then
    assert terse.ok == [] and [cid for cid, _msg in terse.failed] == ids
    assert terse.failed[0][1].startswith("Escriba un comentario descriptivo")
    assert moved.ok == ids and moved.failed == []
    assert set(Conversation.objects.filter(pk__in=ids).values_list("inbox", flat=True)) == {soporte.pk}
    assert events("moved") == 2


def test_tagging_adds_to_the_tags_already_there(supervisor):
    # given
    tagged, plain = conversation(), conversation()
    actions.check_set_associations(supervisor, tagged.pk, tags=["vip"])
    # when
    first = check_bulk(supervisor, conversation_ids=[tagged.pk, plain.pk], op="tag", tag=" cambio ")
    again = check_bulk(supervisor, conversation_ids=[tagged.pk, plain.pk], op="tag", tag="cambio")
    # then
    assert first.ok == again.ok == [tagged.pk, plain.pk]
    assert sorted(tagged.tags.values_list("name", flat=True)) == ["cambio", "vip"]
    assert list(plain.tags.values_list("name", flat=True)) == ["cambio"]


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"op": "borrar"}, "invalid_op"),
    ({"op": "assign", "conversation_ids": []}, "ids_required"),
    ({"op": "assign", "conversation_ids": list(range(1, BULK_MAX + 2))}, "too_many_ids"),
    ({"op": "move", "comment": COMMENT}, "inbox_required"),
    ({"op": "tag", "tag": "  "}, "tag_required"),
])
def test_a_malformed_request_changes_nothing(supervisor, kwargs, code):
    # given
    c = conversation()
    # when
    with pytest.raises(ActionError) as exc:
        check_bulk(supervisor, **{"conversation_ids": [c.pk], **kwargs})
    # then
    assert exc.value.code == code
    assert ConversationEvent.objects.exclude(kind="created").count() == 0


def test_repeated_ids_count_once_and_people_outside_the_inbox_are_refused(supervisor, make_user):
    # given
    c = conversation()
    # when
    result = check_bulk(supervisor, conversation_ids=[c.pk, c.pk], op="tag", tag="vip")
    # then
    assert result == BulkResult(ok=[c.pk], failed=[])
    with pytest.raises(PermissionDeniedError):
        check_bulk(make_user(Role.ANALISTA), conversation_ids=[c.pk], op="tag", tag="vip")
