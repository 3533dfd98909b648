"""A bot's question with options (inbox.message_choices) leaves as ONE interactive message the Cloud API accepts:
reply buttons up to 3 options, a list from 4 to 10, titles clipped to Meta's limits without breaking a character,
a long question sent first as text. The fake Graph API checks every interactive payload as Meta does (131009)."""

from __future__ import annotations

import unicodedata
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from connectors.whatsapp.models import OutboundSend
from connectors.whatsapp.outbound import _parts, clip, send_outbound
from connectors.whatsapp.tests.helpers import WA_ID, clear_tasks, inbound, post, run_worker
from fakes import whatsapp as fw
from inbox import actions as inbox
from inbox.models import Conversation, Message

pytestmark = pytest.mark.django_db
NOW = timezone.now().replace(microsecond=0)
BOT = {"flow": 7, "name": "Bienvenida", "step": "menu"}


@pytest.fixture(autouse=True)
def _tasks():
    clear_tasks()
    yield
    clear_tasks()


@pytest.fixture
def conversation(client, whatsapp_number, django_capture_on_commit_callbacks):
    """A customer wrote at NOW (their window is open)."""
    with django_capture_on_commit_callbacks(execute=True):
        post(client, whatsapp_number, inbound(whatsapp_number, fw.text_message(
            WA_ID, "Hola", timestamp=int(NOW.timestamp()), wamid="wamid.inbound1")))
    run_worker()
    return Message.objects.get(external_id="wamid.inbound1").conversation


def options(*titles: str) -> list[dict[str, str]]:
    return [{"id": f"op{i}", "title": t, "description": ""} for i, t in enumerate(titles, 1)]


def ask(conversation, opts, *, body="¿En qué te ayudo?", button="Ver opciones"):
    """The bot asks (as bots does: inbox.actions.do_send_automatic on the locked conversation)."""
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False), transaction.atomic():
        c = Conversation.objects.select_for_update().get(pk=conversation.pk)
        return inbox.do_send_automatic(c, body=body, meta={"choices": {"options": opts, "button": button},
                                                           "bot": BOT})


def sent_interactive(fake):
    return [s["payload"] for s in fake.state.sent if s["type"] in ("interactive", "text")]


def test_up_to_three_options_are_reply_buttons_meta_accepts(conversation, fake_whatsapp):
    # given the bot asks with two options
    message = ask(conversation, [{"id": "pedido", "title": "Estado de mi pedido", "description": ""},
                                 {"id": "humano", "title": "Hablar con alguien", "description": ""}])
    # when the worker sends it
    assert send_outbound(message.pk) == "sent"
    # then Meta got one interactive reply-buttons message, exactly the contract's shape, and took it
    (payload,) = sent_interactive(fake_whatsapp)
    assert payload == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_ID, "type": "interactive",
        "interactive": {"type": "button", "body": {"text": "¿En qué te ayudo?"}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": "pedido", "title": "Estado de mi pedido"}},
            {"type": "reply", "reply": {"id": "humano", "title": "Hablar con alguien"}}]}},
        "biz_opaque_callback_data": f"centralita:{message.pk}"}
    message.refresh_from_db()
    assert message.delivery_status == "sent" and message.external_id == fake_whatsapp.state.sent[-1]["wamid"]


def test_four_to_ten_options_are_a_list_with_the_bots_button_label(conversation, fake_whatsapp):
    # given the bot offers ten options, one with a description and one too long for a row title
    opts = options("Pedidos", "Envíos", "Pagos", "Devoluciones", "Garantías", "Facturas", "Tiendas", "Horarios",
                   "Promociones vigentes del mes de diciembre", "Otra consulta")
    opts[1]["description"] = "Tiempos y costos de envío a todo el país"
    message = ask(conversation, opts, button="Ver todas las opciones del menú")
    # when it is sent
    assert send_outbound(message.pk) == "sent"
    # then it is one list: the label and titles fit Meta's limits, a clipped title is whole in its description
    (payload,) = sent_interactive(fake_whatsapp)
    content = payload["interactive"]
    assert content["type"] == "list" and content["body"] == {"text": "¿En qué te ayudo?"}
    assert content["action"]["button"] == "Ver todas las opcio…"
    (section,) = content["action"]["sections"]
    assert section["title"] == "Ver todas las opcio…"
    rows = section["rows"]
    assert [r["id"] for r in rows] == [f"op{i}" for i in range(1, 11)]
    assert rows[0] == {"id": "op1", "title": "Pedidos"}
    assert rows[1]["description"] == "Tiempos y costos de envío a todo el país"
    assert rows[8] == {"id": "op9", "title": "Promociones vigentes de…",
                       "description": "Promociones vigentes del mes de diciembre"}
    assert fw.check_interactive(content) is None


