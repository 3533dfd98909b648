"""Issue 12, "nothing lost, nothing stranded", for WhatsApp: each delivery is processed and recorded on its own
(a malformed body fails with its reason and the batch moves on), the safety net re-queues deliveries whose task
was lost, and a send whose worker died mid-call is reclaimed once its lease expired and delivered once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.tasks import default_task_backend
from django.utils import timezone

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from connectors.whatsapp import intake
from connectors.whatsapp.actions import PROCESSING_LEASE, do_process_delivery
from connectors.whatsapp.models import OutboundSend, WebhookDelivery
from connectors.whatsapp.outbound import LEASE
from connectors.whatsapp.tasks import whatsapp_safety_net
from connectors.whatsapp.tests.helpers import APP_SECRET, WA_ID, clear_tasks, inbound, post, run_worker
from fakes import whatsapp as fw
from inbox import actions as inbox
from inbox.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _tasks():
    clear_tasks()
    yield
    clear_tasks()


def store_together(number, *bodies: bytes) -> list[int]:
    """Stores signed bodies the way the fast route does for requests arriving at the same moment: one batch."""
    key = intake.lookup(number.phone_number_id)
    items = [intake.Incoming(number.pk, b, "127.0.0.1", intake.decide(key, fw.sign(b, APP_SECRET), b))
             for b in bodies]
    ids = intake.store_batch(items)
    assert None not in ids
    return [pk for pk in ids if pk is not None]


def test_deeply_nested_json_fails_with_a_reason_and_does_not_strand_its_batch(whatsapp_number,
                                                                             django_capture_on_commit_callbacks):
    # given a signed body of 50,000 nested arrays (json.loads raises RecursionError on it) and a valid message
    # posted at the same moment
    nested = b"[" * 50_000 + b"]" * 50_000
    good = fw.encode(inbound(whatsapp_number, fw.text_message(WA_ID, "Hola", wamid="wamid.good")))
    with django_capture_on_commit_callbacks(execute=True):
        bad_id, good_id = store_together(whatsapp_number, nested, good)
    # when the batch's task runs
    assert run_worker() == [{"failed": 1, "processed": 1}]
    # then the nested one is failed with a readable reason, the valid one is in the inbox, nothing is left received
    bad = WebhookDelivery.objects.get(pk=bad_id)
    assert bad.state == "failed" and "nested deeper than" in bad.error
    assert WebhookDelivery.objects.get(pk=good_id).state == "processed"
    assert Message.objects.get(external_id="wamid.good").body == "Hola"
    assert not WebhookDelivery.objects.filter(state="received").exists()


@pytest.mark.parametrize("payload", [
    {"object": "whatsapp_business_account", "entry": 1},
    {"object": "whatsapp_business_account", "entry": [{"changes": "x"}, 7]},
    {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {
        "metadata": ["not", "a", "dict"], "messages": 5, "statuses": "x", "contacts": [{"profile": "Ana"}]}}]}]},
], ids=["entry-number", "changes-string", "value-parts-wrong-types"])
def test_malformed_shapes_are_processed_as_empty_instead_of_crashing(whatsapp_number, client, payload,
                                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, whatsapp_number, payload).status_code == 200
    assert run_worker() == [{"processed": 1}]
    assert WebhookDelivery.objects.get().state == "processed" and not Message.objects.exists()


def test_malformed_message_content_is_shown_not_a_crash(whatsapp_number, client, django_capture_on_commit_callbacks):
    items = [fw.message("contacts", WA_ID, wamid="wamid.c1", contacts=5),
             fw.message("order", WA_ID, wamid="wamid.o1", order={"product_items": 5, "catalog_id": "1"}),
             fw.message("unknown", WA_ID, wamid="wamid.u1", errors="boom")]
    with django_capture_on_commit_callbacks(execute=True):
        post(client, whatsapp_number, inbound(whatsapp_number, *items))
    assert run_worker() == [{"processed": 1}]
    assert Message.objects.filter(external_id__in=["wamid.c1", "wamid.o1", "wamid.u1"]).count() == 3


def test_a_request_that_cannot_be_stored_costs_only_itself_its_answer(transactional_db, whatsapp_number):
    # given a batch whose second request cannot be stored (here: a number deleted meanwhile, which the deferred
    # foreign key refuses at commit, on SQLite and PostgreSQL alike)
    good = fw.encode(inbound(whatsapp_number, fw.text_message(WA_ID, "Hola", wamid="wamid.kept")))
    ok = intake.Decision(200)
    items = [intake.Incoming(whatsapp_number.pk, good, "127.0.0.1", ok),
             intake.Incoming(whatsapp_number.pk + 1000, good, "127.0.0.1", ok),
             intake.Incoming(whatsapp_number.pk, good, "127.0.0.1", ok)]
    # when the batch is stored / then the other two are stored on their own and only the bad one has no row
    first, missing, last = intake.store_batch(items)
    assert missing is None and first is not None and last is not None
    assert sorted(WebhookDelivery.objects.values_list("pk", flat=True)) == [first, last]


def test_a_nul_character_in_a_body_is_stored_replaced(whatsapp_number, django_capture_on_commit_callbacks):
    # a raw NUL (not valid JSON) cannot be stored in a PostgreSQL text column: it must not fail its batch
    with django_capture_on_commit_callbacks(execute=True):
        (pk,) = store_together(whatsapp_number, b'{"a": "\x00"}')
    assert "\ufffd" in WebhookDelivery.objects.get(pk=pk).body
    assert run_worker() == [{"ignored": 1}]  # valid JSON once replaced, but not a WhatsApp payload


def test_a_nul_escape_in_the_json_is_stored_replaced_not_a_database_error(whatsapp_number, client,
                                                                         django_capture_on_commit_callbacks):
    # "\u0000" is valid JSON, but PostgreSQL text columns refuse NUL (once: a delivery stuck `received`)
    payload = inbound(whatsapp_number, fw.text_message(WA_ID, "Hola\u0000", wamid="wamid.nul"))
    payload["entry"][0]["changes"].append({"field": "\u0000", "value": {}})
    with django_capture_on_commit_callbacks(execute=True):
        post(client, whatsapp_number, payload)
    assert run_worker() == [{"processed": 1}]
    assert Message.objects.get(external_id="wamid.nul").body == "Hola\ufffd"
    assert "ignored field '\ufffd'" in WebhookDelivery.objects.get().error


def test_an_attempt_in_progress_is_not_doubled_and_its_lease_expiry_lets_it_be_retried(whatsapp_number,
                                                                                       time_machine):
    time_machine.move_to("2026-11-20 10:00:00-05:00", tick=False)
    body = fw.encode(inbound(whatsapp_number, fw.text_message(WA_ID, "Hola", wamid="wamid.lease")))
    delivery = WebhookDelivery.objects.create(number=whatsapp_number, body=body.decode(), attempts=1,
                                              processed_at=timezone.now() + PROCESSING_LEASE)
    assert do_process_delivery(delivery.pk) == "busy"
    time_machine.shift(PROCESSING_LEASE + timedelta(seconds=1))
    assert do_process_delivery(delivery.pk) == "processed"
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("processed", 2)


def test_whatsapp_safety_net_requeues_deliveries_left_received_for_more_than_a_minute(whatsapp_number,
                                                                                    time_machine):
    time_machine.move_to("2026-11-20 10:00:00-05:00", tick=False)
    now = timezone.now()

    def received(**fields) -> int:
        return WebhookDelivery.objects.create(number=whatsapp_number, body="{}", **fields).pk

    never_tried = received(received_at=now - timedelta(seconds=61))
    worker_died = received(received_at=now - timedelta(minutes=9), attempts=1, processed_at=now - timedelta(minutes=2))
    received(received_at=now - timedelta(seconds=50))
    received(received_at=now - timedelta(minutes=3), attempts=1, processed_at=now + timedelta(minutes=2))
    assert whatsapp_safety_net.call()["deliveries"] == 2
    queued = [r for r in default_task_backend.results if r.task.name == "process_whatsapp_webhooks"]
    assert [r.args for r in queued] == [[[never_tried, worker_died]]]


# --- sends -----------------------------------------------------------------------------------------------------


@pytest.fixture
def queued_reply(client, whatsapp_number, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(client, whatsapp_number, inbound(whatsapp_number, fw.text_message(WA_ID, "Hola", wamid="wamid.in1")))
    run_worker()
    conversation = Message.objects.get(external_id="wamid.in1").conversation
    agent = UserFactory(role=Role.AGENTE, username="valeria")
    message = inbox.check_send_reply(agent, conversation.pk, body="Con gusto.")
    clear_tasks()
    return message


def test_a_send_interrupted_by_a_worker_crash_is_retried_once_its_lease_expires(queued_reply, fake_whatsapp,
                                                                              time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    # given a worker that claimed the send (attempt 1, leased) and died before Meta answered
    OutboundSend.objects.create(message=queued_reply, attempts=1, lease_until=timezone.now() + LEASE)
    # when the safety net runs while the lease holds / then nothing is queued
    assert whatsapp_safety_net.call()["sends"] == 0
    # when the lease expired / then the send is queued again, delivered once, the attempt counted
    time_machine.shift(LEASE + timedelta(seconds=1))
    assert whatsapp_safety_net.call()["sends"] == 1
    assert run_worker() == ["sent"]
    row = OutboundSend.objects.get(message=queued_reply)
    queued_reply.refresh_from_db()
    assert (row.state, row.attempts, queued_reply.delivery_status) == ("sent", 2, "sent")
    assert [s["payload"]["text"]["body"] for s in fake_whatsapp.state.sent] == ["Con gusto."]
    # and a second pass finds nothing left to do
    assert whatsapp_safety_net.call()["sends"] == 0


def test_an_unexpected_send_error_is_retried_then_failed_never_left_queued(queued_reply, fake_whatsapp, settings):
    # given a stored attachment description that is not a dict of strings (bad data from an import)
    settings.WHATSAPP_SEND_MAX_ATTEMPTS = 2
    Message.objects.filter(pk=queued_reply.pk).update(attachments=[{"content_type": 5, "path": ["x"]}])
    from connectors.whatsapp.outbound import send_outbound

    outcomes = [send_outbound(queued_reply.pk), send_outbound(queued_reply.pk)]
    queued_reply.refresh_from_db()
    assert outcomes[-1] == "failed" and queued_reply.delivery_status == "failed"
    assert fake_whatsapp.state.sent == []


# --- regressions: a database hiccup is not bad data; an admin retry really retries ------------------------------


def _locked_on_writes_to(table: str):
    """A Django execute wrapper (Django's own hook in front of the real database, not our code) that answers
    writes to `table` the way SQLite answers while another process holds the write lock."""
    from django.db import OperationalError

    def wrapper(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE")) and table in sql:
            raise OperationalError("database is locked")
        return execute(sql, params, many, context)

    return wrapper


def test_given_a_locked_database_when_a_valid_webhook_is_processed_then_it_stays_received_for_a_retry(
        whatsapp_number, time_machine):
    from django.db import OperationalError, connection

    time_machine.move_to("2026-11-20 10:00:00-05:00", tick=False)
    # given a valid stored delivery, and a database that is locked when its message is written
    body = fw.encode(inbound(whatsapp_number, fw.text_message(WA_ID, "Hola", wamid="wamid.locked")))
    delivery = WebhookDelivery.objects.create(number=whatsapp_number, body=body.decode())
    # when it is processed / then the hiccup escapes to the task (which logs it) instead of failing the delivery
    with connection.execute_wrapper(_locked_on_writes_to(Message._meta.db_table)), pytest.raises(OperationalError):
        do_process_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("received", 1)
    # and once the lock is gone and its lease passed, the safety net's retry stores the message
    time_machine.shift(PROCESSING_LEASE + timedelta(seconds=1))
    assert do_process_delivery(delivery.pk) == "processed"
    assert Message.objects.get(external_id="wamid.locked").body == "Hola"


def test_given_a_delivery_that_ran_out_of_attempts_when_an_admin_retries_it_then_it_is_processed(whatsapp_number):
    from connectors.whatsapp import conf
    from connectors.whatsapp.actions import check_retry_delivery

    # given a valid delivery failed after every attempt died with its worker
    body = fw.encode(inbound(whatsapp_number, fw.text_message(WA_ID, "Hola", wamid="wamid.retried")))
    delivery = WebhookDelivery.objects.create(number=whatsapp_number, body=body.decode(), state="failed",
                                              attempts=conf.processing_max_attempts(), error="abandoned")
    # when an admin presses Retry and the task runs
    check_retry_delivery(UserFactory(role=Role.ADMIN, username="ana.admin"), delivery.pk)
    # then it is processed (not failed again at once for its old attempts)
    assert do_process_delivery(delivery.pk) == "processed"
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("processed", 1)
    assert Message.objects.filter(external_id="wamid.retried").exists()


def test_given_a_locked_database_when_a_batch_is_stored_then_it_fails_at_once_not_one_by_one(whatsapp_number):
    from django.db import OperationalError, connection

    # given three valid requests and a database that is locked for webhook rows
    good = fw.encode(inbound(whatsapp_number, fw.text_message(WA_ID, "Hola", wamid="wamid.batch")))
    items = [intake.Incoming(whatsapp_number.pk, good, "127.0.0.1", intake.Decision(200)) for _ in range(3)]
    attempts: list[str] = []
    locked = _locked_on_writes_to(WebhookDelivery._meta.db_table)

    def counting(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("INSERT"):
            attempts.append(sql)
        return locked(execute, sql, params, many, context)

    # when the batch is stored / then it raises after one write (each request gets its 500 now, no lock waits
    # multiplied by retrying the requests one by one)
    with connection.execute_wrapper(counting), pytest.raises(OperationalError):
        intake.store_batch(items)
    assert len(attempts) == 1
    assert not WebhookDelivery.objects.exists()


def test_given_a_reply_whose_sender_never_claimed_it_when_the_safety_net_runs_then_it_is_sent_not_queued_forever(
        queued_reply, fake_whatsapp, time_machine):
    # given a reply written (its deliver task lost before the sender's claim: no OutboundSend row exists)
    time_machine.move_to(queued_reply.created_at, tick=False)
    assert not OutboundSend.objects.filter(message=queued_reply).exists()
    # when the safety net runs within two minutes / then it leaves it alone (its own task may still run)
    time_machine.shift(timedelta(seconds=100))
    assert whatsapp_safety_net.call()["sends"] == 0
    # when it runs after two minutes / then the reply is handed to the sender and sent once
    time_machine.shift(timedelta(seconds=30))
    assert whatsapp_safety_net.call()["sends"] == 1
    assert run_worker() == ["sent"]
    queued_reply.refresh_from_db()
    assert queued_reply.delivery_status == "sent"
    assert [s["payload"]["text"]["body"] for s in fake_whatsapp.state.sent] == ["Con gusto."]
    assert whatsapp_safety_net.call()["sends"] == 0
