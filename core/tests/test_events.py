"""Issue 14: typed domain events — logged in the action's transaction, delivered to subscribers after commit, never
on rollback; a failing subscriber never breaks the action; the log is a feed the API pages through."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from accounts.roles import Role
from core import events
from core.models import EventLog
from customers.actions import do_upsert_customer
from customers.events import CustomerMerged, CustomerTagged
from inbox import actions as inbox
from inbox.choices import ConversationState as S
from inbox.events import ConversationStateChanged

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def received():
    seen: list[events.DomainEvent] = []
    events.subscribe(events.ANY, seen.append, name="test.received")
    yield seen
    events._subscribers[events.ANY].pop("test.received", None)


def test_an_event_is_logged_with_the_action_and_delivered_once_after_commit(received):
    with transaction.atomic():
        c, _m, _new = inbox.do_receive_inbound(channel="whatsapp", body="Hola", customer_name="Ana",
                                                phones=["+573001112233"])
        # inside the transaction: logged, not delivered yet
        assert received == []
        inbox.do_transition_conversation(c, to=S.PENDING, acting_user=None, reason="customer_wrote_again")
    # after the commit: delivered exactly once, with the fields the catalogue declares
    (event,) = [e for e in received if isinstance(e, ConversationStateChanged)]
    assert (event.conversation_id, event.from_state, event.to_state) == (c.pk, "nueva", "pendiente")
    row = EventLog.objects.get(type="conversation.state_changed")
    assert row.payload == {"conversation_id": c.pk, "customer_id": c.customer_id, "channel": "whatsapp",
                           "from_state": "nueva", "to_state": "pendiente", "reason": "customer_wrote_again"}
    assert row.version == 1


def test_a_rolled_back_action_leaves_no_event_and_delivers_nothing(received):
    c, _m, _new = inbox.do_receive_inbound(channel="whatsapp", body="Hola", customer_name="Ana",
                                            phones=["+573001112233"])
    before = EventLog.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        inbox.do_transition_conversation(c, to=S.PENDING, acting_user=None)
        raise RuntimeError("the action failed after the transition")
    assert EventLog.objects.count() == before
    assert not [e for e in received if isinstance(e, ConversationStateChanged)]


def test_a_subscriber_that_raises_leaves_the_action_committed_and_the_others_served(received, make_user, caplog):
    def broken(event: events.DomainEvent) -> None:
        raise ValueError("a bug in a subscriber")

    events.subscribe(CustomerMerged, broken, name="test.broken")
    try:
        keep = do_upsert_customer(name="Ana", phones=["+573001112233"])
        gone = do_upsert_customer(name="Ana P.", phones=["+573004445566"])
        from customers.actions import check_merge_customers

        with caplog.at_level(logging.ERROR, logger="core.events"):
            check_merge_customers(make_user(Role.SUPERVISOR), keep_id=keep.pk, merge_id=gone.pk)
    finally:
        events._subscribers[CustomerMerged.type].pop("test.broken", None)
    # the merge stands, the other subscriber got the event, and the failure is in the log
    assert EventLog.objects.filter(type="customer.merged").count() == 1
    assert [e.type for e in received if e.type == "customer.merged"] == ["customer.merged"]
    assert any("subscriber test.broken failed" in r.getMessage() for r in caplog.records)


def test_unknown_event_types_cannot_be_subscribed_or_declared_twice():
    with pytest.raises(ValueError):
        events.subscribe("conversation.exploded", print, name="x")
    with pytest.raises(TypeError):
        type("Again", (events.DomainEvent,), {"type": "customer.merged", "__qualname__": "Again"})


def test_the_api_pages_through_the_event_log_by_type(make_user, api_client_for):
    for n in range(3):
        c, _m, _new = inbox.do_receive_inbound(channel="whatsapp", body=f"Hola {n}", customer_name=f"C{n}",
                                                phones=[f"+57300111220{n}"])
        inbox.do_transition_conversation(c, to=S.PENDING, acting_user=None)
    api = api_client_for(make_user(Role.ADMIN))
    first = api.get("/api/v1/events?type=conversation.state_changed&limit=2").json()
    assert [r["payload"]["to_state"] for r in first["results"]] == ["pendiente", "pendiente"]
    second = api.get(f"/api/v1/events?type=conversation.state_changed&limit=2&after={first['next_after']}").json()
    assert len(second["results"]) == 1 and second["next_after"] is None
    assert first["results"][0]["id"] < first["results"][1]["id"] < second["results"][0]["id"]
    # and only those who manage integrations read it
    assert api_client_for(make_user(Role.AGENTE)).get("/api/v1/events").status_code == 403


def test_events_older_than_the_retention_are_pruned(settings):
    from core.tasks import prune_event_log

    settings.EVENT_LOG_RETENTION_DAYS = 90
    EventLog.objects.create(type="customer.merged", payload={}, occurred_at=timezone.now() - timedelta(days=91))
    EventLog.objects.create(type="customer.merged", payload={}, occurred_at=timezone.now() - timedelta(days=89))
    with time_machine.travel(timezone.now(), tick=False):
        assert prune_event_log.call() == 1
    assert EventLog.objects.count() == 1


def test_an_in_transaction_subscriber_commits_or_rolls_back_with_the_action(make_user):
    # given an outbox writer subscribed inside the transaction, which fails on its second call
    calls: list[int] = []

    def outbox(event: events.DomainEvent) -> None:
        calls.append(event.log_id or 0)
        if len(calls) == 2:
            raise RuntimeError("the outbox row could not be written")

    events.subscribe(CustomerMerged, outbox, name="test.outbox", in_transaction=True)
    supervisor = make_user(Role.SUPERVISOR)
    try:
        from customers.actions import check_merge_customers

        # when a merge runs: the writer ran inside the transaction, with the logged event's id
        keep = do_upsert_customer(name="Ana", phones=["+573001112233"])
        gone = do_upsert_customer(name="Ana P.", phones=["+573004445566"])
        with transaction.atomic():
            check_merge_customers(supervisor, keep_id=keep.pk, merge_id=gone.pk)
            assert calls == [EventLog.objects.get(type="customer.merged").pk]
        # when the writer fails on the next merge, the merge fails with it: nothing merged, no event
        other = do_upsert_customer(name="Ana Pérez", phones=["+573007778899"])
        with pytest.raises(RuntimeError):
            check_merge_customers(supervisor, keep_id=keep.pk, merge_id=other.pk)
    finally:
        events._in_transaction[CustomerMerged.type].pop("test.outbox", None)
    assert EventLog.objects.filter(type="customer.merged").count() == 1
    assert type(other).objects.filter(pk=other.pk).exists()


def _tagged(customer_id: int) -> CustomerTagged:
    """An event without in-transaction subscribers: what a batch itself writes is all that is counted."""
    return CustomerTagged(customer_id=customer_id, tags=["vip"])


def test_a_batch_logs_its_events_in_one_insert_delivered_in_order_after_commit(received, django_assert_num_queries):
    # given three events emitted in one batched transaction (the automation rules' in-transaction subscriber asks
    # once per few seconds whether any rule listens: asked before, as a running process would have)
    from automation.rules import active_events

    active_events()
    with transaction.atomic():
        with django_assert_num_queries(1), events.batch():
            for i in (1, 2, 3):
                assert events.emit(_tagged(i)) is None  # the row is written when the batch ends
        # then: one INSERT when the block ended, ids given back to the events, nothing delivered yet
        assert received == []
    rows = list(EventLog.objects.filter(type="customer.tagged").order_by("id"))
    assert [r.payload["customer_id"] for r in rows] == [1, 2, 3]
    # and after the commit: delivered once each, in emission order, carrying their log ids
    assert [(e.customer_id, e.log_id) for e in received] == [(r.payload["customer_id"], r.pk) for r in rows]


def test_a_batch_leaves_out_the_events_of_a_rolled_back_savepoint(received):
    # given a batch in which a savepoint emits and rolls back (an upsert that lost a race and runs again)
    with transaction.atomic(), events.batch():
        events.emit(_tagged(1))
        with pytest.raises(RuntimeError), transaction.atomic():
            events.emit(_tagged(2))
            raise RuntimeError("the savepoint rolls back")
        events.emit(_tagged(3))
    # then the rolled-back event is neither logged nor delivered
    logged = sorted(EventLog.objects.values_list("payload__customer_id", flat=True))
    assert logged == [1, 3]
    assert [e.customer_id for e in received] == [1, 3]


def test_a_batch_that_raises_writes_nothing_and_nested_batches_write_with_the_outermost(received):
    # when the block raises, its transaction rolls back with nothing written or delivered
    with pytest.raises(RuntimeError), transaction.atomic(), events.batch():
        events.emit(_tagged(1))
        raise RuntimeError("the action failed")
    assert not EventLog.objects.exists()
    assert received == []
    # a nested batch does not write on its own: the outermost does
    with transaction.atomic(), events.batch():
        with events.batch():
            events.emit(_tagged(2))
        assert not EventLog.objects.exists()
    assert [e.customer_id for e in received] == [2]
    assert received[0].log_id == EventLog.objects.get().pk


def test_a_batch_outside_a_transaction_logs_each_event_as_it_is_emitted(received):
    with events.batch():
        log_id = events.emit(_tagged(1))
        assert log_id == EventLog.objects.get().pk
    assert [e.log_id for e in received] == [log_id]
