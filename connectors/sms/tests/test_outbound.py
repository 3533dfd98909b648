"""Agent replies over SMS: the sender against the fake Twilio (form, pacing, 429 with Retry-After, failures with
Twilio's reason, reconciling a lost answer instead of sending twice) and the status callbacks that follow (out of
order and duplicated, never moving a message backwards; other apps' sids offered to the listeners)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.tasks import default_task_backend
from django.urls import reverse

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from connectors.sms import statuses
from connectors.sms.actions import status_url
from connectors.sms.client import client_for
from connectors.sms.models import OutboundSend, StatusReceipt
from connectors.sms.outbound import send_outbound
from connectors.sms.tests.helpers import CUSTOMER, FROM_NUMBER, clear_tasks, post_callback, queued, run_worker
from core.errors import ActionError
from customers.models import Consent
from inbox import actions as inbox
from inbox.attachments import Upload
from inbox.models import Message

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


@pytest.fixture
def agent(db):
    return UserFactory(role=Role.AGENTE, username="valeria")


@pytest.fixture
def conversation(client, sms_account, fake_sms, django_capture_on_commit_callbacks):
    """A customer texted the account's number."""
    with django_capture_on_commit_callbacks(execute=True):
        post_callback(client, fake_sms.state.inbound_request(CUSTOMER, "Hola, ¿tienen envíos a Cali?"))
    run_worker()
    clear_tasks()
    return Message.objects.get(kind="inbound").conversation


def reply(agent, conversation, body="Con gusto, ya lo reviso.", **kwargs):
    return inbox.check_send_reply(agent, conversation.pk, body=body, **kwargs)


def deliver_callbacks(client, fake_sms, django_capture_on_commit_callbacks):
    """Posts the callbacks the fake would have sent, in its order, through our endpoint; runs the worker."""
    callbacks = fake_sms.state.take_callbacks()
    with django_capture_on_commit_callbacks(execute=True):
        answers = [post_callback(client, c).status_code for c in callbacks]
    assert set(answers) <= {204}
    run_worker()
    return [c.fields["MessageStatus"] for c in callbacks]


def test_a_reply_reaches_the_customer_through_twilio(agent, conversation, fake_sms, sms_account,
                                                     django_capture_on_commit_callbacks):
    # given the agent answers the SMS conversation
    with django_capture_on_commit_callbacks(execute=True):
        message = reply(agent, conversation, body="Sí, enviamos a Cali en 2 días. ¿Le ayudo con algo más? 😀")
    assert message.delivery_status == "queued"
    # when the worker runs the inbox's delivery task
    run_worker(only={"deliver_outbound"})
    # then Twilio got the contract's form, from the account's number, with our status callback
    (sent,) = fake_sms.state.sent
    assert (sent["to"], sent["from"], sent["body"]) == (CUSTOMER, FROM_NUMBER, message.body)
    (request,) = [r for r in fake_sms.state.requests if r["method"] == "POST"]
    assert request["form"]["StatusCallback"] == status_url(sms_account)
    assert request["form"]["StatusCallback"] == f"https://centralita.example/integrations/sms/{sms_account.pk}/status/"
    message.refresh_from_db()
    assert (message.delivery_status, message.external_id) == ("sent", sent["sid"])
    row = OutboundSend.objects.get(message=message)
    assert (row.state, row.sid, row.segments, row.attempts, row.uncertain_since) == ("sent", sent["sid"], 1, 1,
                                                                                      None)
    # and a redelivered task sends nothing again
    assert send_outbound(message.pk) == "already"
    assert len(fake_sms.state.sent) == 1


