"""Issue 14: every action that changes state emits its event exactly once, delivered after commit, and none when the
action rolls back — one parametrized test over the whole event catalogue (core.events.EVENT_TYPES). A new event type
without a trigger here fails `test_every_event_type_has_a_trigger`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.actions import check_change_availability as change_availability
from accounts.actions import check_update_user
from accounts.models import User
from accounts.roles import Role
from announcements import actions as announcement_actions
from automation import actions as scheduling
from automation import rules, sla
from automation.models import RuleTrigger, ScheduledMessage, SlaPolicy
from automation.rules import RuleInput, check_save_rule
from automation.sequences import SequenceInput, check_save_sequence
from bots import actions as bot_actions
from bots.demo import GRAPH as BOT_GRAPH
from campaigns import actions as campaign_actions
from campaigns import results as campaign_results
from campaigns.models import Campaign, CampaignRecipient
from catalog.actions import check_receive_stock
from core import events
from core.management.commands.event_catalogue import render_doc
from core.models import EventLog
from customers.actions import (
    ConsentChange,
    apply_tags,
    check_merge_customers,
    check_update_customer,
    do_upsert_customer,
)
from customers.activity import do_refresh_activity
from customers.models import Customer, Segment, Tag
from customers.segments import recompute
from inbox import actions as inbox
from inbox.choices import ConversationState as S
from inbox.events import MessageReceived
from inbox.models import Conversation
from knowledge import actions as knowledge_actions
from leads.actions import check_add_note, check_close_lead, do_upsert_lead_from_kommo
from leads.tests.factories import LeadFactory
from orders import actions as orders
from orders.events import OrderConfirmed
from orders.models import Order
from orders.tests.factories import product, ready_lead
from teamchat import actions as chat_actions

pytestmark = pytest.mark.django_db(transaction=True)

When = Callable[[], object]


class World:
    """The people every trigger needs."""

    def __init__(self, make_user: Callable[..., User]) -> None:
        self.agent = make_user(Role.AGENTE)
        self.supervisor = make_user(Role.SUPERVISOR)
        self.admin = make_user(Role.ADMIN)

    def conversation(self, phone: str = "+573001112233") -> Conversation:
        c, _m, _new = inbox.do_receive_inbound(channel="whatsapp", body="Hola, ¿tienen envíos?",
                                                customer_name="Lucía Peña", phones=[phone])
        return c

    def order(self, *, confirmed: bool) -> Order:
        item = product("RTR-1", price="120000", stock=5)
        order = orders.check_create_order(self.agent, lead_id=ready_lead().pk, lines=[(item.sku, 1)])
        if confirmed:
            orders.check_confirm_order(self.agent, order.pk)
        return order


def _kommo_lead(kommo_id: int) -> dict[str, Any]:
    return {"kommo_id": kommo_id, "name": "Pedido router", "price": Decimal("120000"), "pipeline_id": 1,
            "status_id": 10, "stage_name": "Para Llamar", "updated_at": 1_700_000_000, "responsible_id": None,
            "tags": [], "custom_fields": [], "contact": {"id": 77, "name": "Lucía Peña", "phones": ["+573005550000"]},
            "in_stage": True}


# Each trigger: the `given` part runs before (and its own events do not count); the returned callable is the action.
def _conversation_created(w: World) -> When:
    return w.conversation


def _message_received(w: World) -> When:
    w.conversation()
    return w.conversation  # the same customer writes again: continues the open conversation


def _message_sent(w: World) -> When:
    c = w.conversation()
    return lambda: inbox.check_send_reply(w.supervisor, c.pk, body="Sí, enviamos a todo el país.")


def _conversation_assigned(w: World) -> When:
    c = w.conversation()
    return lambda: inbox.check_assign(w.supervisor, c.pk, assignee=w.agent.username)


def _conversation_state_changed(w: World) -> When:
    c = w.conversation()
    return lambda: inbox.check_escalate(w.supervisor, c.pk, comment="El cliente pide hablar con un supervisor.")


def _conversation_closed(w: World) -> When:
    c = w.conversation()
    inbox.check_send_reply(w.supervisor, c.pk, body="Sí, enviamos a todo el país.")
    return lambda: inbox.check_close_conversation(w.supervisor, c.pk, reason="answered")


def _conversation_updated(w: World) -> When:
    c = w.conversation()
    return lambda: inbox.check_classify_conversation(w.supervisor, c.pk, customer_state="interesado")


def _lead_arrived(w: World) -> When:
    return lambda: do_upsert_lead_from_kommo(**_kommo_lead(4242))


def _lead_noted(w: World) -> When:
    lead = LeadFactory()
    return lambda: check_add_note(w.agent, lead.pk, text="Llamé; pide que le envíen el catálogo.")


def _lead_closed(w: World) -> When:
    lead = LeadFactory()
    check_add_note(w.agent, lead.pk, text="Llamé; confirmó la compra del router.")
    return lambda: check_close_lead(w.agent, lead.pk)


def _order_confirmed(w: World) -> When:
    order = w.order(confirmed=False)
    return lambda: orders.check_confirm_order(w.agent, order.pk)


def _order_cancelled(w: World) -> When:
    order = w.order(confirmed=True)
    return lambda: orders.check_cancel_order(w.supervisor, order.pk, reason="El cliente desistió")


def _order_dispatched(w: World) -> When:
    order = w.order(confirmed=True)
    return lambda: orders.check_dispatch_order(w.supervisor, order.pk)


def _stock_changed(w: World) -> When:
    item = product("SW-8", stock=3)
    return lambda: check_receive_stock(w.admin, item.pk, quantity=5, reason="Entrega del proveedor")


def _customer_created(w: World) -> When:
    return lambda: do_upsert_customer(name="Mateo Ruiz", phones=["+573009998877"])


def _customer_tagged(w: World) -> When:
    customer = do_upsert_customer(name="Mateo Ruiz", phones=["+573009998877"])
    return lambda: apply_tags(customer, ["vip", "mayorista"], acting_user=w.supervisor)


def _consent_changed(w: World) -> When:
    customer = do_upsert_customer(name="Mateo Ruiz", phones=["+573009998877"])
    return lambda: check_update_customer(w.supervisor, customer.pk, consent={
        "whatsapp": ConsentChange(status="opted_in", source="Formulario de la tienda")})


def _vip_customer(*, tagged: bool) -> Customer:
    """A customer and the VIP segment computed once (its baseline), the customer in it when `tagged`."""
    customer = do_upsert_customer(name="Mateo Ruiz", phones=["+573009998877"])
    if tagged:
        customer.tags.add(Tag.objects.get_or_create(name="VIP")[0])
    vip, _created = Segment.objects.get_or_create(code="vip", defaults={"name": "VIP",
                                                                     "rules": {"any": [{"tag": "VIP"}]}})
    recompute(vip)
    return customer


def _segment_entered(w: World) -> When:
    customer = _vip_customer(tagged=False)
    customer.tags.add(Tag.objects.get_or_create(name="VIP")[0])
    return lambda: do_refresh_activity([customer.pk])


def _segment_left(w: World) -> When:
    customer = _vip_customer(tagged=True)
    customer.tags.clear()
    return lambda: do_refresh_activity([customer.pk])


def _sent_campaign(w: World) -> CampaignRecipient:
    customer = do_upsert_customer(name="Rosa Díaz", phones=["+573005550000"])
    campaign = Campaign.objects.create(name="Te extrañamos", channel="whatsapp", state="enviando")
    return CampaignRecipient.objects.create(campaign=campaign, customer=customer, channel="whatsapp",
                                            address="+573005550000", state="entregado", sent_at=timezone.now())


def _campaign_state_changed(w: World) -> When:
    campaign = _sent_campaign(w).campaign
    return lambda: campaign_actions.check_pause(w.admin, campaign.pk)


def _campaign_replied(w: World) -> When:
    r = _sent_campaign(w)
    c, m, _new = inbox.do_receive_inbound(channel="api", body="Hola", customer_name="Rosa", phones=[r.address])
    event = MessageReceived(message_id=m.pk, conversation_id=c.pk, customer_id=r.customer_id, channel="whatsapp",
                            inbox="", body="¡Me interesa!")
    return lambda: campaign_results.on_message_received(event)


def _campaign_converted(w: World) -> When:
    r = _sent_campaign(w)
    event = OrderConfirmed(order_id=9001, number="P-9001", customer_id=r.customer_id, lead_id=None,
                           total=Decimal("120000"), currency="COP", order={})
    return lambda: campaign_results.on_order_confirmed(event)


def _draft_article(w: World) -> Any:
    return knowledge_actions.check_save_article(w.supervisor, article_id=None, data=knowledge_actions.ArticleInput(
        title="Devoluciones y cambios", body="Tiene 30 días para devolver un producto."))


def _article_saved(w: World) -> When:
    return lambda: _draft_article(w)


def _article_state_changed(w: World) -> When:
    article = _draft_article(w)
    return lambda: knowledge_actions.check_publish(w.supervisor, article_id=article.pk)


def _chat_channel_created(w: World) -> When:
    return lambda: chat_actions.check_create_channel(w.supervisor, name="Turnos")


def _chat_channel_state_changed(w: World) -> When:
    channel = chat_actions.check_create_channel(w.supervisor, name="Turnos")
    return lambda: chat_actions.check_archive_channel(w.supervisor, channel.pk)


def _chat_members_changed(w: World) -> When:
    channel = chat_actions.check_create_channel(w.supervisor, name="Turnos")
    return lambda: chat_actions.check_add_members(w.supervisor, channel.pk, user_ids=[w.agent.pk])


def _bot_flow(w: World, inbox_code: str = "") -> Any:
    flow = bot_actions.check_create_flow(w.supervisor, name="Pedidos", graph=BOT_GRAPH)
    bot_actions.check_save_flow(w.supervisor, flow.pk, inbox_code=inbox_code)
    return flow


def _bot_flow_published(w: World) -> When:
    flow = _bot_flow(w)
    return lambda: bot_actions.check_publish_flow(w.supervisor, flow.pk)


def _bot_message(w: World, body: str) -> Any:
    _c, message, _new = inbox.do_receive_inbound(channel="webchat", body=body, customer_name="Lucía Peña",
                                                 phones=["+573001112299"])
    return message


def _bot_started(w: World) -> Any:
    message = _bot_message(w, "hola")  # the conversation first: it creates the Global inbox the flow starts from
    flow = _bot_flow(w, inbox_code=message.conversation.inbox.code)
    bot_actions.check_publish_flow(w.supervisor, flow.pk)
    return message


def _bot_run_started(w: World) -> When:
    message = _bot_started(w)
    return lambda: bot_actions.do_handle_message(message.pk)


def _bot_run_state_changed(w: World) -> When:
    bot_actions.do_handle_message(_bot_started(w).pk)
    answer = _bot_message(w, "agente")
    return lambda: bot_actions.do_handle_message(answer.pk)


def _announcement(w: World, **fields: Any) -> Any:
    return announcement_actions.check_save_announcement(
        w.supervisor, announcement_id=None, publish=True,
        data=announcement_actions.AnnouncementInput(title="Nueva política de devoluciones", **fields))


def _announcement_published(w: World) -> When:
    return lambda: _announcement(w, requires_ack=True)


def _announcement_acknowledged(w: World) -> When:
    announcement = _announcement(w, requires_ack=True)
    return lambda: announcement_actions.check_acknowledge(w.agent, announcement_id=announcement.pk)


def _announcement_reminded(w: World) -> When:
    announcement = _announcement(w, requires_ack=True)
    return lambda: announcement_actions.check_remind(w.supervisor, announcement_id=announcement.pk)


def _announcement_archived(w: World) -> When:
    announcement = _announcement(w)
    return lambda: announcement_actions.check_archive(w.supervisor, announcement_id=announcement.pk)


def _article_deleted(w: World) -> When:
    article = _draft_article(w)
    return lambda: knowledge_actions.check_delete(w.supervisor, article_id=article.pk)


def _customer_merged(w: World) -> When:
    keep = do_upsert_customer(name="Ana Pérez", phones=["+573001110000"])
    gone = do_upsert_customer(name="Ana P.", emails=["ana@example.com"])
    w.conversation(phone="+573001110000")
    return lambda: check_merge_customers(w.supervisor, keep_id=keep.pk, merge_id=gone.pk)


def _scheduled(w: World) -> ScheduledMessage:
    c, _m, _new = inbox.do_receive_inbound(channel="api", body="¿Me recuerdan el pago?", customer_name="Lucía Peña",
                                           phones=["+573004440000"])
    return scheduling.check_schedule_message(w.supervisor, c.pk, send_at=timezone.now() + timedelta(minutes=2),
                                             body="Le recordamos el pago de hoy.")


def _scheduled_message_sent(w: World) -> When:
    scheduled = _scheduled(w)
    return lambda: scheduling.do_send_scheduled(scheduled.pk, now=timezone.now() + timedelta(minutes=5))


def _scheduled_message_cancelled(w: World) -> When:
    scheduled = _scheduled(w)
    return lambda: scheduling.check_cancel_scheduled(w.supervisor, scheduled.pk)


def _scheduled_message_failed(w: World) -> When:
    scheduled = _scheduled(w)
    Conversation.objects.filter(pk=scheduled.conversation_id).update(channel="phone")  # a call takes no writing
    return lambda: scheduling.do_send_scheduled(scheduled.pk, now=timezone.now() + timedelta(minutes=5))


def _sla_breached(w: World) -> When:
    # (a transactional test: the default policies of the data migration may have been flushed by an earlier one)
    SlaPolicy.objects.update_or_create(channel="whatsapp", inbox=None, defaults={"first_response_seconds": 300})
    w.conversation(phone="+573005550000")  # WhatsApp: first response due in 5 minutes
    return lambda: sla.do_detect_breaches(now=timezone.now() + timedelta(minutes=6))


def _sequence_trigger(w: World) -> int:
    """A customer's message that a rule answers by starting a two-message sequence (its trigger, not evaluated)."""
    sequence = check_save_sequence(w.supervisor, SequenceInput(name="Posventa", steps=[
        {"delay_minutes": 1440, "body": "¿Cómo le fue?"}, {"delay_minutes": 4320, "body": "¿Algo más?"}]))
    check_save_rule(w.supervisor, RuleInput(name="Seguimiento", event="message.received", active=True,
                                            actions=[{"type": "start_sequence", "sequence": sequence.pk}]))
    inbox.do_receive_inbound(channel="api", body="Gracias", customer_name="Rosa Díaz", phones=["+573006660000"])
    return RuleTrigger.objects.filter(processed_at__isnull=True).latest("pk").pk


