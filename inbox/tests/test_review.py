from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from accounts.roles import Role
from core.models import AuditLog
from customers.models import Customer
from inbox import actions
from inbox.models import ClosureReview, Conversation, ConversationEvent, Inbox, Message
from inbox.review import Flag, closure_review_rows, last_complete_week, parse_week

pytestmark = pytest.mark.django_db
BOGOTA = ZoneInfo("America/Bogota")
WEEK = date(2026, 11, 16)  # 2026-W47, Monday
LONG = "Contexto: el cliente pidió la factura; se envió por correo y confirmó recibido."


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=BOGOTA)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(at(25, 10), tick=False):  # Wednesday of 2026-W48
        yield


def conversation(created_at: datetime, name: str = "Ana Peña") -> Conversation:
    inbox, _ = Inbox.objects.get_or_create(code="global", defaults={"name": "Global", "is_global": True,
                                                                   "auto_assign": False})
    return Conversation.objects.create(customer=Customer.objects.create(name=name), channel="whatsapp", inbox=inbox,
                                       created_at=created_at, last_activity_at=created_at)


def reply(c: Conversation, when: datetime, cycle: int = 1) -> None:
    Message.objects.create(conversation=c, cycle=cycle, kind="outbound", body="Listo, ya quedó.", created_at=when)


def close(c: Conversation, when: datetime, *, actor=None, cycle: int = 1, reason: str = "answered",
          comment: str = "") -> ConversationEvent:
    return ConversationEvent.objects.create(conversation=c, cycle=cycle, kind="state", actor=actor, comment=comment,
                                            data={"from": "pendiente", "to": "resuelta", "reason": reason},
                                            created_at=when)


def reopen(c: Conversation, when: datetime, *, cycle: int) -> None:
    ConversationEvent.objects.create(conversation=c, cycle=cycle, kind="state",
                                     data={"from": "resuelta", "to": "pendiente", "reason": "customer_wrote_again"},
                                     created_at=when)


def clean_closure(day: int = 17, name: str = "Ana Peña", **kwargs) -> Conversation:
    """Answered after 10 minutes, closed after 20, never reopened: nothing to flag."""
    c = conversation(at(day, 9), name=name)
    reply(c, at(day, 9, 10))
    close(c, at(day, 9, 20), **kwargs)
    return c


def flags_of(rows, c: Conversation, cycle: int = 1) -> tuple[str, ...]:
    return next(r.flags for r in rows if r.conversation.pk == c.pk and r.cycle == cycle)


# --- the selector: one test per flag ----------------------------------------------------------------------


def test_a_clean_closure_has_no_flags_and_is_hidden_when_only_suspicious(agent):
    # given an answered conversation closed 20 minutes after it started
    c = clean_closure(actor=agent)
    # when the week is reviewed
    rows = closure_review_rows(WEEK, only_suspicious=False)
    # then it is listed with its agent and reason, without flags, and the suspicious filter hides it
    assert [(r.conversation.pk, r.cycle, r.flags, r.agent, r.reason) for r in rows] == [
        (c.pk, 1, (), agent, "answered")]
    assert closure_review_rows(WEEK, only_suspicious=True) == []


def test_flag_closed_without_an_outbound_message_in_the_cycle():
    # given a conversation answered in its first cycle only, and closed again in its second without a reply
    c = conversation(at(16, 8))
    reply(c, at(16, 8, 5))
    close(c, at(16, 8, 10), reason="answered")
    reopen(c, at(17, 12), cycle=2)
    Message.objects.create(conversation=c, cycle=2, kind="note", body="nota", created_at=at(17, 12, 1))
    close(c, at(17, 12, 30), cycle=2, reason="derived_documented", comment=LONG)
    # when
    rows = closure_review_rows(WEEK, only_suspicious=False)
    # then only the second cycle lacks an answer (a note is not an answer)
    assert Flag.NO_REPLY not in flags_of(rows, c, 1)
    assert Flag.NO_REPLY in flags_of(rows, c, 2)


@pytest.mark.parametrize(("reason", "comment", "flagged"), [
    ("derived_documented", "", True),
    ("customer_confirmed", "   ", True),
    ("customer_confirmed", "Confirmó por teléfono que ya recibió el pedido.", False),
    ("answered", "", False),
    ("task_created", "", False),
])
def test_flag_missing_comment_when_the_reason_requires_one(reason, comment, flagged):
    # given a closure with `reason` and `comment`
    c = clean_closure(reason=reason, comment=comment)
    # when / then
    assert (Flag.NO_COMMENT in flags_of(closure_review_rows(WEEK, only_suspicious=False), c)) is flagged