def test_a_payload_meta_refuses_fails_the_message_with_metas_reason(conversation, fake_whatsapp, monkeypatch):
    # given Meta's button titles were shorter than ours (the fake's limit lowered to 5)
    monkeypatch.setitem(fw.INTERACTIVE_LIMITS, "button_title", 5)
    message = ask(conversation, options("Estado de mi pedido", "No"))
    # when it is sent, Meta refuses it: the message fails at once with Meta's reason, nothing is retried
    assert send_outbound(message.pk) == "failed"
    message.refresh_from_db()
    assert message.delivery_status == "failed" and "131009" in message.delivery_error
    assert not fake_whatsapp.state.sent


def test_a_list_without_a_label_uses_ours(conversation, fake_whatsapp):
    message = ask(conversation, options("Uno", "Dos", "Tres", "Cuatro"), button="")
    assert send_outbound(message.pk) == "sent"
    assert sent_interactive(fake_whatsapp)[0]["interactive"]["action"]["button"] == "Ver opciones"


def test_long_button_titles_are_clipped_and_repeated_ones_become_a_list(conversation, fake_whatsapp):
    # given three options whose first 20 characters differ, then three that only differ after them
    first = ask(conversation, options("Quiero cambiar la dirección de entrega", "Sí", "No"))
    assert send_outbound(first.pk) == "sent"
    buttons = sent_interactive(fake_whatsapp)[-1]["interactive"]["action"]["buttons"]
    assert [b["reply"]["title"] for b in buttons] == ["Quiero cambiar la d…", "Sí", "No"]
    second = ask(conversation, options("Estado de mi pedido 1042", "Estado de mi pedido 1043", "Otro"))
    # when they are sent
    assert send_outbound(second.pk) == "sent"
    # then Meta would refuse two equal button titles, so they go as a list, whose longer rows tell them apart
    content = sent_interactive(fake_whatsapp)[-1]["interactive"]
    assert content["type"] == "list"
    assert content["action"]["sections"][0]["rows"] == [
        {"id": "op1", "title": "Estado de mi pedido 1042"}, {"id": "op2", "title": "Estado de mi pedido 1043"},
        {"id": "op3", "title": "Otro"}]


def test_a_question_longer_than_the_interactive_body_is_not_cut(conversation, fake_whatsapp):
    # given a question whose explanation makes it longer than 1024 characters, ending in its own paragraph
    explanation = "Te cuento cómo funcionan nuestros envíos. " * 30
    message = ask(conversation, options("Sí", "No"), body=f"{explanation.strip()}\n\n¿Quieres que te lo enviemos?")
    # when it is sent
    assert send_outbound(message.pk) == "sent"
    # then the explanation goes first as text and the question with its buttons right after, nothing lost
    text, buttons = sent_interactive(fake_whatsapp)
    assert text["type"] == "text" and text["text"]["body"] == explanation.strip()
    assert buttons["interactive"]["body"]["text"] == "¿Quieres que te lo enviemos?"
    message.refresh_from_db()
    assert message.delivery_status == "sent"
    assert OutboundSend.objects.get(message=message).wamids == [s["wamid"] for s in fake_whatsapp.state.sent[-2:]]


def test_one_long_paragraph_goes_whole_and_the_buttons_say_choose(conversation, fake_whatsapp):
    body = "Elige " + "muy " * 300 + "bien."
    message = ask(conversation, options("Sí", "No"), body=body)
    assert send_outbound(message.pk) == "sent"
    text, buttons = sent_interactive(fake_whatsapp)
    assert text["text"]["body"] == body
    assert buttons["interactive"]["body"]["text"] == "Elige una opción:"


def test_an_answer_without_options_is_still_plain_text(conversation, fake_whatsapp):
    with transaction.atomic():
        c = Conversation.objects.select_for_update().get(pk=conversation.pk)
        message = inbox.do_send_automatic(c, body="Gracias por escribirnos.", meta={"bot": BOT,
                                                                                 "choices": {"options": []}})
    assert send_outbound(message.pk) == "sent"
    (payload,) = sent_interactive(fake_whatsapp)
    assert payload["type"] == "text" and payload["text"]["body"] == "Gracias por escribirnos."


