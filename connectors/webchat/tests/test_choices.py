"""A bot's question with options (inbox.message_choices) reaches the visitor's widget with its options, and pressing
one stores the visitor's answer with the option's id (`meta["reply"]`, as WhatsApp's button replies), never an id
the question did not offer."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import transaction

from connectors.webchat import actions
from connectors.webchat.tests.factories import VisitorFactory
from connectors.webchat.tests.test_consumer import subscribed
from connectors.webchat.tests.test_delivery import listen, received
from inbox.actions import check_send_reply, do_send_automatic
from inbox.models import Conversation, Message
from inbox.tasks import deliver_outbound

pytestmark = pytest.mark.django_db
BOT = {"flow": 3, "name": "Bienvenida", "step": "menu"}
OPTIONS = [{"id": "pedido", "title": "Estado de mi pedido", "description": "Con tu número de pedido"},
           {"id": "humano", "title": "Hablar con alguien", "description": ""}]


def bot_asks(conversation_id: int, options: list[dict[str, Any]] = OPTIONS, body: str = "¿En qué te ayudo?") -> Message:
    """The bot's question, as bots writes it (inbox.actions.do_send_automatic on the locked conversation)."""
    with transaction.atomic():
        c = Conversation.objects.select_for_update().get(pk=conversation_id)
        return do_send_automatic(c, body=body, meta={"choices": {"options": options, "button": "Ver opciones"},
                                                     "bot": BOT})


@pytest.fixture
def asked(widget, online_agent):
    """A visitor wrote and the bot asked with two options."""
    widget.join()
    assert widget.post("messages", {"content": "Hola", "echo_id": "hola"}).status_code == 201
    return bot_asks(Conversation.objects.get().pk)


def test_the_widget_gets_the_questions_options(widget, asked, online_agent):
    # when the widget loads its history
    messages = widget.get("messages").json()["messages"]
    # then the bot's question carries its options (id, title, description); other messages carry none
    hola, question = messages
    assert question["id"] == asked.pk and question["content"] == "¿En qué te ayudo?"
    assert question["choices"] == OPTIONS
    assert hola["choices"] == []
    check_send_reply(online_agent, asked.conversation_id, body="Hola, soy Valeria.")
    assert widget.get("messages").json()["messages"][-1]["choices"] == []


def test_the_question_is_pushed_live_with_its_options(site, visitor, online_agent,
                                                      django_capture_on_commit_callbacks):
    # given a visitor who wrote, with the widget's socket listening
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_visitor_message(site, visitor, content="Hola", echo_id="first")
    visitor.refresh_from_db()
    channel = listen(visitor)
    # when the bot asks and the delivery task runs
    with django_capture_on_commit_callbacks(execute=True):
        question = bot_asks(visitor.conversation_id)
    with django_capture_on_commit_callbacks(execute=True):
        deliver_outbound.call(question.pk)
    # then the socket gets message.created with the options
    (event,) = received(channel)
    assert event["event"] == "message.created" and event["data"]["choices"] == OPTIONS


def test_pressing_an_option_sends_its_title_with_its_id(widget, asked):
    # when the visitor presses "Hablar con alguien" (the widget sends the title and the option)
    response = widget.post("messages", {"content": "Hablar con alguien", "echo_id": "boton-1",
                                        "reply": {"id": "humano", "message_id": asked.pk}})
    # then the answer is stored like a WhatsApp button reply, so the bot can match it by id
    assert response.status_code == 201 and response.json()["content"] == "Hablar con alguien"
    answer = Message.objects.get(pk=response.json()["id"])
    assert answer.body == "Hablar con alguien"
    assert answer.meta["reply"] == {"kind": "button_reply", "id": "humano", "title": "Hablar con alguien",
                                    "description": ""}
    assert answer.meta["webchat"]["echo_id"] == "boton-1"


@pytest.mark.parametrize("reply", [
    {"id": "reembolso", "message_id": None},  # an id the question never offered
    {"id": "humano", "message_id": 0},  # a message that does not exist
    {"id": "humano", "message_id": "1"},  # not a number
    {"id": ["humano"], "message_id": None},
    "humano",
])
def test_a_made_up_option_is_stored_as_plain_text(widget, asked, reply):
    if isinstance(reply, dict) and reply["message_id"] is None:
        reply = {**reply, "message_id": asked.pk}
    response = widget.post("messages", {"content": "Hablar con alguien", "echo_id": "raro", "reply": reply})
    assert response.status_code == 201
    answer = Message.objects.get(pk=response.json()["id"])
    assert answer.body == "Hablar con alguien" and "reply" not in answer.meta


def test_another_visitors_question_cannot_be_answered(widget, asked, site, online_agent):
    # given another visitor of the site, in a conversation of their own
    other = VisitorFactory(site=site, name="Otro")
    actions.check_visitor_message(site, other, content="Hola", echo_id="otro")
    # when they send an option of Lucía's question
    widget.use(other)
    response = widget.post("messages", {"content": "Hablar con alguien", "echo_id": "ajeno",
                                        "reply": {"id": "humano", "message_id": asked.pk}})
    # then it is their plain text, not an answer to a question they were never asked
    answer = Message.objects.get(pk=response.json()["id"])
    assert answer.conversation_id != asked.conversation_id and "reply" not in answer.meta


@pytest.mark.django_db(transaction=True)
def test_pressing_an_option_over_the_socket(site, visitor, online_agent):
    # given a visitor who wrote and a bot question in their conversation
    actions.check_visitor_message(site, visitor, content="Hola", echo_id="first")
    visitor.refresh_from_db()
    question = bot_asks(visitor.conversation_id)

    # when the widget sends the pressed option over its socket
    async def scenario() -> dict[str, Any]:
        ws = await subscribed(site, visitor)
        await ws.send_json_to({"action": "send", "content": "Estado de mi pedido", "echo_id": "boton-ws",
                               "reply": {"id": "pedido", "message_id": question.pk}})
        echo = await ws.receive_json_from(timeout=3)
        await ws.disconnect()
        return echo

    echo = async_to_sync(scenario)()
    # then it is stored with the option (title and description the bot wrote)
    assert echo["event"] == "message.created" and echo["data"]["echo_id"] == "boton-ws"
    answer = Message.objects.get(pk=echo["data"]["id"])
    assert answer.meta["reply"] == {"kind": "button_reply", "id": "pedido", "title": "Estado de mi pedido",
                                    "description": "Con tu número de pedido"}