@pytest.mark.parametrize("kind", ["transferred", "escalated", "handled_outside", "moved"])
def test_flag_a_handoff_without_comment_in_the_closed_cycle(kind):
    # given two closed conversations: one had a hand-off without comment, the other one with a comment
    bare, documented = clean_closure(name="Ana"), clean_closure(name="Beto")
    ConversationEvent.objects.create(conversation=bare, cycle=1, kind=kind, comment="", created_at=at(17, 9, 15))
    ConversationEvent.objects.create(conversation=documented, cycle=1, kind=kind, comment=LONG,
                                     created_at=at(17, 9, 15))
    # when
    rows = closure_review_rows(WEEK, only_suspicious=False)
    # then only the undocumented hand-off is flagged
    assert flags_of(rows, bare) == (Flag.HANDOFF_NO_COMMENT,)
    assert flags_of(rows, documented) == ()


def test_a_handoff_without_comment_in_another_cycle_does_not_flag_this_one():
    c = conversation(at(10, 8))
    ConversationEvent.objects.create(conversation=c, cycle=1, kind="transferred", comment="", created_at=at(10, 9))
    reopen(c, at(17, 9), cycle=2)
    reply(c, at(17, 9, 5), cycle=2)
    close(c, at(17, 9, 20), cycle=2)
    assert flags_of(closure_review_rows(WEEK, only_suspicious=False), c, 2) == ()


def test_flag_resolved_in_under_a_minute_counts_from_creation_or_reopening():
    # given cycle 1 closed 59 s after the conversation was created, and cycle 2 closed 60 s after its reopening
    c = conversation(at(16, 9))
    reply(c, at(16, 9, 0, 30))
    close(c, at(16, 9, 0, 59))
    reopen(c, at(18, 9), cycle=2)  # more than 24 h later: not a quick reopening
    reply(c, at(18, 9, 0, 30), cycle=2)
    close(c, at(18, 9, 1, 0), cycle=2)
    # and another conversation created long ago whose second cycle was closed 20 s after reopening
    old = conversation(at(1, 9), name="Beto")
    reopen(old, at(19, 9), cycle=2)
    reply(old, at(19, 9, 0, 10), cycle=2)
    close(old, at(19, 9, 0, 20), cycle=2)
    # when
    rows = closure_review_rows(WEEK, only_suspicious=False)
    # then the fast closures are flagged, measured from the start of their own cycle
    assert flags_of(rows, c, 1) == (Flag.FAST,)
    assert flags_of(rows, c, 2) == ()
    assert flags_of(rows, old, 2) == (Flag.FAST,)


def test_flag_reopened_within_24_hours_even_after_the_week_ends():
    # given one closure reopened 24 h later (Sunday night → Monday night, in the next week), one 25 h later
    quick = clean_closure(day=22, name="Ana")
    reopen(quick, at(22, 9, 20) + timedelta(hours=24), cycle=2)
    slow = clean_closure(day=18, name="Beto")
    reopen(slow, at(18, 9, 20) + timedelta(hours=25), cycle=2)
    # when
    rows = closure_review_rows(WEEK, only_suspicious=False)
    # then
    assert flags_of(rows, quick) == (Flag.REOPENED,)
    assert flags_of(rows, slow) == ()
    assert next(r for r in rows if r.conversation == quick).reopened_at == at(23, 9, 20)


def test_week_bounds_are_monday_to_sunday_in_local_time():
    # given closures just before, at, and just after the week in Bogotá time (UTC−5)
    before, first, last, after = (conversation(at(d, 0), name=n) for d, n in
                                  [(10, "A"), (16, "B"), (22, "C"), (23, "D")])
    close(before, at(15, 23, 59, 59))
    close(first, at(16, 0, 0, 0))
    close(last, at(22, 23, 59, 59))
    close(after, at(23, 0, 0, 0))
    # when
    rows = closure_review_rows(WEEK, only_suspicious=False)
    # then only the closures from Monday 00:00 to Sunday 23:59:59 count
    assert {r.conversation.pk for r in rows} == {first.pk, last.pk}


def test_suspicious_rows_come_first_then_the_rest_with_existing_verdicts(supervisor):
    # given a clean closure on Monday and a suspicious one on Friday, the clean one already reviewed
    fine = clean_closure(day=16, name="Ana")
    ClosureReview.objects.create(conversation=fine, cycle=1, reviewer=supervisor, verdict="correcto")
    bad = conversation(at(20, 9), name="Beto")
    close(bad, at(20, 9, 0, 10), reason="customer_confirmed")
    # when
    rows = closure_review_rows(WEEK, only_suspicious=False)
    # then
    assert [r.conversation.pk for r in rows] == [bad.pk, fine.pk]
    assert rows[0].flags == (Flag.NO_REPLY, Flag.NO_COMMENT, Flag.FAST)
    assert rows[1].review is not None and rows[1].review.verdict == "correcto" and rows[0].review is None