def test_a_file_goes_first_and_the_question_stays_with_its_buttons():
    # given a question that also carries a picture (by link)
    m = Message(body="¿Te gusta este modelo?", meta={"choices": {"options": options("Sí", "No")}},
                attachments=[{"url": "https://cdn.example/zapato.png", "content_type": "image/png",
                              "name": "zapato.png"}])
    # then the picture has no caption and the question is the buttons' body
    image, question = _parts(m)
    assert image.payload == {"type": "image", "image": {"link": "https://cdn.example/zapato.png"}}
    assert question.payload["interactive"]["body"]["text"] == "¿Te gusta este modelo?"


def test_malformed_options_are_dropped_not_sent():
    m = Message(body="¿Cuál?", meta={"choices": {"options": [
        {"id": "a", "title": "Primera"}, {"id": "a", "title": "Repetida"}, {"id": "", "title": "Sin id"},
        {"id": "b", "title": "   "}, "texto", {"id": 3, "title": "Tres"}]}})
    (question,) = _parts(m)
    assert [b["reply"] for b in question.payload["interactive"]["action"]["buttons"]] == [
        {"id": "a", "title": "Primera"}, {"id": "3", "title": "Tres"}]


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("Hablar con alguien", 20, "Hablar con alguien"),
    ("Quiero hablar con una persona", 20, "Quiero hablar con u…"),
    ("Envío   exprés\n24 h", 20, "Envío exprés 24 h"),
    # an accent written as two code points stays one letter (NFC), never a bare "e" plus a lost mark
    ("Cafe\u0301 y te\u0301 de la casa", 10, "Café y té…"),
    # emoji outside the BMP count as two units; a family emoji (joined by ZWJ) is kept whole or dropped whole
    ("🚚🚚🚚🚚🚚🚚🚚🚚🚚🚚🚚", 20, "🚚🚚🚚🚚🚚🚚🚚🚚🚚…"),
    ("Familia 👨\u200d👩\u200d👧 feliz", 12, "Familia…"),
    ("Envíos a 🇨🇴🇲🇽🇦🇷🇨🇱", 16, "Envíos a 🇨🇴…"),
    ("👍🏽👍🏽👍🏽", 7, "👍🏽…"),
])
def test_clip_cuts_between_whole_characters(text, limit, expected):
    clipped = clip(text, limit)
    assert clipped == expected
    assert len(clipped.encode("utf-16-le")) // 2 <= limit
    assert unicodedata.is_normalized("NFC", clipped)


# --- the customer presses a button: Meta's webhook, through the fake, into the inbox -------------------------------


@pytest.mark.parametrize(("count", "kind"), [(2, "button_reply"), (5, "list_reply")])
def test_the_customer_presses_what_the_bot_offered(conversation, fake_whatsapp, whatsapp_number, client,
                                                   django_capture_on_commit_callbacks, count, kind):
    # given the bot asked and Meta took the interactive message
    opts = options(*[f"Opción {n}" for n in range(1, count + 1)])
    opts[-1]["description"] = "La última"
    question = ask(conversation, opts)
    assert send_outbound(question.pk) == "sent"
    question.refresh_from_db()
    # when the customer presses the last option (the fake builds Meta's webhook item for what it sent them)
    with time_machine.travel(NOW + timedelta(minutes=2)):
        item, _number_id = fake_whatsapp.state.chosen_reply(WA_ID, f"op{count}")
        with django_capture_on_commit_callbacks(execute=True):
            assert post(client, whatsapp_number, inbound(whatsapp_number, item)).status_code == 200
        run_worker()
    # then the inbox has the answer with the option's id, pointing at the question
    answer = Message.objects.filter(kind="inbound").latest("id")
    assert answer.conversation_id == conversation.pk
    assert answer.meta["reply"]["kind"] == kind and answer.meta["reply"]["id"] == f"op{count}"
    assert answer.meta["reply"]["title"] == f"Opción {count}"
    assert answer.meta["context"]["id"] == question.external_id
    assert answer.body.startswith(f"Opción {count}")


def test_the_fake_customer_cannot_press_what_was_not_offered(conversation, fake_whatsapp):
    with pytest.raises(LookupError):
        fake_whatsapp.state.chosen_reply(WA_ID, "pedido")  # nothing interactive was sent yet
    assert send_outbound(ask(conversation, options("Sí", "No")).pk) == "sent"
    with pytest.raises(LookupError):
        fake_whatsapp.state.chosen_reply(WA_ID, "op9")
