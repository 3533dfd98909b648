"""Everything the inbox screen does is in the API: one HTTP test per endpoint for wiring and permissions (an
agent who cannot see the conversation gets 404, a bad body 400, never 500)."""

from __future__ import annotations

from datetime import UTC, datetime

import factory
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import Role
from accounts.tests.factories import TeamFactory, UserFactory
from inbox import actions
from inbox.models import Conversation, ConversationEvent, Inbox, Task

pytestmark = pytest.mark.django_db
COMMENT = "Lo llamé por teléfono: confirma la dirección y el pedido sale mañana."
_phones = iter(range(10_000))


class TaskFactory(factory.django.DjangoModelFactory[Task]):
    class Meta:
        model = Task

    title = factory.Sequence(lambda n: f"Llamar al cliente {n}")
    cycle = 1
    created_by = factory.LazyAttribute(lambda o: o.responsible)


@pytest.fixture
def ventas():
    inbox, _created = Inbox.objects.update_or_create(code="ventas", defaults={"name": "Ventas", "auto_assign": False})
    inbox.teams.set([TeamFactory(code="ventas", name="Ventas")])
    return inbox


@pytest.fixture
def owner(ventas):
    user = UserFactory(role=Role.AGENTE, username="duena", full_name="Dora Dueña")
    user.teams.set(ventas.teams.all())
    return user


@pytest.fixture
def outsider(ventas):
    """A teammate: the conversation is the owner's, so it is not in any of the outsider's lists."""
    user = UserFactory(role=Role.AGENTE, username="ajena")
    user.teams.set(ventas.teams.all())
    return user


def conversation(*, assignee=None, inbox_code="ventas"):
    c, _m, _new = actions.do_receive_inbound(channel="whatsapp", body="¿Cuándo llega mi pedido?",
                                             customer_name="Ana Peña", phones=[f"302{next(_phones):07d}"],
                                             inbox_code=inbox_code)
    if assignee is not None:
        c.assignee = assignee
        c.save(update_fields=["assignee"])
    return c


@pytest.fixture
def mine(owner):
    return conversation(assignee=owner)


def post(api, path, body, method="post"):
    return getattr(api, method)(f"/api/v1{path}", body, content_type="application/json")


# --- tasks -----------------------------------------------------------------------------------------------


@time_machine.travel(datetime(2026, 3, 10, 15, 0, tzinfo=UTC), tick=False)
def test_get_tasks_lists_visible_tasks_with_flat_queries(owner, outsider, mine, api_client_for):
    # given
    api = api_client_for(owner)
    other = conversation(assignee=outsider)
    TaskFactory(conversation=other, responsible=outsider)

    def cost(n):
        Task.objects.filter(conversation=mine).delete()
        TaskFactory.create_batch(n, conversation=mine, responsible=factory.Iterator([owner, outsider]))
        with CaptureQueriesContext(connection) as queries:
            response = api.get(f"/api/v1/tasks?conversation={mine.pk}&status=abierta&page_size=100")
        assert response.status_code == 200
        return len(queries), response.json()

    api.get("/api/v1/tasks")  # a token's first use in a minute writes its "last used" time: not the list's cost
    # when
    small, _ = cost(3)
    large, body = cost(30)
    # then
    assert small == large == 3  # the token, the count, the page (responsible and creator joined)
    assert body["count"] == 30 and {t["conversation"] for t in body["results"]} == {mine.pk}
    first = body["results"][0]
    assert set(first) == {"id", "conversation", "cycle", "title", "status", "due_at", "responsible", "created_by",
                          "created_at"}
    assert first["responsible"] == {"id": owner.pk, "username": "duena", "name": "Dora Dueña"}
    assert api.get("/api/v1/tasks?mine=true").json()["count"] == 15
    assert api.get(f"/api/v1/tasks?conversation={other.pk}").json()["count"] == 0
    bad = api.get("/api/v1/tasks?status=hecha")
    assert bad.status_code == 400 and bad.json()["field"] == "status"