def test_query_count_does_not_grow_with_the_rows(django_assert_num_queries, agent):
    def build(n: int, offset: int) -> None:
        for i in range(n):
            c = clean_closure(day=17, name=f"Cliente {offset + i}", actor=agent)
            reopen(c, at(17, 10), cycle=2)
            close(c, at(17, 10, 30), cycle=2, actor=agent)
            ConversationEvent.objects.create(conversation=c, cycle=2, kind="transferred", comment="",
                                             created_at=at(17, 10, 10))

    # given 3 conversations (6 closed cycles)
    build(3, 0)
    with django_assert_num_queries(4):
        assert len(closure_review_rows(WEEK, only_suspicious=False)) == 6
    # when there are 8 times as many
    build(21, 3)
    # then the same number of queries reads them all
    with django_assert_num_queries(4):
        rows = closure_review_rows(WEEK, only_suspicious=False)
        assert len(rows) == 48
        assert {r.agent.username for r in rows} == {agent.username}
        assert {r.conversation.customer.name for r in rows} >= {"Cliente 0", "Cliente 23"}


def test_real_actions_produce_the_events_the_review_reads(supervisor):
    # given a conversation answered and closed by the supervisor, the customer writing again 2 hours later, and
    # the second cycle closed 30 s after the reopening with a documented derivation (no reply)
    with time_machine.travel(at(17, 9), tick=False):
        c, _message, _ = actions.do_receive_inbound(channel="whatsapp", body="Hola", customer_name="Ana",
                                                    phones=["3001234567"])
    with time_machine.travel(at(17, 9, 5), tick=False):
        actions.check_send_reply(supervisor, c.pk, body="¡Hola! ¿En qué le ayudo?")
    with time_machine.travel(at(17, 9, 10), tick=False):
        actions.check_close_conversation(supervisor, c.pk, reason="answered")
    with time_machine.travel(at(17, 11, 10), tick=False):
        actions.do_receive_inbound(channel="whatsapp", body="Otra cosa", customer_name="Ana", phones=["3001234567"])
    with time_machine.travel(at(17, 11, 10, 30), tick=False):
        actions.check_close_conversation(supervisor, c.pk, reason="derived_documented", comment=LONG)
    # when
    rows = closure_review_rows(WEEK, only_suspicious=False)
    # then
    assert [(r.cycle, r.flags, r.agent) for r in rows] == [
        (1, (Flag.REOPENED,), supervisor), (2, (Flag.NO_REPLY, Flag.FAST), supervisor)]
    assert rows[1].comment == LONG and rows[1].started_at == at(17, 11, 10)


# --- weeks ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-W47", date(2026, 11, 16)), ("2026-W01", date(2025, 12, 29)), ("2026-W53", date(2026, 12, 28)),
    ("2025-W53", None), ("2026-47", None), ("", None), ("2026-W00", None), (" 2026-W7 ", date(2026, 2, 9)),
])
def test_parse_week(value, expected):
    assert parse_week(value) == expected


@pytest.mark.parametrize(("today", "monday"), [
    (date(2026, 11, 23), date(2026, 11, 16)),  # Monday: last week is complete
    (date(2026, 11, 29), date(2026, 11, 16)),  # Sunday: this week is not complete yet
])
def test_last_complete_week(today, monday):
    assert last_complete_week(today) == monday


# --- pages ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [(Role.SUPERVISOR, 200), (Role.ADMIN, 200), (Role.AGENTE, 403),
                                              (Role.GERENTE, 403)])
def test_review_page_access(role, status, make_user, client_for):
    assert client_for(make_user(role)).get(reverse("inbox:review")).status_code == status


def test_review_page_defaults_to_last_complete_week_and_suspicious_only(supervisor, client_for):
    # given (today is Wednesday of W48) a clean and a suspicious closure in W47, and one in W48
    fine = clean_closure(day=17, name="Ana")
    bad = conversation(at(18, 9), name="Beto")
    close(bad, at(18, 9, 5), reason="answered")
    this_week = conversation(at(23, 9), name="Carla")
    close(this_week, at(23, 9, 5))
    client = client_for(supervisor)
    # when the page opens without parameters
    response = client.get(reverse("inbox:review"))
    # then W47 is shown, suspicious only
    assert response.context["week"] == "2026-W47" and response.context["only_suspicious"] is True
    assert [r.conversation for r in response.context["rows"]] == [bad]
    assert "Cerrada sin ninguna respuesta al cliente" in response.content.decode()
    # and unticking "solo sospechosas" shows every closure; another week shows its own
    everything = client.get(reverse("inbox:review"), {"week": "2026-W47", "f": "1"})
    assert [r.conversation for r in everything.context["rows"]] == [bad, fine]
    w48 = client.get(reverse("inbox:review"), {"week": "2026-W48", "f": "1"})
    assert [r.conversation for r in w48.context["rows"]] == [this_week]


