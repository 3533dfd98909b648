"""The rollups kept by differences equal a recount, the filtered path equals the rollup path, the horizon moves."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.forms.models import model_to_dict

from accounts.roles import Role
from accounts.tests.factories import TeamFactory
from customers.actions import check_merge_customers
from inbox import actions as inbox_actions
from inbox.choices import ConversationOutcome, CustomerState
from inbox.models import Conversation, Inbox, Message
from orders import actions as order_actions
from orders.tests.factories import product, ready_lead
from reports import rollups
from reports.dashboard import DashboardFilters, dashboard
from reports.models import (
    ConversationFact,
    CustomerDay,
    CustomerFirstDay,
    CustomerMonth,
    DailyAgentStats,
    DailyResolved,
    DailyStats,
    MonthlyCustomers,
    StateDelta,
)

pytestmark = pytest.mark.django_db
BOGOTA = ZoneInfo("America/Bogota")
ROLLUPS = (ConversationFact, DailyStats, DailyAgentStats, DailyResolved, CustomerDay, CustomerFirstDay, CustomerMonth,
           MonthlyCustomers, StateDelta)


def snapshot() -> dict[str, list[dict[str, object]]]:
    """Every rollup's non-empty rows, comparable across an incremental run and a rebuild."""
    result = {}
    for model in ROLLUPS:
        rows = [model_to_dict(r) for r in model.objects.all()]
        for row in rows:
            row.pop("id", None)
        measures = [k for k in (rows[0] if rows else {}) if k not in {"day", "channel", "agent_id", "customer_id",
                                                                       "month", "state", "conversation_id"}]
        rows = [r for r in rows if any(r[k] for k in measures) or model in (ConversationFact, CustomerFirstDay,
                                                                            CustomerMonth)]
        result[model.__name__] = sorted(rows, key=repr)
    return result


def live_day(agent, supervisor, *, phone: str, close: bool, classify: bool = True) -> int:
    c, _m, _ = inbox_actions.do_receive_inbound(channel="whatsapp", body="hola", customer_name="Ana",
                                                phones=[phone])
    inbox_actions.check_assign(supervisor, c.pk, assignee=agent.username)
    inbox_actions.do_receive_inbound(channel="whatsapp", body="¿hay stock?", phones=[phone], customer_name="Ana")
    inbox_actions.check_send_reply(agent, c.pk, body="Sí, tenemos")
    if classify:
        inbox_actions.check_classify_conversation(agent, c.pk, customer_state=CustomerState.INTERESTED)
    if close:
        inbox_actions.check_close_conversation(agent, c.pk, reason="answered", outcome=ConversationOutcome.RESOLVED)
    return c.pk


def test_incremental_rollups_equal_a_recount(agent, supervisor):
    # given a week of live work: conversations answered, classified, closed, an order sold, another cancelled
    start = datetime(2026, 11, 2, 9, 0, tzinfo=BOGOTA)
    with time_machine.travel(start, tick=False) as clock:
        live_day(agent, supervisor, phone="+573001110001", close=True)
        clock.shift(timedelta(days=1, hours=15))  # the next evening
        live_day(agent, supervisor, phone="+573001110002", close=False)
        lead = ready_lead()
        order = order_actions.check_create_order(agent, lead_id=lead.pk, lines=[(product("SKU-R1").sku, 2)])
        inbox_actions.do_receive_inbound(channel="email", body="quiero comprar", customer_name=lead.customer.name,
                                         phones=[lead.customer.phones.get().e164])
        order_actions.check_confirm_order(agent, order.pk)
        clock.shift(timedelta(days=2))
        live_day(agent, supervisor, phone="+573001110001", close=True)  # the first customer comes back
        cancelled = order_actions.check_create_order(agent, lead_id=lead.pk, lines=[(product("SKU-R2").sku, 1)])
        order_actions.check_confirm_order(agent, cancelled.pk)
        order_actions.check_cancel_order(supervisor, cancelled.pk, reason="El cliente desistió")
        # when the changes are folded in incrementally
        rollups.refresh_all_dirty()
        incremental = snapshot()
        # then a recount from scratch gives exactly the same rows
        rollups.rebuild_all()
        assert snapshot() == incremental
    facts = incremental["ConversationFact"]
    # the returning customer reopened their conversation (a new cycle, not a new conversation); each order of the
    # call screen was sold in its own call (a phone conversation: two days apart, the first call had ended), and
    # the cancelled order's sale is gone
    assert len(facts) == 5 and sum(f["sales"] for f in facts) == 1
    assert [f["channel"] for f in facts if f["sales"]] == ["phone"]
    assert [f["channel"] for f in facts].count("phone") == 2