def test_status_callbacks_out_of_order_and_duplicated_never_move_backwards(
        client, agent, conversation, fake_sms, django_capture_on_commit_callbacks):
    # given Twilio reports queued, sent and delivered in reverse order, each twice
    fake_sms.state.configure({"auto_status": ["queued", "sent", "delivered"], "status_order": "reverse",
                              "duplicate_statuses": True})
    message = reply(agent, conversation)
    assert send_outbound(message.pk) == "sent"
    # when the callbacks are delivered
    order = deliver_callbacks(client, fake_sms, django_capture_on_commit_callbacks)
    assert order == ["delivered", "delivered", "sent", "sent", "queued", "queued"]
    # then the message is delivered (the late "sent" did not move it back), each status recorded once
    message.refresh_from_db()
    assert message.delivery_status == "delivered" and message.delivery_error == ""
    assert sorted(StatusReceipt.objects.filter(sid=message.external_id).values_list("status", "handled_by")) == [
        ("delivered", "inbox"), ("queued", "inbox"), ("sent", "inbox")]


def test_a_failed_delivery_shows_twilio_reason(client, agent, conversation, fake_sms, client_for,
                                               django_capture_on_commit_callbacks):
    # given the handset is unreachable: Twilio reports "failed" with 30003
    fake_sms.state.fail_delivery_next()
    message = reply(agent, conversation)
    send_outbound(message.pk)
    deliver_callbacks(client, fake_sms, django_capture_on_commit_callbacks)
    # then the agent sees the message failed, with the reason
    message.refresh_from_db()
    assert message.delivery_status == "failed"
    assert message.delivery_error == "30003: Unreachable destination handset"
    page = client_for(agent).get(reverse("inbox:detail", args=[conversation.pk])).content.decode()
    assert "30003: Unreachable destination handset" in page


def test_429_waits_what_retry_after_says(agent, conversation, fake_sms):
    # given Twilio answers 429 with Retry-After: 7
    fake_sms.state.fail_next(status=429, code=20429, retry_after=7)
    message = reply(agent, conversation)
    with time_machine.travel(NOW, tick=False):
        assert send_outbound(message.pk) == "retrying"
    # then the send waits exactly that long (not the generic backoff), and the message is still queued
    row = OutboundSend.objects.get(message=message)
    assert (row.state, row.next_attempt_at, row.attempts) == ("retrying", NOW + timedelta(seconds=7), 1)
    assert row.last_error == "20429: Too Many Requests" and row.uncertain_since is None
    (retry,) = queued("retry_sms_send")
    assert retry.task.run_after == NOW + timedelta(seconds=7) and retry.args == [message.pk]
    message.refresh_from_db()
    assert message.delivery_status == "queued"
    # and the deferred retry sends it
    run_worker(only={"retry_sms_send"})
    message.refresh_from_db()
    assert message.delivery_status == "sent" and len(fake_sms.state.sent) == 1


def test_retries_are_bounded_and_the_failure_is_visible(agent, conversation, fake_sms, settings):
    settings.SMS_SEND_MAX_ATTEMPTS = 3
    fake_sms.state.fail_next(3, status=503)
    message = reply(agent, conversation)
    assert send_outbound(message.pk) == "retrying"
    run_worker(only={"retry_sms_send"})
    message.refresh_from_db()
    row = OutboundSend.objects.get(message=message)
    assert (row.state, row.attempts) == ("failed", 3)
    assert message.delivery_status == "failed" and message.delivery_error.startswith("HTTP 503")
    assert fake_sms.state.sent == []


def test_a_lost_answer_is_reconciled_not_sent_twice(agent, conversation, fake_sms):
    # given Twilio takes the message but the answer is lost (a 500 after the POST arrived)
    fake_sms.state.fail_next(status=500, after_accept=True)
    message = reply(agent, conversation)
    with time_machine.travel(NOW, tick=False):
        assert send_outbound(message.pk) == "retrying"
    row = OutboundSend.objects.get(message=message)
    assert row.uncertain_since == NOW and row.sid == ""
    # when the retry runs, it first asks Twilio what was sent to that number since
    with time_machine.travel(NOW + timedelta(seconds=10), tick=False):
        run_worker(only={"retry_sms_send"})
    # then it adopts that message instead of sending another
    (sent,) = fake_sms.state.sent
    message.refresh_from_db()
    assert (message.delivery_status, message.external_id) == ("sent", sent["sid"])
    assert [r["method"] for r in fake_sms.state.requests] == ["GET", "POST", "GET"]  # connect, lost send, list