def _sequence_started(w: World) -> When:
    trigger_id = _sequence_trigger(w)
    return lambda: rules.do_process_trigger(trigger_id)


def _sequence_ended(w: World) -> When:
    rules.do_process_trigger(_sequence_trigger(w))
    # the customer's reply stops it
    return lambda: inbox.do_receive_inbound(channel="api", body="Todo bien", customer_name="Rosa Díaz",
                                            phones=["+573006660000"])


def _availability_changed(w: World) -> When:
    return lambda: change_availability(w.agent, w.agent.pk, to="ausente")


def _access_changed(w: World) -> When:
    return lambda: check_update_user(w.admin, w.agent.pk, role=Role.SUPERVISOR)


TRIGGERS: dict[str, Callable[[World], When]] = {
    "user.availability_changed": _availability_changed,
    "user.access_changed": _access_changed,
    "conversation.created": _conversation_created,
    "message.received": _message_received,
    "message.sent": _message_sent,
    "conversation.assigned": _conversation_assigned,
    "conversation.updated": _conversation_updated,
    "conversation.state_changed": _conversation_state_changed,
    "conversation.closed": _conversation_closed,
    "lead.arrived": _lead_arrived,
    "lead.noted": _lead_noted,
    "lead.closed": _lead_closed,
    "order.confirmed": _order_confirmed,
    "order.cancelled": _order_cancelled,
    "order.dispatched": _order_dispatched,
    "stock.changed": _stock_changed,
    "customer.created": _customer_created,
    "customer.tagged": _customer_tagged,
    "customer.consent_changed": _consent_changed,
    "customer.merged": _customer_merged,
    "segment.entered": _segment_entered,
    "segment.left": _segment_left,
    "campaign.state_changed": _campaign_state_changed,
    "campaign.replied": _campaign_replied,
    "campaign.converted": _campaign_converted,
    "article.saved": _article_saved,
    "article.state_changed": _article_state_changed,
    "article.deleted": _article_deleted,
    "announcement.published": _announcement_published,
    "announcement.acknowledged": _announcement_acknowledged,
    "announcement.reminded": _announcement_reminded,
    "announcement.archived": _announcement_archived,
    "bot_flow.published": _bot_flow_published,
    "chat_channel.created": _chat_channel_created,
    "chat_channel.state_changed": _chat_channel_state_changed,
    "chat_channel.members_changed": _chat_members_changed,
    "bot_run.started": _bot_run_started,
    "bot_run.state_changed": _bot_run_state_changed,
    "scheduled_message.sent": _scheduled_message_sent,
    "scheduled_message.cancelled": _scheduled_message_cancelled,
    "scheduled_message.failed": _scheduled_message_failed,
    "sla.breached": _sla_breached,
    "sequence.started": _sequence_started,
    "sequence.ended": _sequence_ended,
}