def settled_equals_recount(step: str) -> dict[str, list[dict[str, object]]]:
    """Folds the marks in, then checks a recount from scratch gives exactly the same rows (after `step`)."""
    rollups.refresh_all_dirty()
    incremental = snapshot()
    rollups.rebuild_all()
    assert snapshot() == incremental, f"the rollups missed a change: {step}"
    return incremental


def test_every_action_that_changes_a_fact_keeps_the_rollups_equal_to_a_recount(agent, supervisor, make_user):
    """Reports learn of changes only through domain events (reports.subscribers): this walks every action that
    changes a reporting fact — a move to another inbox, a transfer, classification, escalation, a merge of
    duplicates, a return to the pool, a sale and its cancellation, a customer merge — and after each one checks
    that folding the marks in gives exactly what a recount from scratch gives."""
    posventa_team = TeamFactory(code="posventa-team", name="Posventa")
    posventa, _ = Inbox.objects.update_or_create(code="posventa", defaults={"name": "Posventa",
                                                                            "auto_assign": False})
    posventa.teams.set([posventa_team])
    other = make_user(Role.AGENTE, username="agente2")
    other.teams.add(posventa_team)
    comment = "El cliente pregunta por la garantía del equipo."
    with time_machine.travel(datetime(2026, 11, 16, 9, 0, tzinfo=BOGOTA), tick=False) as clock:
        # given live work, folded in
        moved = live_day(agent, supervisor, phone="+573007770001", close=False, classify=False)
        pooled = inbox_actions.do_receive_inbound(channel="whatsapp", body="¿sigue disponible?",
                                                  customer_name="Mario", phones=["+573007770002"])[0].pk
        inbox_actions.check_assign(supervisor, pooled, assignee=agent.username)
        settled_equals_recount("live work")
        clock.shift(timedelta(hours=3))
        # when each action runs, the rollups follow
        inbox_actions.check_transfer(supervisor, moved, to_inbox="posventa", to_user=other.username, comment=comment)
        settled_equals_recount("move to another inbox and agent")
        inbox_actions.check_classify_conversation(other, moved, outcome=ConversationOutcome.RESOLVED,
                                                  customer_state=CustomerState.FOLLOW_UP)
        settled_equals_recount("classification")
        inbox_actions.check_escalate(other, moved, comment="Pide un cambio de equipo, lo decide el supervisor.")
        settled_equals_recount("escalation")
        # a duplicate thread of the same customer (a channel quirk made it, not an action) is merged into it
        dup = Conversation.objects.create(customer_id=Conversation.objects.get(pk=moved).customer_id,
                                          channel="whatsapp", inbox=posventa)
        Message.objects.create(conversation=dup, kind="inbound", body="¿me responden?")
        Message.objects.create(conversation=dup, kind="outbound", body="Sí, ya lo vemos")
        rollups.rebuild_all()
        inbox_actions.check_merge_conversations(supervisor, keep_id=moved, merge_id=dup.pk)
        settled_equals_recount("merge of duplicate conversations")
        type(agent).objects.filter(pk=agent.pk).update(availability="desconectado")
        assert inbox_actions.do_return_stale_to_pool() == 1
        settled_equals_recount("return to the pool")
        lead = ready_lead()
        inbox_actions.do_receive_inbound(channel="email", body="quiero comprar", customer_name=lead.customer.name,
                                         phones=[lead.customer.phones.get().e164])
        settled_equals_recount("a buyer writes")
        kept = order_actions.check_create_order(agent, lead_id=lead.pk, lines=[(product("SKU-E1").sku, 2)])
        order_actions.check_confirm_order(agent, kept.pk)
        cancelled = order_actions.check_create_order(agent, lead_id=lead.pk, lines=[(product("SKU-E2").sku, 1)])
        order_actions.check_confirm_order(agent, cancelled.pk)
        settled_equals_recount("sales")
        order_actions.check_cancel_order(supervisor, cancelled.pk, reason="El cliente desistió")
        settled_equals_recount("an order cancelled")
        check_merge_customers(supervisor, keep_id=lead.customer_id,
                              merge_id=Conversation.objects.get(pk=pooled).customer_id)
        final = settled_equals_recount("customer merge")
    facts = {f["conversation_id"]: f for f in final["ConversationFact"]}
    assert facts[moved]["inbox_id"] == posventa.pk and facts[moved]["state"] == "escalada"
    assert facts[moved]["outcome"] == ConversationOutcome.RESOLVED and facts[moved]["reply_count"] == 2
    assert facts[pooled]["agent_id"] == 0 and facts[pooled]["customer_id"] == lead.customer_id
    assert sum(f["sales"] for f in facts.values()) == 1