def test_a_worker_killed_after_its_post_leaves_the_send_to_reconcile(agent, conversation, fake_sms, sms_account):
    # given an attempt that posted (Twilio has the message) and died before recording the answer
    message = reply(agent, conversation)
    with time_machine.travel(NOW, tick=False):
        with client_for(sms_account) as twilio:
            twilio.send(to=CUSTOMER, body=message.body, from_=FROM_NUMBER)
        OutboundSend.objects.create(message=message, account=sms_account, attempts=1, uncertain_since=NOW,
                                    lease_until=NOW + timedelta(minutes=2))
    # when its lease expires and the safety net hands it back
    with time_machine.travel(NOW + timedelta(minutes=3), tick=False):
        from connectors.sms.outbound import sends_to_reclaim

        assert sends_to_reclaim() == [message.pk]
        assert send_outbound(message.pk) == "sent"
    # then nothing was sent twice
    assert len(fake_sms.state.sent) == 1


def test_an_opted_out_customer_fails_at_once_and_their_consent_says_so(agent, conversation, fake_sms):
    fake_sms.state.opted_out.add(CUSTOMER)
    message = reply(agent, conversation)
    assert send_outbound(message.pk) == "failed"
    message.refresh_from_db()
    assert message.delivery_error == "21610: Attempt to send to unsubscribed recipient"
    consent = Consent.objects.get(customer=conversation.customer, channel="sms")
    assert (consent.status, consent.opt_out_method) == ("opted_out", "keyword")
    assert OutboundSend.objects.get(message=message).attempts == 1  # no retry of a refusal


def test_a_failed_reply_can_be_retried_by_its_author(agent, conversation, fake_sms,
                                                      django_capture_on_commit_callbacks):
    fake_sms.state.fail_next(status=400, code=21408)
    message = reply(agent, conversation)
    assert send_outbound(message.pk) == "failed"
    with django_capture_on_commit_callbacks(execute=True):
        inbox.check_retry_delivery(agent, conversation.pk, message.pk)
    run_worker(only={"deliver_outbound"})
    message.refresh_from_db()
    assert message.delivery_status == "sent" and len(fake_sms.state.sent) == 1


def test_sends_are_paced_to_the_account_rate(agent, conversation, fake_sms, sms_account):
    sms_account.rate_per_second = 1
    sms_account.save()
    first, second = reply(agent, conversation, body="Uno"), reply(agent, conversation, body="Dos")
    with time_machine.travel(NOW + timedelta(milliseconds=200), tick=False):
        assert send_outbound(first.pk) == "sent"
        assert send_outbound(second.pk) == "paced"
    (paced,) = queued("retry_sms_send")
    assert paced.task.run_after == NOW + timedelta(seconds=1) and not OutboundSend.objects.filter(message=second)
    with time_machine.travel(NOW + timedelta(seconds=1), tick=False):
        run_worker(only={"retry_sms_send"})
    assert [s["body"] for s in fake_sms.state.sent] == ["Uno", "Dos"]


