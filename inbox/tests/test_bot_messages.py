"""What the agent sees of a bot's messages (inbox.message_choices): «Bot · <flow>» where a person's name would be,
and the options a question offered as read-only chips under its text, on the page and in the realtime item."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import transaction
from django.urls import reverse

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from inbox import actions
from inbox.message_choices import bot_name, offered_choices
from inbox.models import Conversation, Message
from inbox.selectors import message_item

pytestmark = pytest.mark.django_db
BOT = {"flow": 4, "name": "Bienvenida", "step": "menu"}
CHOICES = {"options": [{"id": "pedido", "title": "Estado de mi pedido", "description": ""},
                       {"id": "humano", "title": "Hablar con <b>alguien</b>", "description": ""}],
           "button": "Ver opciones"}


@pytest.fixture
def supervisor_page(client_for):
    client = client_for(UserFactory(role=Role.SUPERVISOR, username="sup-bot"))
    return lambda c: client.get(reverse("inbox:detail", args=[c.pk])).content.decode()


def bot_asks(c: Conversation, *, meta: dict[str, Any] | None = None) -> Message:
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=c.pk)
        return actions.do_send_automatic(locked, body="¿En qué te ayudo?",
                                         meta={"choices": CHOICES, "bot": BOT} if meta is None else meta)


@pytest.mark.parametrize("channel", ["webchat", "whatsapp"])
def test_the_timeline_labels_the_bot_and_shows_what_it_offered(supervisor_page, channel):
    # given a customer wrote and the bot asked with two options (on WhatsApp, stored as the bot stores it)
    c, _m, _new = actions.do_receive_inbound(channel=channel, body="Hola", customer_name="Ana Peña",
                                             phones=["3001234567"])
    if channel == "whatsapp":  # its 24-hour guard reads the connector's contact: the row itself is enough here
        Message.objects.create(conversation=c, cycle=c.cycle, kind="outbound", body="¿En qué te ayudo?",
                               meta={"choices": CHOICES, "bot": BOT}, delivery_status="sent")
    else:
        bot_asks(c)
    # when a supervisor opens the conversation
    html = supervisor_page(c)
    # then the question says who wrote it and shows its options as read-only chips (escaped, never markup)
    assert "↩ Bot · Bienvenida" in html
    assert '<ul class="msg-choices" data-f="choices" aria-label="Opciones ofrecidas al cliente">' in html
    assert '<li class="msg-choice">Estado de mi pedido</li>' in html
    assert '<li class="msg-choice">Hablar con &lt;b&gt;alguien&lt;/b&gt;</li>' in html
    assert "<button" not in html.split('class="msg-choices"')[1].split("</ul>")[0]


def test_a_bot_message_without_options_and_a_bot_note(supervisor_page):
    c, _m, _new = actions.do_receive_inbound(channel="webchat", body="Hola", customer_name="Ana",
                                             phones=["3001234567"])
    bot_asks(c, meta={"bot": BOT})
    actions.do_add_system_note(c, body="El cliente pidió hablar con alguien.", meta={"bot": BOT})
    html = supervisor_page(c)
    assert html.count("Bot · Bienvenida") == 2 and "Nota interna · Bot · Bienvenida" in html
    assert "msg-choices" not in html


def test_automation_and_people_keep_their_labels(supervisor_page):
    # given an automation rule's answer and an agent's answer, each also naming a bot in its meta by mistake
    c, _m, _new = actions.do_receive_inbound(channel="webchat", body="Hola", customer_name="Ana",
                                             phones=["3001234567"])
    bot_asks(c, meta={"automation": {"rule": 1, "name": "Horario"}, "bot": BOT})
    agent = UserFactory(role=Role.AGENTE, username="valeria", full_name="Valeria Ruiz")
    Message.objects.create(conversation=c, cycle=c.cycle, kind="outbound", author=agent, body="Hola, soy Valeria",
                           meta={"bot": BOT})
    html = supervisor_page(c)
    # then the rule and the person are named, the bot is not
    assert "Automatización · Horario" in html and "↩ Valeria Ruiz" in html and "Bot ·" not in html


def test_the_realtime_item_carries_the_bot_and_the_options(monkeypatch):
    # given the page's script builds new messages from the realtime event (inbox.actions.message_payload)
    events: list[dict[str, Any]] = []
    monkeypatch.setattr("inbox.actions.base.send_event_on_commit",
                        lambda event, **_kw: events.append(json.loads(json.dumps(event))))
    c, _m, _new = actions.do_receive_inbound(channel="webchat", body="Hola", customer_name="Ana",
                                             phones=["3001234567"])
    # when the bot asks, with options long enough that the event leaves the meta out (over 2,000 characters)
    long_choices = {"options": [{"id": f"op{i}", "title": f"Opción {i}", "description": "x" * 190}
                                for i in range(10)]}
    message = bot_asks(c, meta={"choices": long_choices, "bot": BOT})
    # then the item still names the bot and lists the options (id and title)
    item = next(e["message"] for e in events if e.get("op") == "message" and e["message"]["id"] == message.pk)
    assert item["bot"] == "Bienvenida" and item["author"] is None and item["meta"] == {}
    assert item["choices"] == [{"id": f"op{i}", "title": f"Opción {i}"} for i in range(10)]


def test_a_customers_message_never_shows_options():
    _c, inbound, _new = actions.do_receive_inbound(channel="webchat", body="Hola", customer_name="Ana",
                                                   phones=["3001234567"], meta={"choices": CHOICES})
    assert message_item(inbound)["choices"] == []


@pytest.mark.parametrize(("meta", "expected"), [
    ({"choices": CHOICES}, ["pedido", "humano"]),
    ({"choices": {"options": [{"id": f"o{i}", "title": "t"} for i in range(12)]}}, [f"o{i}" for i in range(10)]),
    ({"choices": {"options": [{"id": "a", "title": "A"}, {"id": "a", "title": "B"}, {"title": "C"},
                              {"id": "d", "title": ""}, {"id": True, "title": "E"}, None]}}, ["a"]),
    ({"choices": {"options": "pedido"}}, []),
    ({"choices": ["pedido"]}, []),
    ({}, []),
    (None, []),
])
def test_stored_options_are_read_defensively(meta, expected):
    assert [c["id"] for c in offered_choices(meta)] == expected


@pytest.mark.parametrize(("meta", "expected"), [
    ({"bot": BOT}, "Bienvenida"), ({"bot": {"flow": 9}}, "9"), ({"bot": "x"}, None), ({}, None), (None, None),
])
def test_the_bots_name(meta, expected):
    assert bot_name(meta) == expected