def test_review_page_with_an_invalid_week_falls_back_with_a_message(supervisor, client_for):
    response = client_for(supervisor).get(reverse("inbox:review"), {"week": "semana-47"})
    assert response.status_code == 200 and response.context["week"] == "2026-W47"
    assert "Semana inválida" in response.content.decode()


def test_verdict_correct_is_saved_with_history_and_audit(supervisor, client_for):
    # given a closed cycle
    c = clean_closure()
    back = reverse("inbox:review") + "?week=2026-W47&f=1"
    # when the supervisor marks it correct
    response = client_for(supervisor).post(reverse("inbox:review_verdict"), {
        "conversation_id": c.pk, "cycle": 1, "verdict": "correcto", "feedback": "", "back": back})
    # then the review exists, it is in the timeline and the audit log, and the page comes back to the row
    assert response.status_code == 302 and response["Location"] == f"{back}#r-{c.pk}-1"
    review = ClosureReview.objects.get(conversation=c, cycle=1)
    assert (review.verdict, review.reviewer) == ("correcto", supervisor)
    assert ConversationEvent.objects.filter(conversation=c, kind="reviewed").exists()
    assert AuditLog.objects.filter(action="conversation.closure_reviewed", target_id=str(c.pk)).exists()


def test_verdict_incorrect_requires_feedback(supervisor, client_for):
    # given a closed cycle
    c = clean_closure()
    client = client_for(supervisor)
    url = reverse("inbox:review_verdict")
    # when it is marked incorrect without feedback
    response = client.post(url, {"conversation_id": c.pk, "cycle": 1, "verdict": "incorrecto", "feedback": "  "},
                           follow=True)
    # then nothing is saved and the supervisor is told why
    assert not ClosureReview.objects.exists()
    assert "Explique al agente por qué el cierre es incorrecto" in response.content.decode()
    # when feedback is given, the verdict replaces nothing and is saved with it
    client.post(url, {"conversation_id": c.pk, "cycle": 1, "verdict": "incorrecto",
                      "feedback": "No respondiste la pregunta del precio."})
    review = ClosureReview.objects.get(conversation=c, cycle=1)
    assert (review.verdict, review.feedback) == ("incorrecto", "No respondiste la pregunta del precio.")


@pytest.mark.parametrize("data", [{"verdict": "quizas"}, {"verdict": ""}, {"cycle": "x"}])
def test_verdict_form_rejects_invalid_input(data, supervisor, client_for):
    c = clean_closure()
    response = client_for(supervisor).post(reverse("inbox:review_verdict"), {
        "conversation_id": c.pk, "cycle": 1, "verdict": "correcto", **data}, follow=True)
    assert response.status_code == 200 and not ClosureReview.objects.exists()
    assert "Elija el veredicto" in response.content.decode()


def test_verdict_back_link_never_leaves_the_review_page(supervisor, client_for):
    c = clean_closure()
    response = client_for(supervisor).post(reverse("inbox:review_verdict"), {
        "conversation_id": c.pk, "cycle": 1, "verdict": "correcto", "back": "https://evil.example/"})
    assert response["Location"] == f"{reverse('inbox:review')}#r-{c.pk}-1"


def test_agents_cannot_post_verdicts(agent, client_for):
    c = clean_closure()
    response = client_for(agent).post(reverse("inbox:review_verdict"), {
        "conversation_id": c.pk, "cycle": 1, "verdict": "correcto"})
    assert response.status_code == 403 and not ClosureReview.objects.exists()


def test_calls_closed_by_their_note_are_not_reviewed(agent):
    # given a call worked on the call screen during the week (its note closes the phone conversation at once,
    # with no written reply)
    from leads import actions as leads
    from leads.tests.factories import LeadFactory

    lead = LeadFactory()
    with time_machine.travel(at(18, 9), tick=False):
        leads.check_add_note(agent, lead.pk, text="No contestó", outcome="no_clasificado")
    assert Conversation.objects.filter(channel="phone", state="resuelta").count() == 1
    # then the weekly review does not list it (it would be flagged "no reply" and "too fast" every time)
    assert closure_review_rows(WEEK, only_suspicious=False) == []
