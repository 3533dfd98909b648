from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from accounts import actions
from realtime.consumers import CLOSE_UNAUTHENTICATED
from realtime.routing import websocket_urlpatterns

app = URLRouter(websocket_urlpatterns)


@pytest.mark.django_db(transaction=True)
def test_anonymous_socket_is_closed():
    async def scenario() -> tuple[bool, int]:
        communicator = WebsocketCommunicator(app, "/ws/events/")
        communicator.scope["user"] = AnonymousUser()
        return await communicator.connect()

    connected, code = async_to_sync(scenario)()
    assert not connected and code == CLOSE_UNAUTHENTICATED


@pytest.mark.django_db(transaction=True)
def test_presence_event_reaches_supervisor_socket(agent, supervisor):
    async def scenario() -> tuple[dict[str, object], dict[str, object]]:
        # given a supervisor connected to their event socket
        communicator = WebsocketCommunicator(app, "/ws/events/")
        communicator.scope["user"] = supervisor
        connected, _ = await communicator.connect()
        assert connected
        hello = await communicator.receive_json_from()
        # when an agent changes availability (the action commits, then sends)
        await sync_to_async(actions.check_change_availability)(agent, agent.pk, to="ocupado")
        event = await communicator.receive_json_from(timeout=3)
        await communicator.disconnect()
        return hello, event

    hello, event = async_to_sync(scenario)()
    # then the supervisor receives the typed event carrying the change
    assert hello["op"] == "connected"
    assert event["type"] == "presence" and event["op"] == "update"
    assert event["user_id"] == agent.pk and event["availability"] == "ocupado"
    assert isinstance(event["event_id"], int) and event["event_id"] > 0


@pytest.mark.django_db(transaction=True)
def test_disconnect_schedules_auto_offline_after_grace(agent, settings):
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from realtime.models import Connection

    # given the database task queue and a 120 s grace period
    settings.AUTO_OFFLINE_SECONDS = 120
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": settings.TASK_QUEUES}}

    async def scenario() -> int:
        communicator = WebsocketCommunicator(app, "/ws/events/")
        communicator.scope["user"] = agent
        await communicator.connect()
        await communicator.receive_json_from()
        connections = await sync_to_async(Connection.objects.filter(user=agent).count)()
        await communicator.disconnect()
        return connections

    # when the agent's only tab connects and then closes
    assert async_to_sync(scenario)() == 1
    # then the connection row is gone and a deferred auto_offline is queued for this user
    assert not Connection.objects.filter(user=agent).exists()
    (queued,) = DBTaskResult.objects.all()
    assert queued.task_path == "realtime.tasks.auto_offline" and queued.args_kwargs["args"] == [agent.pk]
    assert queued.run_after is not None and queued.run_after > timezone.now()


@pytest.mark.django_db
def test_auto_offline_leaves_connected_or_offline_users_alone(agent, make_user):
    from realtime.presence import register_connection
    from realtime.tasks import auto_offline

    # given an available agent with a live tab, and another one without
    agent.availability = "disponible"
    agent.save()
    register_connection(agent.pk, "chan-1")
    gone = make_user(availability="disponible")
    # when the task runs for both (twice, to show it is safe to repeat)
    results = [auto_offline.call(agent.pk), auto_offline.call(gone.pk), auto_offline.call(gone.pk)]
    # then only the one without a connection goes offline, once
    agent.refresh_from_db()
    gone.refresh_from_db()
    assert results == [False, True, False]
    assert agent.availability == "disponible" and gone.availability == "desconectado"


@pytest.mark.django_db(transaction=True)
def test_queue_event_reaches_every_agent_through_one_topic_message(agent, supervisor, monkeypatch):
    from channels.layers import get_channel_layer

    from leads.models import Lead
    from realtime.events import send_event_on_commit

    layer = get_channel_layer()
    sent: list[str] = []
    original = layer.group_send

    async def counting_group_send(group: str, message: dict[str, object]) -> None:
        sent.append(group)
        await original(group, message)

    monkeypatch.setattr(layer, "group_send", counting_group_send)

    async def scenario() -> list[dict[str, object]]:
        # given an agent and a supervisor connected to their event sockets
        sockets = []
        for user in (agent, supervisor):
            communicator = WebsocketCommunicator(app, "/ws/events/")
            communicator.scope["user"] = user
            connected, _ = await communicator.connect()
            assert connected
            await communicator.receive_json_from()
            sockets.append(communicator)
        # when a lead event is broadcast to the queue topic
        lead = await sync_to_async(Lead.objects.create)(kommo_id=77, name="Lead 77", in_queue=True)
        sent.clear()  # connecting may announce presence; count only the broadcast
        await sync_to_async(send_event_on_commit)({"type": "lead", "op": "upsert", "lead": {"id": lead.pk}},
                                                  topics=["leads"])
        events = [await s.receive_json_from(timeout=3) for s in sockets]
        for s in sockets:
            await s.disconnect()
        return events

    events = async_to_sync(scenario)()
    # then both receive it, and the layer carried one message for the topic instead of one per user
    assert [e["type"] for e in events] == ["lead", "lead"]
    assert sent == ["topic.leads"]


