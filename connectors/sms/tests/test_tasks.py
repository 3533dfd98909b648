"""The periodic safety net and the task shims: lost work is found again, each piece once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from connectors.sms import tasks
from connectors.sms.actions import do_safety_net
from connectors.sms.models import StatusReceipt, WebhookDelivery
from connectors.sms.tests.helpers import CUSTOMER, post_callback, queued
from core.schedule import SCHEDULE

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


def test_the_safety_net_is_scheduled():
    (job,) = [j for j in SCHEDULE if j.name == "sms_safety_net"]
    assert job.task == "connectors.sms.tasks.sms_safety_net" and job.every == timedelta(minutes=1)


def test_lost_deliveries_are_queued_again(client, sms_account, fake_sms):
    # given a stored delivery whose task was lost (the queue was down), and one already processed
    with time_machine.travel(NOW, tick=False):
        post_callback(client, fake_sms.state.inbound_request(CUSTOMER, "Hola"))  # on_commit never ran: no task
        done = WebhookDelivery.objects.create(account=sms_account, kind="status", body="x", state="processed")
    lost = WebhookDelivery.objects.exclude(pk=done.pk).get()
    # when the safety net runs two minutes later
    with time_machine.travel(NOW + timedelta(minutes=2), tick=False):
        counts = do_safety_net()
    # then only the lost one is queued, and processing it stores the message
    assert counts["deliveries"] == 1
    (task,) = queued("process_sms_webhooks")
    assert task.args == [[lost.pk]]
    assert tasks.process_sms_webhooks.call([lost.pk]) == {"processed": 1}


def test_old_unclaimed_statuses_are_pruned():
    with time_machine.travel(NOW - timedelta(days=8), tick=False):
        StatusReceipt.objects.create(sid="SMold", status="sent")
    with time_machine.travel(NOW, tick=False):
        StatusReceipt.objects.create(sid="SMnew", status="sent")
        assert do_safety_net()["pruned_receipts"] == 1
    assert list(StatusReceipt.objects.values_list("sid", flat=True)) == ["SMnew"]


def test_a_reply_no_sender_ever_claimed_is_sent(client, sms_account, fake_sms, django_capture_on_commit_callbacks):
    from accounts.roles import Role
    from accounts.tests.factories import UserFactory
    from inbox import actions as inbox
    from inbox.models import Message

    with django_capture_on_commit_callbacks(execute=True):
        post_callback(client, fake_sms.state.inbound_request(CUSTOMER, "Hola"))
    tasks.process_sms_webhooks.call([WebhookDelivery.objects.get().pk])
    conversation = Message.objects.get().conversation
    # given a reply whose delivery task was lost
    with time_machine.travel(NOW, tick=False):
        inbox.check_send_reply(UserFactory(role=Role.AGENTE), conversation.pk, body="Hola, ¿en qué le ayudo?")
    # when the safety net runs three minutes later / then it is handed to the sender, which sends it
    with time_machine.travel(NOW + timedelta(minutes=3), tick=False):
        assert do_safety_net()["sends"] == 1
        (retry,) = queued("retry_sms_send")
        assert retry.task.call(*retry.args) == "sent"
    assert [s["body"] for s in fake_sms.state.sent] == ["Hola, ¿en qué le ayudo?"]