@pytest.fixture
def delivered() -> Iterator[list[events.DomainEvent]]:
    seen: list[events.DomainEvent] = []
    events.subscribe(events.ANY, seen.append, name="test.catalogue")
    yield seen
    events._subscribers[events.ANY].pop("test.catalogue", None)


def test_every_event_type_has_a_trigger():
    assert set(TRIGGERS) == set(events.EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(TRIGGERS))
def test_the_action_emits_its_event_once_after_commit(event_type, make_user, delivered):
    # given what the action needs
    when = TRIGGERS[event_type](World(make_user))
    before = set(EventLog.objects.filter(type=event_type).values_list("pk", flat=True))
    delivered.clear()

    # when the action runs inside a transaction that commits
    with transaction.atomic():
        when()
        logged_inside = EventLog.objects.filter(type=event_type).exclude(pk__in=before).count()
        delivered_inside = [e for e in delivered if e.type == event_type]

    # then the event was logged with the action but delivered only after the commit, exactly once
    assert logged_inside == 1
    assert delivered_inside == []
    (row,) = EventLog.objects.filter(type=event_type).exclude(pk__in=before)
    (event,) = [e for e in delivered if e.type == event_type]
    assert event.log_id == row.pk
    assert row.payload == event.payload() and row.version == event.version
    assert isinstance(event, events.EVENT_TYPES[event_type])


