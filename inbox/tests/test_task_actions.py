"""Task actions: complete, reopen and reassign a conversation's follow-up task, and the list a user may see."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import factory
import pytest
import time_machine

from accounts.roles import Role
from accounts.tests.factories import TeamFactory, UserFactory
from core.errors import ActionError, InvalidTransition, NotFoundError, PermissionDeniedError
from inbox import actions
from inbox.choices import TaskStatus
from inbox.models import ConversationEvent, Inbox, Task
from inbox.task_actions import check_complete_task, check_reassign_task, check_reopen_task, tasks_for

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


class TaskFactory(factory.django.DjangoModelFactory[Task]):
    class Meta:
        model = Task

    title = factory.Sequence(lambda n: f"Enviar cotización {n}")
    cycle = factory.LazyAttribute(lambda o: o.conversation.cycle)
    created_by = factory.LazyAttribute(lambda o: o.responsible)


_phones = iter(range(10_000))


def conversation(*, inbox_code=None, assignee=None):
    c, _m, _new = actions.do_receive_inbound(channel="whatsapp", body="Necesito una cotización",
                                             customer_name="Ana Peña", phones=[f"300{next(_phones):07d}"],
                                             inbox_code=inbox_code)
    if assignee is not None:
        c.assignee = assignee
        c.save(update_fields=["assignee"])
    return c


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def ventas():
    """A team inbox without automatic assignment, so each test picks the owner itself."""
    inbox, _created = Inbox.objects.update_or_create(code="ventas", defaults={"name": "Ventas", "auto_assign": False})
    inbox.teams.set([TeamFactory(code="ventas", name="Ventas")])
    return inbox


def member(inbox, **kwargs):
    user = UserFactory(role=Role.AGENTE, **kwargs)
    user.teams.set(inbox.teams.all())
    return user


@pytest.fixture
def sent(monkeypatch):
    events = []

    def record(event, *, user_ids=(), topics=()):
        events.append((json.loads(json.dumps(event)), sorted(set(user_ids))))

    monkeypatch.setattr("inbox.actions.base.send_event_on_commit", record)
    return events


def task_events(task):
    return list(ConversationEvent.objects.filter(conversation=task.conversation, kind__startswith="task_")
                .values_list("kind", "actor", "data"))


# --- complete and reopen -------------------------------------------------------------------------------


def test_the_responsible_completes_their_task_once(ventas, clock, sent):
    # given
    owner = member(ventas)
    task = TaskFactory(conversation=conversation(inbox_code="ventas", assignee=owner), responsible=owner)
    # when
    done = check_complete_task(owner, task.pk)
    again = check_complete_task(owner, task.pk)
    # then
    assert done.status == again.status == TaskStatus.DONE
    assert task_events(task) == [("task_done", owner.pk, {"task": task.pk, "title": task.title,
                                                          "from": "abierta", "to": "completada"})]
    event = ConversationEvent.objects.get(kind="task_done")
    assert event.cycle == task.conversation.cycle and event.created_at == NOW
    live = [e for e, _users in sent if e["type"] == "conversation" and e["op"] == "task"]
    assert len(live) == 1 and live[0]["item"]["kind"] == "task_done"


def test_reopening_a_done_task_is_recorded_and_reopening_an_open_one_changes_nothing(ventas):
    # given
    owner = member(ventas)
    task = TaskFactory(conversation=conversation(inbox_code="ventas", assignee=owner), responsible=owner,
                       status=TaskStatus.DONE)
    # when
    check_reopen_task(owner, task.pk)
    check_reopen_task(owner, task.pk)
    # then
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN
    assert [kind for kind, _actor, _data in task_events(task)] == ["task_reopened"]


def test_a_cancelled_task_is_reopened_before_it_is_completed(ventas):
    # given
    owner = member(ventas)
    task = TaskFactory(conversation=conversation(inbox_code="ventas", assignee=owner), responsible=owner,
                       status=TaskStatus.CANCELLED)
    # when
    with pytest.raises(InvalidTransition) as exc:
        check_complete_task(owner, task.pk)
    # then
    assert exc.value.code == "invalid_task_transition" and exc.value.details["allowed"] == ["abierta"]
    check_reopen_task(owner, task.pk)
    assert check_complete_task(owner, task.pk).status == TaskStatus.DONE


def test_the_conversations_owner_and_a_supervisor_may_change_someone_elses_task(ventas, supervisor):
    # given
    owner, helper = member(ventas), member(ventas)
    task = TaskFactory(conversation=conversation(inbox_code="ventas", assignee=owner), responsible=helper)
    # when
    check_complete_task(owner, task.pk)
    check_reopen_task(supervisor, task.pk)
    # then
    assert [(kind, actor) for kind, actor, _data in task_events(task)] == [("task_done", owner.pk),
                                                                           ("task_reopened", supervisor.pk)]


def test_someone_who_sees_the_conversation_but_has_no_part_in_the_task_may_not_change_it():
    # given: an unowned Global conversation, which every agent sees
    creator, bystander = UserFactory(role=Role.AGENTE), UserFactory(role=Role.AGENTE)
    task = TaskFactory(conversation=conversation(), responsible=creator)
    # when
    with pytest.raises(PermissionDeniedError) as exc:
        check_complete_task(bystander, task.pk)
    # then
    assert exc.value.code == "not_task_responsible"
    assert Task.objects.get(pk=task.pk).status == TaskStatus.OPEN and task_events(task) == []


def test_a_task_of_a_conversation_the_agent_cannot_see_does_not_exist_for_them(ventas, make_user):
    # given: a conversation owned by a teammate (agents see only their own, Global and unowned ones)
    owner, outsider = member(ventas), member(ventas)
    task = TaskFactory(conversation=conversation(inbox_code="ventas", assignee=owner), responsible=owner)
    # when / then
    for attempt in (lambda: check_complete_task(outsider, task.pk),
                    lambda: check_reassign_task(outsider, task.pk, responsible_id=outsider.pk),
                    lambda: check_reopen_task(outsider, 999_999)):
        with pytest.raises(NotFoundError) as exc:
            attempt()
        assert exc.value.code == "task_not_found"
    with pytest.raises(PermissionDeniedError):  # no inbox permission at all
        check_complete_task(make_user(Role.ANALISTA), task.pk)


def test_the_responsible_reaches_their_task_even_in_a_conversation_they_cannot_open(ventas):
    # given: the task was handed to a teammate; the conversation stays with its owner
    owner, teammate = member(ventas), member(ventas)
    task = TaskFactory(conversation=conversation(inbox_code="ventas", assignee=owner), responsible=teammate)
    assert not actions.visible_to(teammate, task.conversation_id)
    # when
    check_complete_task(teammate, task.pk)
    # then
    assert Task.objects.get(pk=task.pk).status == TaskStatus.DONE
    assert list(tasks_for(teammate, mine=True)) == [task]


# --- reassign ------------------------------------------------------------------------------------------


def test_reassigning_records_who_had_it_and_who_has_it_now(ventas, supervisor):
    # given
    owner, helper = member(ventas), member(ventas)
    task = TaskFactory(conversation=conversation(inbox_code="ventas", assignee=owner), responsible=owner)
    # when
    check_reassign_task(owner, task.pk, responsible_id=helper.pk)
    check_reassign_task(supervisor, task.pk, responsible_id=helper.pk)  # already theirs: nothing to record
    # then
    assert Task.objects.get(pk=task.pk).responsible == helper
    assert task_events(task) == [("task_reassigned", owner.pk, {"task": task.pk, "title": task.title,
                                                                "from": owner.pk, "to": helper.pk})]


@pytest.mark.parametrize("who", ["inactive", "analyst", "unknown"])
def test_the_new_responsible_is_an_active_user_who_works_the_inbox(ventas, make_user, who):
    # given
    owner = member(ventas)
    task = TaskFactory(conversation=conversation(inbox_code="ventas", assignee=owner), responsible=owner)
    target = {"inactive": lambda: make_user(Role.AGENTE, is_active=False).pk,
              "analyst": lambda: make_user(Role.ANALISTA).pk, "unknown": lambda: 999_999}[who]()
    # when
    with pytest.raises(ActionError) as exc:
        check_reassign_task(owner, task.pk, responsible_id=target)
    # then
    assert exc.value.code == "invalid_responsible" and exc.value.details["field"] == "responsible"
    assert Task.objects.get(pk=task.pk).responsible == owner and task_events(task) == []


# --- the list ------------------------------------------------------------------------------------------


def test_tasks_for_lists_what_the_user_may_see_open_first_then_by_due_date(ventas, supervisor, clock):
    # given
    me, teammate = member(ventas), member(ventas)
    mine = conversation(inbox_code="ventas", assignee=me)
    theirs = conversation(inbox_code="ventas", assignee=teammate)
    later = TaskFactory(conversation=mine, responsible=me, due_at=NOW + timedelta(days=2))
    undated = TaskFactory(conversation=mine, responsible=teammate)
    sooner = TaskFactory(conversation=mine, responsible=me, due_at=NOW + timedelta(hours=1))
    done = TaskFactory(conversation=mine, responsible=me, status=TaskStatus.DONE, due_at=NOW)
    hidden = TaskFactory(conversation=theirs, responsible=teammate)
    # when / then
    assert list(tasks_for(me)) == [sooner, later, undated, done]
    assert list(tasks_for(me, mine=True, status="abierta")) == [sooner, later]
    assert list(tasks_for(me, conversation_id=theirs.pk)) == []
    assert list(tasks_for(supervisor, conversation_id=theirs.pk)) == [hidden]
    assert list(tasks_for(teammate, mine=True)) == [undated, hidden]
    with pytest.raises(ActionError) as exc:
        tasks_for(me, status="hecha")
    assert exc.value.code == "invalid_status"