def test_complete_task(owner, outsider, mine, api_client_for):
    # given
    task = TaskFactory(conversation=mine, responsible=owner)
    # when
    response = post(api_client_for(owner), f"/tasks/{task.pk}/complete", {})
    hidden = post(api_client_for(outsider), f"/tasks/{task.pk}/complete", {})
    # then
    assert response.status_code == 200 and response.json()["status"] == "completada"
    assert hidden.status_code == 404 and hidden.json()["code"] == "task_not_found"
    assert post(api_client_for(owner), "/tasks/999999/complete", {}).status_code == 404


def test_reopen_task(owner, outsider, mine, api_client_for):
    # given
    task = TaskFactory(conversation=mine, responsible=owner, status="completada")
    # when
    hidden = post(api_client_for(outsider), f"/tasks/{task.pk}/reopen", {})
    response = post(api_client_for(owner), f"/tasks/{task.pk}/reopen", {})
    # then
    assert hidden.status_code == 404
    assert response.status_code == 200 and response.json()["status"] == "abierta"
    assert ConversationEvent.objects.filter(kind="task_reopened").count() == 1


def test_reassign_task(owner, outsider, mine, supervisor, api_client_for):
    # given
    task = TaskFactory(conversation=mine, responsible=owner)
    api = api_client_for(owner)
    # when
    response = post(api, f"/tasks/{task.pk}/reassign", {"responsible": supervisor.pk})
    # then
    assert response.status_code == 200 and response.json()["responsible"]["id"] == supervisor.pk
    assert post(api, f"/tasks/{task.pk}/reassign", {"responsible": "alguien"}).status_code == 400
    assert post(api, f"/tasks/{task.pk}/reassign", {}).status_code == 400
    refused = post(api, f"/tasks/{task.pk}/reassign", {"responsible": 999_999})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_responsible"
    other = TaskFactory(conversation=mine, responsible=owner)
    assert post(api_client_for(outsider), f"/tasks/{other.pk}/reassign",
                {"responsible": outsider.pk}).status_code == 404


# --- conversation details ------------------------------------------------------------------------------


def test_set_priority(owner, outsider, mine, api_client_for):
    # when
    response = post(api_client_for(owner), f"/conversations/{mine.pk}/priority", {"priority": "urgente"})
    bad = post(api_client_for(owner), f"/conversations/{mine.pk}/priority", {"priority": "altísima"})
    hidden = post(api_client_for(outsider), f"/conversations/{mine.pk}/priority", {"priority": "baja"})
    # then
    assert response.status_code == 200 and response.json()["priority"] == "urgente"
    assert bad.status_code == 400 and bad.json()["field"] == "priority"
    assert hidden.status_code == 404
    assert Conversation.objects.get(pk=mine.pk).priority == "urgente"


def test_replace_tags(owner, outsider, mine, api_client_for):
    # given
    api = api_client_for(owner)
    post(api, f"/conversations/{mine.pk}/tags", {"tags": ["vip", "reclamo"]}, method="put")
    # when
    response = post(api, f"/conversations/{mine.pk}/tags", {"tags": ["vip"]}, method="put")
    # then
    assert response.status_code == 200
    assert list(mine.tags.values_list("name", flat=True)) == ["vip"]
    assert post(api, f"/conversations/{mine.pk}/tags", {"tags": "vip"}, method="put").status_code == 400
    assert post(api_client_for(outsider), f"/conversations/{mine.pk}/tags", {"tags": []},
                method="put").status_code == 404


def test_patch_associations_changes_only_what_is_sent(owner, outsider, mine, api_client_for):
    # given
    api = api_client_for(owner)
    post(api, f"/conversations/{mine.pk}/associations", {"company": "Textiles Andinos"}, method="patch")
    # when
    response = post(api, f"/conversations/{mine.pk}/associations", {"ticket_ref": "SOP-1234"}, method="patch")
    # then
    assert response.status_code == 200
    mine.refresh_from_db()
    assert (mine.company, mine.ticket_ref) == ("Textiles Andinos", "SOP-1234")
    assert post(api, f"/conversations/{mine.pk}/associations", {"company": ["x"]},
                method="patch").status_code == 400
    assert post(api_client_for(outsider), f"/conversations/{mine.pk}/associations", {"company": "X"},
                method="patch").status_code == 404


