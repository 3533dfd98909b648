"""End to end through a real daphne serving config.asgi (the fast intake route chained ahead of Django): the fake
Graph API's customers write, the admin page's "Simular mensaje" posts to ourselves, and the worker's action turns
the stored deliveries into inbox messages. (The live server's task backend is in its own process, so the test runs
the worker's action on the stored deliveries itself.)"""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from connectors.whatsapp.actions import check_connect_number, do_process_delivery
from connectors.whatsapp.models import WebhookDelivery
from connectors.whatsapp.outbound import send_outbound
from fakes import whatsapp as fw
from inbox.actions import do_send_automatic
from inbox.models import Conversation, Message

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_number(asgi_live_server, fake_whatsapp, settings):
    settings.SITE_URL = asgi_live_server
    number = fake_whatsapp.state.number
    result = check_connect_number(None, phone_number_id=number.phone_number_id, waba_id=number.waba_id,
                                  token="wa-test-token", app_secret="wa-test-app-secret", verify_token="v",
                                  base_url=fake_whatsapp.base_url)
    fake_whatsapp.state.webhook_url = result.webhook_url
    return result.number


def process_all():
    for delivery in WebhookDelivery.objects.filter(state="received"):
        do_process_delivery(delivery.pk)


def test_customers_write_through_the_fast_route(live_number, fake_whatsapp):
    # given a customer writes, Meta redelivers once, and someone posts an unsigned and a forged body
    status, _payload = fake_whatsapp.state.customer_writes("573001234567", "¿Tienen envíos a Cali?", name="Luis",
                                                           times=2)
    unsigned, _ = fake_whatsapp.state.emit(fw.inbound_payload([fw.text_message("573001234567", "x")]),
                                           unsigned=True)
    forged, _ = fake_whatsapp.state.emit(fw.inbound_payload([fw.text_message("573001234567", "x")]),
                                         signature="sha256=" + "0" * 64)
    # then the real server answered like the contract says and stored every body before answering
    assert (status, unsigned, forged) == (200, 401, 403)
    assert sorted(WebhookDelivery.objects.values_list("state", flat=True)) == ["received", "received", "rejected",
                                                                               "rejected"]
    # and the worker's processing puts the message in the inbox once
    process_all()
    (message,) = Message.objects.filter(kind="inbound")
    assert message.body == "¿Tienen envíos a Cali?" and message.conversation.customer.name == "Luis"


def test_simulate_button_posts_a_signed_webhook_to_ourselves(live_number, client, settings):
    settings.WHATSAPP_DEMO = True
    client.force_login(UserFactory(role=Role.ADMIN))
    response = client.post(reverse("whatsapp:simulate", args=[live_number.pk]),
                           {"name": "Mariana Ospina", "phone": "+57 300 555 0101", "text": "Hola desde la demo"},
                           follow=True)
    assert "Mensaje simulado recibido" in response.content.decode()
    process_all()
    message = Message.objects.get(kind="inbound")
    assert message.body == "Hola desde la demo"
    assert list(message.conversation.customer.phones.values_list("e164", flat=True)) == ["+573005550101"]


def test_simulation_is_only_for_demo_mode(live_number, client, settings):
    settings.WHATSAPP_DEMO = False
    client.force_login(UserFactory(role=Role.ADMIN))
    response = client.post(reverse("whatsapp:simulate", args=[live_number.pk]),
                           {"name": "X", "phone": "+573005550101", "text": "hola"}, follow=True)
    assert "solo está disponible en modo demo" in response.content.decode()
    assert not WebhookDelivery.objects.exists()


def test_the_customer_presses_the_bots_button_on_their_phone(live_number, fake_whatsapp):
    # given a customer wrote and the bot asked with two options, which Meta (the fake) took as reply buttons
    fake_whatsapp.state.customer_writes("573001234567", "Hola", name="Luis")
    process_all()
    conversation = Message.objects.get(kind="inbound").conversation
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        question = do_send_automatic(locked, body="¿En qué te ayudo?", meta={
            "choices": {"options": [{"id": "pedido", "title": "Estado de mi pedido", "description": ""},
                                    {"id": "humano", "title": "Hablar con alguien", "description": ""}]},
            "bot": {"flow": 1, "name": "Bienvenida", "step": "menu"}})
    assert send_outbound(question.pk) == "sent"
    question.refresh_from_db()
    # when the customer presses "Hablar con alguien": Meta posts the signed button_reply webhook to us
    status, _payload = fake_whatsapp.state.customer_chooses("573001234567", "humano", name="Luis")
    assert status == 200
    process_all()
    # then the answer is in the conversation with the option's id, answering the bot's question
    answer = Message.objects.filter(kind="inbound").latest("id")
    assert answer.conversation_id == conversation.pk and answer.body == "Hablar con alguien"
    assert answer.meta["reply"] == {"kind": "button_reply", "id": "humano", "title": "Hablar con alguien",
                                    "description": ""}
    assert answer.meta["context"]["id"] == question.external_id
