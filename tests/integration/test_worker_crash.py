"""Issue 12, "a send interrupted by a worker crash is never retried": real `db_worker` processes killed with SIGKILL
in the middle of a vendor call, then a fresh worker, against the test database (a SQLite file, or PostgreSQL when
DATABASE_URL says so).

The vendor fakes park the call (fakes.server.RequestHolds) so the kill lands mid-call deterministically; the lease
running out is simulated by moving the row's lease into the past from the test (the worker is another process, so
time-machine cannot reach it). Every wait polls the database or the fake with a generous deadline; nothing asserts
on elapsed time. What is asserted is the database and the fake's record: delivered exactly once, and `sent`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from connectors.whatsapp.models import OutboundSend
from connectors.whatsapp.tests.helpers import WA_ID, clear_tasks, inbound, post, run_worker
from crm.models import KommoSync
from fakes import whatsapp as fw
from fakes.kommo import STATUS_SALE_CONFIRMED, STATUS_TO_CALL
from inbox import actions as inbox
from inbox.models import Message
from orders import actions as orders
from orders.tests.factories import product, ready_lead
from tests.processes import DB_QUEUE, kill_hard, wait_for, worker

pytestmark = pytest.mark.faults


@pytest.fixture
def whatsapp_conversation(transactional_db, client, whatsapp_number):
    """A customer wrote (processed in-process with the recording backend, before the database queue is on)."""
    clear_tasks()
    post(client, whatsapp_number, inbound(whatsapp_number, fw.text_message(WA_ID, "Hola", wamid="wamid.in-crash")))
    run_worker()
    clear_tasks()
    return Message.objects.get(external_id="wamid.in-crash").conversation


def test_a_whatsapp_send_interrupted_by_a_killed_worker_is_retried_and_delivered_exactly_once(
        whatsapp_conversation, fake_whatsapp):
    from connectors.whatsapp.tasks import whatsapp_safety_net

    agent = UserFactory(role=Role.AGENTE, username="valeria")
    # given the Graph API parks the next send (a slow WhatsApp API) and drops it if its client dies meanwhile
    fake_whatsapp.state.hold_next(path="/messages", method="POST", on_disconnect="drop")
    with override_settings(TASKS=DB_QUEUE):
        message = inbox.check_send_reply(agent, whatsapp_conversation.pk, body="Con gusto, ya lo reviso.")
        # when a worker picks the send up and is killed with SIGKILL while the call is in flight
        with worker("whatsapp-1") as (first, log):
            wait_for(lambda: fake_whatsapp.state.holds.snapshot()["held"] == 1, "the send to reach the fake", log)
            row = OutboundSend.objects.get(message=message)
            assert (row.state, row.attempts) == ("pending", 1)
            assert row.lease_until is not None and row.lease_until > timezone.now()
            kill_hard(first)
        wait_for(lambda: fake_whatsapp.state.holds.snapshot()["dropped"] == 1, "the fake to see the client die")
        # then the message is still queued, leased to the dead worker, and nothing reached WhatsApp
        message.refresh_from_db()
        assert message.delivery_status == "queued" and fake_whatsapp.state.sent == []
        # when the lease runs out and a new worker runs the periodic safety net
        OutboundSend.objects.filter(message=message).update(lease_until=timezone.now() - timedelta(seconds=1))
        with worker("whatsapp-2") as (_second, log):
            whatsapp_safety_net.enqueue()
            wait_for(lambda: Message.objects.get(pk=message.pk).delivery_status == "sent", "the retried send", log)
    # then it was delivered exactly once, the interrupted attempt counted
    assert [s["payload"]["text"]["body"] for s in fake_whatsapp.state.sent] == ["Con gusto, ya lo reviso."]
    row = OutboundSend.objects.get(message=message)
    assert (row.state, row.attempts, row.wamids) == ("sent", 2, [fake_whatsapp.state.sent[0]["wamid"]])
    message.refresh_from_db()
    assert message.external_id == fake_whatsapp.state.sent[0]["wamid"]


def test_a_kommo_sync_killed_after_kommo_took_the_note_is_finished_without_a_second_note(
        transactional_db, kommo_account, fake_kommo):
    from crm.tasks import drain_kommo_outbox

    agent = UserFactory(role=Role.AGENTE, username="valeria")
    product("A")
    remote = fake_kommo.state.create_lead("Pedido", status_id=STATUS_TO_CALL, emit=False,
                                          contact={"name": "Ana", "phones": ["3001112233"]})
    lead = ready_lead(kommo_id=remote["id"])
    # given Kommo parks the note and, even if our worker dies meanwhile, stores it once released (the answer lost)
    fake_kommo.state.hold_next(path="/notes", method="POST", on_disconnect="complete")
    with override_settings(TASKS=DB_QUEUE):
        order = orders.check_create_order(agent, lead_id=lead.pk, lines=[("A", 1)])
        orders.check_confirm_order(agent, order.pk)  # the outbox row, and its drain queued after commit
        sync = KommoSync.objects.get(order=order)
        # when a worker moves the stage, posts the note and is killed with SIGKILL before Kommo answers
        with worker("kommo-1") as (first, log):
            wait_for(lambda: fake_kommo.state.holds.snapshot()["held"] == 1, "the note to reach the fake", log)
            kill_hard(first)
        fake_kommo.state.release()
        wait_for(lambda: fake_kommo.state.holds.snapshot()["completed"] == 1, "the fake to store the note")
        sync.refresh_from_db()
        assert (sync.state, sync.attempts, sync.done_steps) == ("pendiente", 1, ["stage", "note_attempted"])
        # when the lease runs out and a new worker drains the outbox (as the periodic job does)
        KommoSync.objects.filter(pk=sync.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        with worker("kommo-2") as (_second, log):
            drain_kommo_outbox.enqueue()
            wait_for(lambda: KommoSync.objects.get(pk=sync.pk).state == "sincronizado", "the reclaimed sync", log)
    # then Kommo has the stage and exactly one note, and the interrupted attempt counted
    assert fake_kommo.state.get_lead(remote["id"])["status_id"] == STATUS_SALE_CONFIRMED
    notes = [n for n in fake_kommo.state.snapshot()["notes"] if n["entity_id"] == remote["id"]]
    assert len(notes) == 1 and sync.marker in notes[0]["params"]["text"]
    sync.refresh_from_db()
    assert sync.attempts == 2