def test_handled_outside(owner, outsider, mine, api_client_for):
    # given
    api = api_client_for(owner)
    # when
    response = post(api, f"/conversations/{mine.pk}/handled-outside",
                    {"external_channel": "teléfono", "comment": COMMENT})
    # then
    assert response.status_code == 200
    assert [i["kind"] for i in response.json()["timeline"] if i["type"] == "event"][-1] == "handled_outside"
    short = post(api, f"/conversations/{mine.pk}/handled-outside", {"external_channel": "teléfono", "comment": "ok"})
    assert short.status_code == 400 and short.json()["field"] == "comment"
    assert post(api, f"/conversations/{mine.pk}/handled-outside", {"comment": COMMENT}).status_code == 400
    assert post(api_client_for(outsider), f"/conversations/{mine.pk}/handled-outside",
                {"external_channel": "teléfono", "comment": COMMENT}).status_code == 404


# --- bulk and people -------------------------------------------------------------------------------------


def test_bulk_reports_failures_and_does_the_rest(owner, outsider, api_client_for, make_user):
    # given: two unowned conversations in the team's inbox and one the outsider owns
    free = [conversation(), conversation()]
    theirs = conversation(assignee=outsider)
    ids = [free[0].pk, theirs.pk, free[1].pk]
    api = api_client_for(owner)
    # when
    response = post(api, "/conversations/bulk", {"ids": ids, "op": "assign", "assignee": owner.pk})
    # then
    assert response.status_code == 200
    assert response.json() == {"ok": [free[0].pk, free[1].pk],
                               "failed": [{"id": theirs.pk, "error": "La conversación no existe."}]}
    assert set(Conversation.objects.filter(pk__in=[c.pk for c in free]).values_list("assignee", flat=True)) == {
        owner.pk}
    bad_op = post(api, "/conversations/bulk", {"ids": ids, "op": "borrar"})
    assert bad_op.status_code == 400 and bad_op.json()["field"] == "op"
    assert post(api, "/conversations/bulk", {"ids": ["a"], "op": "assign"}).status_code == 400
    assert post(api, "/conversations/bulk", {"op": "assign"}).status_code == 400
    analyst = post(api_client_for(make_user(Role.ANALISTA)), "/conversations/bulk", {"ids": ids, "op": "tag",
                                                                                      "tag": "vip"})
    assert analyst.status_code == 403


def test_assignable_people(owner, outsider, mine, supervisor, api_client_for):
    # given
    UserFactory(role=Role.AGENTE, username="otro-equipo")  # works the inbox, but not this inbox's team
    api = api_client_for(supervisor)
    # when
    response = api.get(f"/api/v1/conversations/{mine.pk}/assignable")
    searched = api.get(f"/api/v1/conversations/{mine.pk}/assignable?q=DUEÑA")
    # then
    assert response.status_code == 200
    people = {p["username"]: p for p in response.json()}
    assert {"duena", "ajena", supervisor.username} <= set(people) and "otro-equipo" not in people
    assert people["duena"]["open_load"] == 1 and people["duena"]["inboxes"] == ["Ventas"]
    assert set(people["duena"]) == {"id", "name", "username", "availability", "availability_label", "open_load",
                                    "capacity", "inboxes"}
    assert [p["username"] for p in searched.json()] == ["duena"]
    assert api_client_for(outsider).get(f"/api/v1/conversations/{mine.pk}/assignable").status_code == 404


def test_the_new_endpoints_are_in_the_openapi_document(client):
    # when
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    # then
    assert {"/api/v1/tasks", "/api/v1/tasks/{task_id}/complete", "/api/v1/tasks/{task_id}/reopen",
            "/api/v1/tasks/{task_id}/reassign", "/api/v1/conversations/bulk",
            "/api/v1/conversations/{conversation_id}/priority", "/api/v1/conversations/{conversation_id}/tags",
            "/api/v1/conversations/{conversation_id}/associations",
            "/api/v1/conversations/{conversation_id}/handled-outside",
            "/api/v1/conversations/{conversation_id}/assignable"} <= set(paths)
