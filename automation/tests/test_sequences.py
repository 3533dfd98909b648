"""Issue 16: sequences — messages at D+1, D+3, D+7 started by a rule's action, sent once each by the scheduled
messages' worker, stopped when the customer replies or the conversation is resolved (their waiting messages
cancelled in that same transaction), completed when the last one went out. Time is frozen, never waited for."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import TestCase
from django.urls import reverse

from automation.actions import check_cancel_scheduled, do_send_due_scheduled
from automation.choices import ScheduledState
from automation.models import AutomationRun, ScheduledMessage, Sequence, SequenceEnrollment
from automation.rules import RuleInput, check_save_rule
from automation.sequences import SequenceInput, check_save_sequence, check_stop_enrollment
from automation.tests.test_rules import automatic, sentences, write
from core.errors import ActionError
from core.models import EventLog
from customers.actions import apply_tags
from inbox import actions as inbox
from inbox.choices import CloseReason

pytestmark = pytest.mark.django_db
BOGOTA = ZoneInfo("America/Bogota")
STEPS = [{"delay_minutes": 1440, "body": "Hola {{cliente.primer_nombre}}, ¿le llegó su pedido?"},
         {"delay_minutes": 3 * 1440, "body": "¿Pudo probarlo?"},
         {"delay_minutes": 7 * 1440, "body": "¿Nos recomendaría?"}]


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BOGOTA)


@pytest.fixture
def follow_up(supervisor) -> Sequence:
    """A post-sale sequence started when a person tags the customer «compro» (seed 001: a predefined call note's tag
    starts a sequenced send)."""
    sequence = check_save_sequence(supervisor, SequenceInput(name="Posventa", steps=STEPS))
    check_save_rule(supervisor, RuleInput(name="Compró", event="customer.tagged", active=True, conditions=[
        {"field": "customer_tag", "op": "has", "value": ["compro"]}],
        actions=[{"type": "start_sequence", "sequence": sequence.pk}]))
    return sequence


def tag(c, name: str = "compro") -> None:
    from connectors.mail.tests.helpers import run_queued

    with TestCase.captureOnCommitCallbacks(execute=True):
        apply_tags(c.customer, [name])
    run_queued("run_rules")


def send_due(at: datetime) -> int:
    with time_machine.travel(at, tick=False), TestCase.captureOnCommitCallbacks(execute=True):
        return do_send_due_scheduled()


def test_a_sequence_sends_its_messages_at_their_days_and_completes(follow_up):
    with time_machine.travel(local(2026, 12, 1, 10, 0), tick=False):
        c = write(body="Gracias por el pedido", name="Rosa Díaz")
        tag(c)
    # then its three messages are scheduled at D+1, D+3 and D+7, rendered for the customer
    steps = list(ScheduledMessage.objects.filter(conversation=c).order_by("send_at"))
    assert [(s.send_at, s.step, s.author_id) for s in steps] == [
        (local(2026, 12, 2, 10, 0), 1, None), (local(2026, 12, 4, 10, 0), 2, None),
        (local(2026, 12, 8, 10, 0), 3, None)]
    assert steps[0].body == "Hola Rosa, ¿le llegó su pedido?"
    enrollment = SequenceEnrollment.objects.get()
    assert enrollment.state == "activa"
    assert "La regla «Compró» inició la secuencia «Posventa» (3 mensajes programados)" in sentences(c)
    # when each day comes, each goes out once (the sweep runs again and sends nothing twice)
    assert send_due(local(2026, 12, 2, 10, 1)) == 1
    assert send_due(local(2026, 12, 2, 10, 2)) == 0
    assert send_due(local(2026, 12, 4, 10, 1)) == 1
    assert send_due(local(2026, 12, 8, 10, 1)) == 1
    assert automatic(c) == ["Hola Rosa, ¿le llegó su pedido?", "¿Pudo probarlo?", "¿Nos recomendaría?"]
    enrollment.refresh_from_db()
    assert enrollment.state == "completada"
    assert "La secuencia «Posventa» terminó: se enviaron sus mensajes" in sentences(c)
    assert EventLog.objects.filter(type="sequence.ended", payload__state="completada").count() == 1


def test_the_customers_reply_stops_it(follow_up):
    with time_machine.travel(local(2026, 12, 1, 10, 0), tick=False):
        c = write(body="Gracias", name="Rosa Díaz", phone="3018880001")
        tag(c)
    send_due(local(2026, 12, 2, 10, 1))
    # when the customer replies on day 2
    with time_machine.travel(local(2026, 12, 2, 15, 0), tick=False):
        write(body="Sí, llegó bien", name="Rosa Díaz", phone="3018880001")
    # then nothing else is sent: the waiting messages were cancelled with the reply
    assert send_due(local(2026, 12, 9, 10, 0)) == 0
    assert automatic(c) == ["Hola Rosa, ¿le llegó su pedido?"]
    assert list(ScheduledMessage.objects.filter(conversation=c).order_by("send_at").values_list(
        "state", flat=True)) == ["enviado", "cancelado", "cancelado"]
    enrollment = SequenceEnrollment.objects.get()
    assert (enrollment.state, enrollment.reason) == ("detenida", "customer_replied")
    assert "La secuencia «Posventa» se detuvo: el cliente respondió" in sentences(c)


def test_resolving_stops_it_unless_the_sequence_says_otherwise(follow_up, supervisor):
    c = write(body="Gracias", name="Rosa Díaz", phone="3018880002")
    tag(c)
    inbox.check_close_conversation(supervisor, c.pk, reason=CloseReason.CUSTOMER_CONFIRMED,
                                   comment="El cliente confirmó que no necesita nada más.")
    assert SequenceEnrollment.objects.get().reason == "resolved"
    assert not ScheduledMessage.objects.filter(conversation=c, state=ScheduledState.SCHEDULED).exists()
    # given a sequence that goes on after the resolution, then it keeps its messages
    check_save_sequence(supervisor, SequenceInput(name="Posventa", steps=STEPS, stop_on_close=False),
                        sequence_id=follow_up.pk)
    other = write(body="Hola", name="Luis Mora", phone="3018880003")
    tag(other)
    inbox.check_close_conversation(supervisor, other.pk, reason=CloseReason.CUSTOMER_CONFIRMED,
                                   comment="El cliente confirmó que no necesita nada más.")
    assert ScheduledMessage.objects.filter(conversation=other, state=ScheduledState.SCHEDULED).count() == 3


def test_started_once_per_conversation_and_stopped_by_hand(follow_up, supervisor, agent):
    c = write(body="Gracias", name="Rosa Díaz", phone="3018880004")
    tag(c)
    tag(c, "COMPRO")  # already tagged: no new tag, no second start
    c.customer.tags.clear()
    tag(c)  # tagged again: the rule runs, the sequence is already on its way
    assert SequenceEnrollment.objects.count() == 1
    skipped = AutomationRun.objects.order_by("-pk").first()
    assert skipped.outcome == "skipped" and "ya está en la secuencia «Posventa»" in skipped.actions[0]["detail"]["es"]
    enrollment = SequenceEnrollment.objects.get()
    with pytest.raises(ActionError):
        check_stop_enrollment(agent, enrollment.pk)
    check_stop_enrollment(supervisor, enrollment.pk)
    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.reason) == ("detenida", "stopped")
    assert f"{supervisor.display_name} detuvo la secuencia «Posventa»" in sentences(c)
    assert not ScheduledMessage.objects.filter(conversation=c, state=ScheduledState.SCHEDULED).exists()


def test_cancelling_the_last_waiting_message_ends_it(follow_up, supervisor):
    c = write(body="Gracias", name="Rosa Díaz", phone="3018880005")
    tag(c)
    for scheduled in ScheduledMessage.objects.filter(conversation=c):
        check_cancel_scheduled(supervisor, scheduled.pk)
    assert SequenceEnrollment.objects.get().reason == "steps_cancelled"


def test_steps_must_grow_and_have_content(supervisor):
    for steps in ([], [{"delay_minutes": 1440, "body": ""}],
                  [{"delay_minutes": 1440, "body": "a"}, {"delay_minutes": 60, "body": "b"}],
                  [{"delay_minutes": 0, "body": "a"}], [{"delay_minutes": "1", "body": "a"}]):
        with pytest.raises(ActionError):
            check_save_sequence(supervisor, SequenceInput(name="Mala", steps=steps))
    assert not Sequence.objects.exists()


def test_sequence_api_and_pages(supervisor, agent, api_client_for, client_for):
    api = api_client_for(supervisor)
    created = api.post("/api/v1/sequences", {"name": "Reactivación", "steps": [
        {"delay_minutes": 1440, "body": "¡Lo extrañamos!"}, {"delay_minutes": 7200, "body": "Tenemos novedades",
                                                            "template": "seguimiento_pedido",
                                                            "variables": {"1": "{{cliente.primer_nombre}}"}}]},
                       content_type="application/json")
    assert created.status_code == 201, created.content
    sequence_id = created.json()["id"]
    assert created.json()["steps"][1]["template"] == "seguimiento_pedido"
    assert api.get(f"/api/v1/sequences/{sequence_id}/enrollments").json() == []
    assert api_client_for(agent).get("/api/v1/sequences").status_code == 403
    bad = api.put(f"/api/v1/sequences/{sequence_id}", {"name": "x", "steps": [
        {"delay_minutes": 100, "body": "a"}, {"delay_minutes": 50, "body": "b"}]}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_steps"
    # the editor: rows in days and hours, saved as minutes
    browser = client_for(supervisor)
    response = browser.post(reverse("automation:sequence_edit", args=[sequence_id]), {
        "name": "Reactivación", "stop_on_reply": "on", "active": "on",
        "s-0-amount": "2", "s-0-unit": "horas", "s-0-text": "Primero",
        "s-7-amount": "3", "s-7-unit": "dias", "s-7-text": "Después"})
    assert response.status_code == 302
    sequence = Sequence.objects.get(pk=sequence_id)
    assert [s["delay_minutes"] for s in sequence.steps] == [120, 4320] and not sequence.stop_on_close
    page = browser.get(reverse("automation:sequences")).content.decode()
    assert "Reactivación" in page and "2 horas: Primero" in page
    assert api.delete(f"/api/v1/sequences/{sequence_id}").status_code == 204


def test_a_reply_in_another_conversation_of_the_customer_stops_it(follow_up):
    # given a sequence running on the customer's web chat conversation
    c = write(body="Gracias", name="Rosa Díaz", phone="3018880006")
    tag(c)
    # when the same customer writes through another channel (a new conversation)
    other = write(channel="api", body="Ya me llegó, gracias", name="Rosa Díaz", phone="3018880006")
    assert other.pk != c.pk and other.customer_id == c.customer_id
    # then the sequence stopped, and its messages will not go out
    assert SequenceEnrollment.objects.get().reason == "customer_replied"
    assert not ScheduledMessage.objects.filter(conversation=c, state=ScheduledState.SCHEDULED).exists()


def test_a_merge_takes_the_running_sequence_along(follow_up, supervisor):
    from inbox.actions import check_merge_conversations
    from inbox.models import Conversation

    # given two web chat conversations of one customer (a duplicate), the sequence running on the newer one
    first = write(body="Hola", name="Rosa Díaz", phone="3018880007")
    duplicate = write(body="¿Me ayudan?", name="Rosa Díaz", phone="3018880007")
    if duplicate.pk == first.pk:  # the intake continued the same conversation: make the duplicate by hand
        duplicate = Conversation.objects.create(customer=first.customer, inbox=first.inbox, channel=first.channel)
        Conversation.objects.filter(pk=duplicate.pk).update(last_activity_at=first.last_activity_at)
    tag(first)
    running = SequenceEnrollment.objects.get(state="activa")
    gone = Conversation.objects.get(pk=running.conversation_id)
    kept = duplicate if gone.pk == first.pk else first
    # when a supervisor merges it into the other one
    check_merge_conversations(supervisor, keep_id=kept.pk, merge_id=gone.pk)
    # then the sequence and its waiting messages went along
    running.refresh_from_db()
    assert running.conversation_id == kept.pk
    assert ScheduledMessage.objects.filter(conversation=kept, state=ScheduledState.SCHEDULED).count() == 3