def test_a_stuck_channel_layer_does_not_hold_the_sender(monkeypatch):
    import time

    from channels.layers import get_channel_layer

    from realtime import events

    # given a channel layer whose group_send never returns (a backend it cannot reach)
    layer = get_channel_layer()

    async def never(group: str, message: dict[str, object]) -> None:
        import asyncio

        await asyncio.sleep(3600)

    monkeypatch.setattr(layer, "group_send", never)
    monkeypatch.setattr(events, "SEND_TIMEOUT_SECONDS", 0.2)
    # when an event is sent / then the sender gets control back after the bounded wait, without an exception
    started = time.monotonic()
    events._send_now_rollback_unsafe({"type": "lead", "op": "upsert"}, [("topic.leads", None)])
    assert time.monotonic() - started < 2


@pytest.mark.django_db(transaction=True)
def test_a_socket_joins_its_rooms_and_follows_membership_changes(agent, monkeypatch):
    from realtime import rooms
    from realtime.events import rooms_changed_on_commit, send_event_on_commit

    # given an app that puts the agent in room "sala.1" (providers register from their AppConfig.ready())
    agent_rooms = {"sala.1"}
    monkeypatch.setattr(rooms, "PROVIDERS", [lambda user: set(agent_rooms) if user.pk == agent.pk else set()])

    async def scenario() -> list[dict[str, object]]:
        communicator = WebsocketCommunicator(app, "/ws/events/")
        communicator.scope["user"] = agent
        connected, _ = await communicator.connect()
        assert connected
        await communicator.receive_json_from()  # hello
        received = []
        # when an event goes to the room: the socket has it
        await sync_to_async(send_event_on_commit)({"type": "sala", "op": "uno"}, rooms=["sala.1"])
        received.append(await communicator.receive_json_from(timeout=3))
        # when the agent leaves sala.1 and joins sala.2 (the app's data changes, then the change is announced), then
        # events go to both rooms
        agent_rooms.clear()
        agent_rooms.add("sala.2")
        await sync_to_async(rooms_changed_on_commit)([agent.pk], join=["sala.2"], leave=["sala.1"])
        await sync_to_async(send_event_on_commit)({"type": "sala", "op": "dos"}, rooms=["sala.1"])
        await sync_to_async(send_event_on_commit)({"type": "sala", "op": "tres"}, rooms=["sala.2"])
        received.append(await communicator.receive_json_from(timeout=3))
        assert await communicator.receive_nothing(timeout=0.2)
        await communicator.disconnect()
        return received

    # then only the events of the rooms it was in when they were sent reached it
    assert [e["op"] for e in async_to_sync(scenario)()] == ["uno", "tres"]


@pytest.mark.django_db(transaction=True)
def test_a_deactivated_account_loses_its_open_socket_and_cannot_reconnect(agent):
    from accounts.roles import Role
    from accounts.tests.factories import UserFactory
    from realtime.consumers import CLOSE_ACCESS_CHANGED

    admin = UserFactory(role=Role.ADMIN)

    async def scenario() -> tuple[dict[str, object], bool, int]:
        # given the agent's open page
        communicator = WebsocketCommunicator(app, "/ws/events/")
        communicator.scope["user"] = agent
        connected, _ = await communicator.connect()
        assert connected
        await communicator.receive_json_from()  # hello
        # when an administrator deactivates the account
        await sync_to_async(actions.check_update_user)(admin, agent.pk, is_active=False)
        closed = await communicator.receive_output(timeout=3)
        await communicator.wait()
        # then the page's reconnection is refused
        await sync_to_async(agent.refresh_from_db)()
        again = WebsocketCommunicator(app, "/ws/events/")
        again.scope["user"] = agent
        reconnected, code = await again.connect()
        return closed, reconnected, code

    closed, reconnected, code = async_to_sync(scenario)()
    assert (closed["type"], closed["code"]) == ("websocket.close", CLOSE_ACCESS_CHANGED)
    assert not reconnected and code == CLOSE_UNAUTHENTICATED


@pytest.mark.django_db
def test_any_save_that_switches_an_account_off_or_changes_its_role_closes_its_sockets(
        agent, django_capture_on_commit_callbacks):
    from channels.layers import get_channel_layer

    from realtime.events import user_group

    # given the agent's open connection
    layer = get_channel_layer()
    name = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(user_group(agent.pk), name)

    def pending() -> list[dict[str, object]]:
        out = []
        while layer.channels.get(name) is not None and not layer.channels[name].empty():
            out.append(async_to_sync(layer.receive)(name))
        return out

    # when only the last login is saved (as at every login), nothing is sent
    with django_capture_on_commit_callbacks(execute=True):
        agent.save(update_fields=["last_login"])
    assert pending() == []
    # when the account is switched off outside the users page (Django's admin saves the model directly)
    agent.is_active = False
    with django_capture_on_commit_callbacks(execute=True):
        agent.save()
    # then its connections are told to close
    assert pending() == [{"type": "realtime.close"}]
    # and a role change does the same
    agent.is_active, agent.role = True, "supervisor"
    with django_capture_on_commit_callbacks(execute=True):
        agent.save()
    assert pending() == [{"type": "realtime.close"}]