@pytest.mark.parametrize("event_type", sorted(TRIGGERS))
def test_a_rolled_back_action_emits_nothing(event_type, make_user, delivered):
    # given what the action needs
    when = TRIGGERS[event_type](World(make_user))
    before = EventLog.objects.filter(type=event_type).count()
    delivered.clear()

    # when the action runs but its transaction rolls back
    with pytest.raises(RuntimeError), transaction.atomic():
        when()
        raise RuntimeError("a later step of the same transaction failed")

    # then nothing was logged and nothing delivered
    assert EventLog.objects.filter(type=event_type).count() == before
    assert [e for e in delivered if e.type == event_type] == []


def test_a_state_change_that_changes_nothing_emits_nothing(make_user, delivered):
    # given an escalated conversation
    w = World(make_user)
    c = w.conversation()
    inbox.check_escalate(w.supervisor, c.pk, comment="El cliente pide hablar con un supervisor.")
    before = EventLog.objects.count()
    # when the transition function is asked for the state it already has
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=c.pk)
        assert inbox.do_transition_conversation(locked, to=S.ESCALATED, acting_user=None) is False
    # then no event
    assert EventLog.objects.count() == before


def test_the_events_doc_matches_the_catalogue(settings):
    doc = (Path(settings.BASE_DIR) / "docs" / "events.md").read_text(encoding="utf-8")
    assert render_doc(doc) == doc, "docs/events.md is stale: run `python manage.py event_catalogue --write`"
