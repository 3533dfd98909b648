"""Issue 14: outgoing webhooks for every event type, fanned out from the event log after commit, with a safety net
for a fan-out lost with its process — and never twice per endpoint and event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from core import events
from core.models import EventLog
from inbox import actions as inbox
from webhooks.actions import check_save_endpoint, do_deliver_due, do_fan_out, do_fan_out_missed
from webhooks.models import WebhookMessage
from webhooks.tests.test_webhooks import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def fan_out_lost() -> Iterator[None]:
    """The process dies between the action's commit and the webhooks subscriber: the subscriber never runs."""
    handler = events._subscribers[events.ANY].pop("webhooks.fan_out")
    yield
    events._subscribers[events.ANY]["webhooks.fan_out"] = handler


def test_every_event_type_of_the_catalogue_can_be_subscribed(admin_user):
    endpoint = check_save_endpoint(admin_user, url="https://erp.example.com/hooks", events=list(events.EVENT_TYPES))
    assert sorted(endpoint.events) == sorted(events.EVENT_TYPES)


def test_inbox_events_reach_the_subscribed_endpoint_only(receiver, admin_user, supervisor):
    # given an endpoint for new conversations and received messages (not for state changes)
    check_save_endpoint(admin_user, url=receiver.url, events=["conversation.created", "message.received"])

    # when a customer writes for the first time
    c, message, _new = inbox.do_receive_inbound(channel="whatsapp", body="Hola, ¿hacen envíos a Cali?",
                                                 customer_name="Lucía Peña", phones=["+573001112233"])
    inbox.check_escalate(supervisor, c.pk, comment="El cliente pide hablar con un supervisor.")

    # then exactly those two events are delivered, each with its logged payload
    assert do_deliver_due() == 2
    bodies = [json.loads(hit["body"]) for hit in receiver.received]
    assert [b["event"] for b in bodies] == ["conversation.created", "message.received"]
    assert bodies[1]["data"] == {"message_id": message.pk, "conversation_id": c.pk, "customer_id": c.customer_id,
                                 "channel": "whatsapp", "inbox": "global", "body": "Hola, ¿hacen envíos a Cali?",
                                 "attachments": 0}


def test_a_fan_out_lost_with_its_process_is_made_up_by_the_safety_net_once(receiver, admin_user, fan_out_lost):
    # given an endpoint, and a message whose after-commit fan-out was lost
    check_save_endpoint(admin_user, url=receiver.url, events=["message.received"])
    inbox.do_receive_inbound(channel="whatsapp", body="Hola", customer_name="Ana", phones=["+573001112233"])
    assert WebhookMessage.objects.count() == 0

    # when the periodic safety net runs within the first minute, nothing yet (the fan-out may still be running)
    assert do_fan_out_missed() == 0
    # then, a few minutes later, it creates the missing message — and running again (or the late fan-out itself)
    # adds no second one
    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=False):
        assert do_fan_out_missed() == 1
        assert do_fan_out_missed() == 0
        assert do_fan_out(EventLog.objects.filter(type="message.received").values_list("pk", flat=True)) == 0
        assert do_deliver_due() == 1
    assert len(receiver.received) == 1


def test_an_endpoint_gets_no_events_from_before_it_existed(receiver, admin_user):
    # given a message received before the endpoint was registered
    inbox.do_receive_inbound(channel="whatsapp", body="Hola", customer_name="Ana", phones=["+573001112233"])
    with time_machine.travel(timezone.now() + timedelta(seconds=5), tick=False):
        check_save_endpoint(admin_user, url=receiver.url, events=["message.received"])
    # when the safety net looks back over the day
    with time_machine.travel(timezone.now() + timedelta(minutes=10), tick=False):
        created = do_fan_out_missed()
    # then the old event is not sent to the new endpoint
    assert created == 0 and WebhookMessage.objects.count() == 0