def test_attachments_are_refused_before_anything_is_stored(agent, conversation, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    inbox.check_assign(agent, conversation.pk, assignee=agent.pk)
    with pytest.raises(ActionError, match="Un SMS solo lleva texto"):
        inbox.check_send_reply(agent, conversation.pk, body="Le envío esto",
                               uploads=[Upload("catálogo.pdf", "application/pdf", b"%PDF")])
    assert not Message.objects.filter(kind="outbound").exists()


def test_the_composer_shows_the_segment_counter_on_sms_conversations(agent, conversation, client_for):
    inbox.check_assign(agent, conversation.pk, assignee=agent.pk)
    page = client_for(agent).get(reverse("inbox:detail", args=[conversation.pk])).content.decode()
    assert 'data-testid="sms-segments"' in page and "160 caracteres por segmento" in page


# --- statuses of sids that are not inbox messages: the listeners ----------------------------------------------


@pytest.fixture
def listener():
    seen: list[tuple[str, str, str, datetime]] = []
    mine: set[str] = set()

    def on_sms_status(sid: str, status: str, error: str, at: datetime) -> bool:
        if sid not in mine:
            return False
        seen.append((sid, status, error, at))
        return True

    statuses.register_listener(on_sms_status)
    yield seen, mine
    statuses._LISTENERS.pop(f"{on_sms_status.__module__}.{on_sms_status.__qualname__}")


def test_statuses_of_other_apps_sids_go_to_their_listener(client, sms_account, fake_sms, listener,
                                                          django_capture_on_commit_callbacks):
    seen, mine = listener
    # given another app (campaigns) sends through the client with our status URL, and fails one delivery
    fake_sms.state.fail_delivery_next()
    with client_for(sms_account) as twilio:
        sid = twilio.send(to=CUSTOMER, body="Promo", from_=FROM_NUMBER, status_callback=status_url(sms_account)).sid
    mine.add(sid)
    # when Twilio's callbacks arrive
    with time_machine.travel(NOW, tick=False):
        deliver_callbacks(client, fake_sms, django_capture_on_commit_callbacks)
    # then the listener got each status with Twilio's reason and the time it arrived
    assert seen == [(sid, "failed", "30003: Unreachable destination handset", NOW)]
    receipt = StatusReceipt.objects.get(sid=sid)
    assert receipt.applied and receipt.handled_by.endswith("on_sms_status")


def test_a_status_nobody_claims_yet_waits_and_is_offered_again(listener):
    seen, mine = listener
    # given a callback for a sid no app has recorded yet (it overtook the send's answer)
    with time_machine.travel(NOW, tick=False):
        assert statuses.do_record_status(sid="SM" + "7" * 32, status="delivered") == "pending"
        assert statuses.do_record_status(sid="SM" + "7" * 32, status="sent") == "pending"
    # when the app records it and asks for what waited (or the safety net offers it a minute later)
    mine.add("SM" + "7" * 32)
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        assert statuses.offer_pending() == 2
    # then it gets both, lowest rank first, once
    assert [s[1] for s in seen] == ["sent", "delivered"]
    assert statuses.do_record_status(sid="SM" + "7" * 32, status="sent") == "duplicate"
    assert len(seen) == 2


def test_a_status_that_overtook_the_sender_is_applied_when_the_sid_is_stored(agent, conversation):
    message = reply(agent, conversation)
    assert statuses.do_record_status(sid="SM" + "8" * 32, status="delivered") == "pending"
    OutboundSend.objects.create(message=message, sid="SM" + "8" * 32, state="sent")
    assert statuses.apply_pending(["SM" + "8" * 32]) == 1
    message.refresh_from_db()
    assert message.delivery_status == "delivered"


def test_a_listener_that_breaks_costs_nobody_else(listener, caplog):
    seen, mine = listener

    def broken(sid: str, status: str, error: str, at: datetime) -> bool:
        raise RuntimeError("bug")

    # given a broken listener registered before the one that owns the sid
    registered = dict(statuses._LISTENERS)
    statuses._LISTENERS.clear()
    statuses.register_listener(broken)
    statuses._LISTENERS.update(registered)
    try:
        mine.add("SM" + "9" * 32)
        # when the status arrives / then the owner still gets it, and the bug is logged
        assert statuses.do_record_status(sid="SM" + "9" * 32, status="sent") == "handled"
    finally:
        statuses._LISTENERS.pop(f"{broken.__module__}.{broken.__qualname__}")
    assert len(seen) == 1 and "sms status listener" in caplog.text


def test_unknown_statuses_are_ignored():
    assert statuses.do_record_status(sid="SM1", status="teleported") == "ignored"
    assert statuses.do_record_status(sid="", status="sent") == "ignored"
    assert not default_task_backend.results
