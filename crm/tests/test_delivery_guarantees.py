"""Issue 12, "nothing lost, nothing stranded", for Kommo: each delivery is processed and recorded on its own, a
safety net re-queues what a lost task left `received`, and an outbox row whose worker died is claimed again."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.tasks import default_task_backend
from django.utils import timezone

from crm import intake
from crm.actions import PROCESSING_LEASE, do_process_webhook
from crm.models import KommoSync, WebhookDelivery
from crm.sync import LEASE, do_drain_kommo_outbox
from crm.tasks import kommo_safety_net, process_kommo_webhooks
from crm.webhooks import WebhookParseError, parse_kommo_webhook
from fakes.kommo import STATUS_TO_CALL, encode_webhook
from leads.models import Lead
from orders import actions as orders
from orders.tests.factories import product, ready_lead

pytestmark = pytest.mark.django_db
FORM = "application/x-www-form-urlencoded"


def account_block(fake_kommo) -> dict[str, object]:
    return {"subdomain": "demo", "id": fake_kommo.state.account_id, "_links": {"self": "https://demo.kommo.com"}}


def new_lead_add_webhook(fake_kommo) -> tuple[dict[str, object], str]:
    """A new lead with a contact in "Para Llamar", and the `leads[add]` body Kommo would post for it."""
    created = fake_kommo.state.create_lead("Pedido", status_id=STATUS_TO_CALL, emit=False,
                                           contact={"name": "Ana", "phones": ["3001112233"]})
    body = encode_webhook("leads", "add", [fake_kommo.state.lead_webhook_item(created["id"], "add")],
                          account_block(fake_kommo))
    return created, body


def store_together(*bodies: str) -> list[int]:
    """Stores bodies the way the fast route does for requests arriving at the same moment: one batch, one task."""
    account = intake.current_account()
    items = [intake.Incoming(b, FORM, "127.0.0.1", intake.decide(account, account.webhook_secret, b)) for b in bodies]
    ids = intake.store_batch(items)
    assert None not in ids
    return [pk for pk in ids if pk is not None]


def test_one_bad_webhook_does_not_strand_the_others_in_its_batch(kommo_account, fake_kommo,
                                                                django_capture_on_commit_callbacks):
    # given a body with a non-ASCII digit as a list index (once a ValueError that stopped the batch loop) and a
    # valid delivery posted at the same moment
    created = fake_kommo.state.create_lead("Pedido", status_id=STATUS_TO_CALL, emit=False,
                                           contact={"name": "Ana", "phones": ["3001112233"]})
    bad = f"account[subdomain]=demo&account[id]={fake_kommo.state.account_id}&leads[add][²][id]=1"
    good = encode_webhook("leads", "add", [fake_kommo.state.lead_webhook_item(created["id"], "add")],
                          account_block(fake_kommo))
    default_task_backend.clear()
    with django_capture_on_commit_callbacks(execute=True):
        bad_id, good_id = store_together(bad, good)
    # when the batch's task runs
    (queued,) = default_task_backend.results
    counts = process_kommo_webhooks.call(*queued.args)
    # then the bad one is failed with a readable reason, and the good one is processed
    assert counts == {"failed": 1, "processed": 1}
    bad_row, good_row = WebhookDelivery.objects.get(pk=bad_id), WebhookDelivery.objects.get(pk=good_id)
    assert bad_row.state == "failed" and "index '²' is not an ASCII number" in bad_row.error
    assert good_row.state == "processed" and Lead.objects.get().kommo_id == created["id"]
    assert not WebhookDelivery.objects.filter(state="received").exists()


@pytest.mark.parametrize("index", ["²", "٣", "\uff11"])  # superscript two, Arabic-Indic three, fullwidth one
def test_non_ascii_digit_index_is_a_clear_parse_error(index):
    with pytest.raises(WebhookParseError, match="is not an ASCII number"):
        parse_kommo_webhook(f"account[subdomain]=demo&leads[status][{index}][id]=1")


def test_absurd_list_index_and_deep_nesting_are_handled_without_crashing():
    with pytest.raises(WebhookParseError, match="larger than"):
        parse_kommo_webhook("account[subdomain]=demo&leads[add][99999999999999999999][id]=1")
    deep = "account[subdomain]=demo&leads[add][0][id]=7&leads[add][0][x]" + "[y]" * 50_000 + "=1"
    assert [lead.id for lead in parse_kommo_webhook(deep).leads] == [7]


def test_out_of_range_numbers_read_as_absent_instead_of_failing_the_database():
    body = ("account[subdomain]=demo&leads[status][0][id]=5&leads[status][0][updated_at]=" + "9" * 30
            + "&leads[status][0][status_id]=1e5&leads[status][0][price]=NaN")
    (lead,) = parse_kommo_webhook(body).leads
    assert (lead.updated_at, lead.status_id, lead.price) == (0, None, Decimal(0))
    with pytest.raises(WebhookParseError, match="numeric id"):
        parse_kommo_webhook("account[subdomain]=demo&leads[add][0][id]=" + "9" * 25)


def test_an_attempt_in_progress_is_not_doubled_and_its_lease_expiry_lets_it_be_retried(kommo_account, fake_kommo,
                                                                                       time_machine):
    time_machine.move_to("2026-11-20 10:00:00-05:00", tick=False)
    # given a delivery whose attempt started (its worker holds the lease in processed_at)
    _created, body = new_lead_add_webhook(fake_kommo)
    delivery = WebhookDelivery.objects.create(body=body, attempts=1,
                                              processed_at=timezone.now() + PROCESSING_LEASE)
    # when a second task for it runs meanwhile / then it does nothing
    assert do_process_webhook(delivery.pk) == "busy"
    assert WebhookDelivery.objects.get(pk=delivery.pk).attempts == 1
    # when the worker died and the lease expired / then the next attempt processes it, counted
    time_machine.shift(PROCESSING_LEASE + timedelta(seconds=1))
    assert do_process_webhook(delivery.pk) == "processed"
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("processed", 2)


def test_a_delivery_whose_attempts_all_died_with_their_worker_is_failed_not_retried_forever(kommo_account):
    delivery = WebhookDelivery.objects.create(body="account[subdomain]=demo", attempts=8)
    assert do_process_webhook(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert delivery.state == "failed" and "8" in delivery.error


def test_kommo_safety_net_requeues_deliveries_left_received_for_more_than_a_minute(kommo_account, time_machine):
    time_machine.move_to("2026-11-20 10:00:00-05:00", tick=False)
    now = timezone.now()
    default_task_backend.clear()

    def received(**fields) -> int:
        return WebhookDelivery.objects.create(body="account[subdomain]=demo", **fields).pk

    # given deliveries whose task was lost: never tried, and tried by a worker that died (lease expired)
    never_tried = received(received_at=now - timedelta(seconds=61))
    worker_died = received(received_at=now - timedelta(minutes=10), attempts=1,
                           processed_at=now - timedelta(minutes=2))
    retry_lost = received(received_at=now - timedelta(hours=1), attempts=3, error="KommoUnavailable: 503",
                          processed_at=now - timedelta(minutes=2))
    # and deliveries that must be left alone: fresh, in progress, waiting for a retry, finished, rejected
    received(received_at=now - timedelta(seconds=30))
    received(received_at=now - timedelta(minutes=5), attempts=1, processed_at=now + timedelta(minutes=4))
    received(received_at=now - timedelta(minutes=5), attempts=2, error="KommoUnavailable: 503",
             processed_at=now + timedelta(seconds=30))
    received(received_at=now - timedelta(minutes=5), state="processed", processed_at=now - timedelta(minutes=4))
    received(received_at=now - timedelta(minutes=5), state="rejected", error="unparseable")
    # when the periodic job runs
    assert kommo_safety_net.call() == 3
    # then exactly the stranded ones are queued again, in one batch
    (queued,) = default_task_backend.results
    assert queued.task.name == "process_kommo_webhooks" and queued.args == [[never_tried, worker_died, retry_lost]]


def test_requeued_delivery_that_was_already_processed_changes_nothing(kommo_account, fake_kommo):
    _created, body = new_lead_add_webhook(fake_kommo)
    delivery = WebhookDelivery.objects.create(body=body)
    assert process_kommo_webhooks.call([delivery.pk, delivery.pk]) == {"processed": 1, "skipped": 1}
    assert WebhookDelivery.objects.get(pk=delivery.pk).attempts == 1 and Lead.objects.count() == 1


def test_a_sync_whose_worker_died_after_kommo_took_the_note_is_reclaimed_without_a_second_note(
        kommo_account, fake_kommo, agent, time_machine):
    time_machine.move_to("2026-11-20 10:00:00-05:00", tick=False)
    product("A")
    remote = fake_kommo.state.create_lead("Pedido", status_id=STATUS_TO_CALL, emit=False,
                                          contact={"name": "Ana", "phones": ["3001112233"]})
    lead = ready_lead(kommo_id=remote["id"])
    order = orders.check_confirm_order(agent, orders.check_create_order(agent, lead_id=lead.pk, lines=[("A", 1)]).pk)
    sync = KommoSync.objects.get(order=order)
    # given a worker that claimed the row, moved the stage, posted the note (Kommo stored it) and died before
    # recording it: the row is still pending, leased, its attempt counted
    fake_kommo.state.add_note(remote["id"], f"{sync.payload['note']}\n{sync.marker}")
    KommoSync.objects.filter(pk=sync.pk).update(attempts=1, next_attempt_at=timezone.now() + LEASE,
                                                done_steps=["stage", "note_attempted"])
    # when the drain runs before the lease expires / then it leaves the row to its (dead) owner
    assert do_drain_kommo_outbox().delivered == 0
    # when the lease expired / then the row is claimed again and finished without a second note
    time_machine.shift(LEASE + timedelta(seconds=1))
    assert do_drain_kommo_outbox().delivered == 1
    sync.refresh_from_db()
    assert (sync.state, sync.attempts) == ("sincronizado", 2)
    notes = [n for n in fake_kommo.state.snapshot()["notes"] if n["entity_id"] == remote["id"]]
    assert len(notes) == 1


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


def test_given_a_locked_database_when_a_valid_kommo_webhook_is_processed_then_it_stays_received_for_a_retry(
        kommo_account, fake_kommo, time_machine):
    from django.db import OperationalError, connection

    time_machine.move_to("2026-11-20 10:00:00-05:00", tick=False)
    # given a valid stored delivery, and a database that is locked when its lead is written
    created, body = new_lead_add_webhook(fake_kommo)
    delivery = WebhookDelivery.objects.create(body=body)
    # when it is processed / then the hiccup escapes to the task (which logs it) instead of failing the delivery
    with connection.execute_wrapper(_locked_on_writes_to(Lead._meta.db_table)), pytest.raises(OperationalError):
        do_process_webhook(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("received", 1)
    # and once the lock is gone and its lease passed, the safety net's retry applies the lead
    time_machine.shift(PROCESSING_LEASE + timedelta(seconds=1))
    assert do_process_webhook(delivery.pk) == "processed"
    assert Lead.objects.get().kommo_id == created["id"]


def test_given_a_kommo_delivery_that_ran_out_of_attempts_when_an_admin_retries_it_then_it_is_processed(
        kommo_account, fake_kommo):
    from accounts.roles import Role
    from accounts.tests.factories import UserFactory
    from crm.actions import MAX_PROCESSING_ATTEMPTS, check_retry_delivery

    # given a valid delivery failed after every attempt died with its worker
    _created, body = new_lead_add_webhook(fake_kommo)
    delivery = WebhookDelivery.objects.create(body=body, state="failed", attempts=MAX_PROCESSING_ATTEMPTS)
    # when an admin presses Retry and the task runs
    check_retry_delivery(UserFactory(role=Role.ADMIN, username="ana.admin"), delivery.pk)
    # then it is processed (not failed again at once for its old attempts)
    assert do_process_webhook(delivery.pk) == "processed"
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("processed", 1)


def test_given_a_locked_database_when_a_kommo_batch_is_stored_then_it_fails_at_once_not_one_by_one(kommo_account):
    from django.db import OperationalError, connection

    # given three requests and a database that is locked for webhook rows
    account = intake.current_account()
    body = "account[subdomain]=demo"
    items = [intake.Incoming(body, FORM, "127.0.0.1", intake.decide(account, account.webhook_secret, body))
             for _ in range(3)]
    inserts: list[str] = []
    locked = _locked_on_writes_to(WebhookDelivery._meta.db_table)

    def counting(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("INSERT"):
            inserts.append(sql)
        return locked(execute, sql, params, many, context)

    # when the batch is stored / then it raises after one write, not one more per request
    with connection.execute_wrapper(counting), pytest.raises(OperationalError):
        intake.store_batch(items)
    assert len(inserts) == 1
    assert not WebhookDelivery.objects.exists()


def test_a_lease_held_by_a_worker_dead_by_its_heartbeat_is_taken_over_at_once(kommo_account, fake_kommo,
                                                                              time_machine):
    from core.models import Heartbeat
    from crm.actions import stuck_delivery_ids

    time_machine.move_to("2026-11-20 10:00:00-05:00", tick=False)
    created, body = new_lead_add_webhook(fake_kommo)
    # given two workers that beat, and a delivery whose attempt is leased to the first one
    worker = Heartbeat.objects.create(process="worker srv-2:700:aa", kind="worker", host="srv-2", pid=700,
                                      started_at=timezone.now(), seen_at=timezone.now())
    peer = Heartbeat.objects.create(process="worker srv-1:800:bb", kind="worker", host="srv-1", pid=800,
                                    started_at=timezone.now(), seen_at=timezone.now())
    delivery = WebhookDelivery.objects.create(body=body, attempts=1, lease_holder="srv-2:700:aa",
                                              processed_at=timezone.now() + PROCESSING_LEASE)
    # when another task for it runs while that worker is alive / then it waits for the lease
    time_machine.shift(timedelta(seconds=20))
    Heartbeat.objects.filter(pk__in=[worker.pk, peer.pk]).update(seen_at=timezone.now())
    assert do_process_webhook(delivery.pk) == "busy"
    assert stuck_delivery_ids() == []
    # when the database was unreachable for a minute (no worker could beat) / then nobody is judged dead
    time_machine.shift(timedelta(seconds=60))
    assert do_process_webhook(delivery.pk) == "busy"
    assert stuck_delivery_ids() == []
    # when the first worker is killed (its heartbeat stops) while its peer keeps beating for 40 s
    worker.refresh_from_db()
    time_machine.shift(timedelta(seconds=40))
    Heartbeat.objects.filter(pk=peer.pk).update(seen_at=timezone.now())
    assert timezone.now() - worker.seen_at > timedelta(seconds=30)
    # then the safety net finds the delivery long before its lease would run out, and an attempt takes it over
    assert stuck_delivery_ids() == [delivery.pk]
    assert do_process_webhook(delivery.pk) == "processed"
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("processed", 2)
    assert Lead.objects.filter(kommo_id=created["id"]).count() == 1
