"""Issue 18, end to end over WhatsApp: the seeded flow "Estado de mi pedido" talks with a customer through a real
daphne (the signed webhook route) and the fake Graph API — the bot's questions leave as interactive lists and reply
buttons the fake validates like Meta, the customer presses them (button_reply / list_reply webhooks), the bot
answers the real state of the customer's order found by their phone, and hands over with a note when asked. The
worker's tasks run from the test backend's queue (the live server's backend is in its own process)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from bots.actions import check_publish_flow, check_save_flow
from bots.choices import HandoffReason, RunState
from bots.demo import seed_order_status_flow
from bots.models import BotFlow
from bots.tests.helpers import global_inbox
from connectors.mail.tests.helpers import run_queued
from connectors.whatsapp.actions import check_connect_number, do_process_delivery
from connectors.whatsapp.models import WebhookDelivery
from customers.models import Customer
from inbox.choices import MessageKind
from inbox.models import Conversation, Message
from orders.models import Order, OrderLine
from orders.tests.factories import product

pytestmark = pytest.mark.django_db(transaction=True)
WA_ID = "573001234567"


@pytest.fixture
def live_number(asgi_live_server, fake_whatsapp, settings):
    settings.SITE_URL = asgi_live_server
    number = fake_whatsapp.state.number
    result = check_connect_number(None, phone_number_id=number.phone_number_id, waba_id=number.waba_id,
                                  token="wa-test-token", app_secret="wa-test-app-secret", verify_token="v",
                                  base_url=fake_whatsapp.base_url)
    fake_whatsapp.state.webhook_url = result.webhook_url
    return result.number


def worker() -> None:
    """What the worker does after each webhook: store the message, let the bot answer, deliver the answers."""
    for delivery in WebhookDelivery.objects.filter(state="received"):
        do_process_delivery(delivery.pk)
    run_queued()


def interactive_sent(fake) -> list[dict[str, Any]]:
    return [s["payload"]["interactive"] for s in fake.state.sent if s["type"] == "interactive"]


def texts_sent(fake) -> list[str]:
    return [s["payload"]["text"]["body"] for s in fake.state.sent if s["type"] == "text"]


def test_order_status_over_whatsapp_buttons_then_a_person(live_number, fake_whatsapp):
    # Given the seeded flow as the Global inbox's default entry
    supervisor = UserFactory(role=Role.SUPERVISOR, username="supervisora")
    seed_order_status_flow(None, "small", _Quiet())
    flow = BotFlow.objects.get(name="Estado de mi pedido")
    check_save_flow(supervisor, flow.pk, inbox_code=global_inbox().code)
    check_publish_flow(supervisor, flow.pk)
    fake = fake_whatsapp

    # When a customer writes "Hola" on WhatsApp
    assert fake.state.customer_writes(WA_ID, "Hola", name="Luis Gómez")[0] == 200
    worker()
    # Then the greeting goes out as text and the four-option menu as an interactive list
    assert texts_sent(fake) == ["¡Hola Luis! Soy el asistente virtual de la tienda."]
    menu = interactive_sent(fake)[-1]
    assert menu["type"] == "list" and menu["body"]["text"] == "¿En qué te ayudo?"
    assert [r["id"] for r in menu["action"]["sections"][0]["rows"]] == ["pedido", "producto", "consulta", "humano"]

    # Given the customer has a dispatched order (they are known by the phone they write from)
    customer = Customer.objects.get(name="Luis Gómez")
    item = product("ZT-42", name="Zapatillas Trail 42", price="189900", stock=5)
    order = Order.objects.create(customer=customer, agent=UserFactory(role=Role.AGENTE), state="despachado",
                                 total=Decimal("189900"))
    OrderLine.objects.create(order=order, product=item, sku=item.sku, name=item.name, unit_price=item.price,
                             quantity=1, line_total=Decimal("189900"))

    # When they pick "Estado de mi pedido" in the list, then the "Con mi teléfono" reply button
    assert fake.state.customer_chooses(WA_ID, "pedido", name="Luis Gómez")[0] == 200
    worker()
    how = interactive_sent(fake)[-1]
    assert how["type"] == "button" and [b["reply"]["id"] for b in how["action"]["buttons"]] == ["numero", "telefono"]
    assert fake.state.customer_chooses(WA_ID, "telefono", name="Luis Gómez")[0] == 200
    worker()
    # Then the bot answers the order's real state and offers more help with three buttons
    answer = texts_sent(fake)[-1]
    assert answer.startswith(f"Tu pedido {order.number} del ") and "está *Despachado*" in answer
    assert "1 × Zapatillas Trail 42" in answer
    more = interactive_sent(fake)[-1]
    assert [b["reply"]["title"] for b in more["action"]["buttons"]] == ["Sí, otra cosa", "No, gracias",
                                                                        "Hablar con alguien"]

    # When they press "Hablar con alguien"
    assert fake.state.customer_chooses(WA_ID, "humano", name="Luis Gómez")[0] == 200
    worker()
    # Then the bot says so, and the agents find a note with what the customer chose and the order it found
    assert texts_sent(fake)[-1] == "Te comunico con una persona del equipo; ya le dejé tu consulta."
    c = Conversation.objects.get(customer=customer)
    run = c.bot_runs.get()
    assert (run.state, run.handoff_reason) == (RunState.HANDED_OVER, HandoffReason.STEP)
    note = Message.objects.filter(conversation=c, kind=MessageKind.NOTE).latest("id").body
    assert "El bot «Estado de mi pedido» deriva la conversación: el flujo lo indica." in note
    assert f"• pedido_numero: {order.number}" in note and "• opcion: Estado de mi pedido" in note
    assert c.priority == "normal"


class _Quiet:
    def write(self, *_args: object, **_kwargs: object) -> None:
        pass
