"""Issue 18, what a second reader found: odd input never crashes the bot or the API, a refused turn fails the run
with a note instead of losing the message, answers are read as Latin Americans write them, and the bot steps
aside when a conversation is resolved."""

from __future__ import annotations

import pytest
from django.test import TestCase

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from bots.choices import RunState
from bots.engine import Inbound, _compare, match_choice, parse_answer
from bots.runtime import _public_ip, summary
from bots.spec import clean_graph, problems
from bots.tests.helpers import bot_said, global_inbox, notes, published, run_of, write
from core.errors import ActionError
from inbox import actions as inbox

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("text,value", [
    ("1.234.567", "1234567"), ("$50.000", "50000"), ("12,5", "12.5"), ("es el pedido #123", "123"),
    ("1 234", "1234"), ("P-000042", "000042"), ("-3", "-3"),
])
def test_numbers_as_written_in_latin_america(text: str, value: str) -> None:
    assert parse_answer("number", text) == str(__import__("decimal").Decimal(value))


def test_a_phone_is_the_first_phone_shaped_run_of_digits() -> None:
    assert parse_answer("phone", "llámame al 300 123 4567 después de las 5") == "3001234567"
    assert parse_answer("phone", "+57 (300) 123-4567") == "+573001234567"
    assert parse_answer("phone", "a las 5") is None


def test_choices_match_whole_words_only() -> None:
    choices = [{"id": "si", "title": "Sí"}, {"id": "no", "title": "No"},
               {"id": "humano", "title": "Hablar con alguien"}, {"id": "pedido", "title": "Estado de mi pedido"}]
    assert match_choice(choices, Inbound("bueno")) is None
    assert match_choice(choices, Inbound("ninguno")) is None
    assert match_choice(choices, Inbound("con")) is None
    assert match_choice(choices, Inbound("pedido")) == "pedido"
    assert match_choice(choices, Inbound("NO")) == "no"
    assert match_choice(choices, Inbound("4")) == "pedido"
    assert match_choice(choices, Inbound("9" * 5000)) is None


def test_not_a_number_is_never_compared() -> None:
    assert _compare("nan", "gt", "1") is False
    assert _compare("Infinity", "lt", "1") is False
    assert _compare("12", "gt", "3") is True


def test_a_pressed_button_that_reads_like_a_keyword_is_an_answer() -> None:
    graph = {"start": "q", "steps": {
        "q": {"type": "ask", "text": "¿Qué tipo de cliente es?", "input": "choice",
              "choices": [{"id": "nat", "title": "Persona natural"}, {"id": "emp", "title": "Empresa"}],
              "next": {"nat": "ok", "emp": "ok"}},
        "ok": {"type": "end", "text": "Anotado."}}}
    published(graph, inbox_code=global_inbox().code)
    write("hola", phone="3005554001")
    c = write("Persona natural", phone="3005554001", reply_id="nat")
    assert bot_said(c)[-1] == "Anotado." and run_of(c).state == RunState.COMPLETED


@pytest.mark.parametrize("graph", [
    {"steps": {"a": {"type": []}}}, {"steps": {"a": {"type": {"x": 1}}}}, {"steps": []}, [],
    {"start": ["a"], "steps": {}}, {"steps": {"a": {"type": "ask", "text": "x", "input": "choice", "choices": "no"}}},
    {"steps": {"a": {"type": "http", "url": "https://{{var.host}}/x"}}},
    {"steps": {"a": {"type": "http", "url": "https://api.example.com/x", "body": "[" * 1500}}},
])
def test_malformed_graphs_are_refused_with_a_sentence(graph: object) -> None:
    with pytest.raises(ActionError) as refused:
        clean_graph(graph)
    assert refused.value.code == "invalid_flow" and refused.value.message


def test_a_loop_that_never_stops_for_the_customer_blocks_publishing() -> None:
    graph = clean_graph({"start": "a", "steps": {
        "a": {"type": "send", "text": "uno", "next": {"next": "b"}},
        "b": {"type": "send", "text": "dos", "next": {"next": "a"}},
        "h": {"type": "handoff"}}})
    blocking = [p for p in problems(graph) if p.blocking]
    assert {p.step for p in blocking} == {"a", "b"}


def test_the_handoff_note_fits_the_note_limit(settings) -> None:
    note = summary("Flujo", {f"v{i}": "x" * 500 for i in range(40)}, ["y" * 1000] * 8, "respuestas no reconocidas")
    assert len(note) <= settings.NOTE_MAX_LENGTH and note.startswith("El bot «Flujo» deriva")


@pytest.mark.parametrize("address,public", [
    ("8.8.8.8", True), ("127.0.0.1", False), ("10.1.2.3", False), ("169.254.169.254", False),
    ("64:ff9b::a9fe:a9fe", False), ("2002:a9fe:a9fe::1", False), ("::ffff:127.0.0.1", False), ("::127.0.0.1", False),
    ("2001:4860:4860::8888", True),
])
def test_only_public_addresses_are_called(address: str, public: bool) -> None:
    assert _public_ip(address) is public


def test_a_refused_turn_fails_the_run_with_a_note_and_keeps_the_message() -> None:
    # Given a flow whose answer, once filled, is longer than the web chat takes (2000 characters)
    graph = {"start": "q", "steps": {
        "q": {"type": "ask", "text": "Cuéntenos", "input": "text", "var": "a", "next": {"next": "echo"}},
        "echo": {"type": "end", "text": "{{var.a}} {{var.a}} {{var.a}} {{var.a}} {{var.a}}"}}}
    published(graph, inbox_code=global_inbox().code)
    write("hola", phone="3005554002")
    # When the customer answers with 500 characters
    c = write("x" * 500, phone="3005554002")
    # Then nothing of the turn is sent, the run failed, and a note tells the agents why
    assert bot_said(c) == ["Cuéntenos"]
    run = run_of(c)
    assert run.state == RunState.FAILED and run.last_message_id > 0
    assert notes(c)[-1].startswith("El bot «Pedidos» no pudo continuar: ")


def test_resolving_the_conversation_ends_the_bot() -> None:
    published(inbox_code=global_inbox().code)
    c = write("hola", phone="3005554003")
    supervisor = UserFactory(role=Role.SUPERVISOR)
    with TestCase.captureOnCommitCallbacks(execute=True):
        inbox.check_close_conversation(supervisor, c.pk, reason="customer_confirmed",
                                       comment="Lo atendimos por teléfono")
    assert run_of(c).state == RunState.STOPPED