def test_filtered_path_equals_the_rollup_path(agent, supervisor):
    # given conversations all on one channel
    with time_machine.travel(datetime(2026, 11, 10, 10, 0, tzinfo=BOGOTA), tick=False) as clock:
        for i in range(3):
            live_day(agent, supervisor, phone=f"+57300222000{i}", close=i != 1, classify=i != 2)
            clock.shift(timedelta(days=3))
        window = {"start": datetime(2026, 10, 20).date(), "end": datetime(2026, 11, 25).date()}
        # when the dashboard is read unfiltered (rollups) and filtered by that channel (facts)
        for granularity in ("day", "week", "month"):
            plain = dashboard(DashboardFilters(**window, granularity=granularity))
            filtered = dashboard(DashboardFilters(**window, granularity=granularity, channel="whatsapp"))
            # then every chart is the same
            assert filtered == plain
    assert plain["agent_volume"][0]["conversations"] == 3


def test_facts_leave_the_rollups_when_they_fall_out_of_the_horizon(agent, supervisor):
    # given a conversation on 2026-11-10 counted by the dashboard
    with time_machine.travel(datetime(2026, 11, 10, 10, 0, tzinfo=BOGOTA), tick=False):
        live_day(agent, supervisor, phone="+573003330000", close=True)
        rollups.refresh_all_dirty()
        assert DailyStats.objects.filter(started__gt=0).exists()
    # when two years and a day have passed and anything refreshes
    with time_machine.travel(datetime(2028, 11, 11, 10, 0, tzinfo=BOGOTA), tick=False):
        rollups.refresh()
        # then its facts and every rollup row built from them are gone
        assert not ConversationFact.objects.exists()
        assert not DailyStats.objects.filter(started__gt=0).exists()
        assert not CustomerDay.objects.exists() and not MonthlyCustomers.objects.filter(active__gt=0).exists()
        assert not StateDelta.objects.exclude(delta=0).exists()


def test_a_change_during_a_refresh_is_not_lost(agent, supervisor):
    # given a conversation marked dirty, then marked again after the refresher read the first mark
    with time_machine.travel(datetime(2026, 11, 10, 10, 0, tzinfo=BOGOTA), tick=True):
        cid = live_day(agent, supervisor, phone="+573004440000", close=False)
        from reports.models import DirtyConversation

        first = DirtyConversation.objects.get(conversation_id=cid).marked_at
        rollups.mark_dirty([cid])
        # when a refresher clears only the mark it read (simulated: delete by the old timestamp)
        DirtyConversation.objects.filter(conversation_id=cid, marked_at=first).delete()
        # then the newer mark survives for the next refresh
        assert DirtyConversation.objects.filter(conversation_id=cid).exists()


def test_retention_deletes_conversations_beyond_the_horizon_only_when_configured(agent, supervisor, settings):
    from inbox.models import Conversation

    # given a conversation from 2026-11-10 and one from 2028-11-20
    with time_machine.travel(datetime(2026, 11, 10, 10, 0, tzinfo=BOGOTA), tick=False):
        old = live_day(agent, supervisor, phone="+573005550000", close=True)
    with time_machine.travel(datetime(2028, 11, 20, 10, 0, tzinfo=BOGOTA), tick=False):
        recent = live_day(agent, supervisor, phone="+573005550001", close=True)
        # when the retention job runs in the default mode, nothing is deleted (archived in place)
        assert rollups.delete_beyond_horizon() == 0
        # and in delete mode only the conversation older than two years goes
        settings.RETENTION_MODE = "delete"
        assert rollups.delete_beyond_horizon() == 1
    assert list(Conversation.objects.values_list("pk", flat=True)) == [recent] and old != recent
