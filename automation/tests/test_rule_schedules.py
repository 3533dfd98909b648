"""Issue 16: rules "at a scheduled time" — on the rule's days at its time, its conditions are checked on every open
conversation (e.g. a reminder to customers who have not answered in 48 hours); each time runs once, a time missed
by hours is skipped rather than run late, and an interrupted run resumes where it stopped. Time is frozen with
time-machine; tasks run through the test backend's queue."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.tasks import default_task_backend
from django.test import TestCase
from django.urls import reverse

from automation import schedules
from automation.models import AutomationRule, AutomationRun, RuleTrigger
from automation.rule_spec import schedule_text
from automation.rules import RuleInput, check_save_rule, check_set_rule_active
from connectors.mail.tests.helpers import run_queued
from core.errors import ActionError
from inbox import actions as inbox
from inbox.models import Conversation

pytestmark = pytest.mark.django_db
BOGOTA = ZoneInfo("America/Bogota")
MONDAY_8 = datetime(2026, 12, 7, 8, 0, tzinfo=BOGOTA)  # a Monday
_phones = count(1)


def conversation(name: str, *, state: str, idle_hours: float) -> Conversation:
    """An open web chat conversation in `state`, whose last activity was `idle_hours` before now."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        c, _m, _new = inbox.do_receive_inbound(channel="webchat", body="Hola", customer_name=name,
                                               phones=[f"302{next(_phones):07d}"])
    from django.utils import timezone

    Conversation.objects.filter(pk=c.pk).update(
        state=state, last_activity_at=timezone.now() - timedelta(hours=idle_hours))
    default_task_backend.clear()
    return c


def reminder(supervisor, **kwargs) -> AutomationRule:
    data = {"name": "Recordatorio", "event": "schedule", "active": True,
            "schedule": {"days": [0, 1, 2, 3, 4], "time": "09:00"},
            "conditions": [{"field": "state", "op": "is", "value": ["en_espera"]},
                           {"field": "idle_hours", "op": "at_least", "value": 48}],
            "actions": [{"type": "add_tag", "tag": "recordatorio"},
                        {"type": "add_note", "body": "Se envió el recordatorio de 48 horas."}], **kwargs}
    return check_save_rule(supervisor, RuleInput(**data))


def tags(c: Conversation) -> list[str]:
    return list(c.tags.values_list("name", flat=True))


def start_due() -> int:
    """The periodic sweep, committed (the batch task it queues is sent after commit)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return schedules.do_start_due()


def run_the_worker() -> None:
    run_queued("run_schedule_batch", "run_scheduled_rule", rounds=20)


def test_at_its_time_the_rule_acts_on_the_open_conversations_that_match_once(supervisor):
    with time_machine.travel(MONDAY_8, tick=False) as clock:
        # given a customer silent for 50 hours, one who wrote 2 hours ago, and a new conversation silent for days
        silent = conversation("Ana Silenciosa", state="en_espera", idle_hours=50)
        recent = conversation("Luis Reciente", state="en_espera", idle_hours=2)
        new = conversation("Eva Nueva", state="nueva", idle_hours=72)
        # and a weekday 9:00 reminder
        rule = reminder(supervisor)
        assert schedule_text(rule.schedule) == "De lunes a viernes a las 09:00"
        # when the sweep runs before 9:00, nothing starts
        assert start_due() == 0
        # when it runs at 9:00 and the worker takes the batch and the rules
        clock.move_to(MONDAY_8 + timedelta(hours=1, seconds=20))
        assert start_due() == 1
        run_the_worker()
        # then only the conversation silent for 48 hours or more got the rule's actions, with a line in its history
        assert tags(silent) == ["recordatorio"] and tags(recent) == [] and tags(new) == []
        assert AutomationRun.objects.filter(rule=rule, conversation=silent, outcome="applied").count() == 1
        assert silent.messages.filter(kind="note", body="Se envió el recordatorio de 48 horas.").exists()
        # and only the conversations its state and idle-hours conditions let through were stored, once
        assert RuleTrigger.objects.filter(event="schedule").count() == 1
        # when the sweep runs again in the same hour, nothing is started again
        clock.move_to(MONDAY_8 + timedelta(hours=1, minutes=1))
        assert start_due() == 0
        run_the_worker()
        assert RuleTrigger.objects.filter(event="schedule").count() == 1
        # when Tuesday 9:00 comes, the rule looks again (its frequency, every time, lets it act again)
        clock.move_to(MONDAY_8 + timedelta(days=1, hours=1))
        assert start_due() == 1
        run_the_worker()
        assert AutomationRun.objects.filter(rule=rule, conversation=silent, outcome="applied").count() == 2


def test_a_rule_saved_or_switched_on_after_its_time_waits_for_the_next_one(supervisor):
    with time_machine.travel(MONDAY_8 + timedelta(hours=2, minutes=5), tick=False) as clock:
        conversation("Ana Silenciosa", state="en_espera", idle_hours=50)
        # given a 9:00 rule saved at 10:05
        rule = reminder(supervisor)
        # then it does not run for today's 9:00
        assert start_due() == 0
        # and switched off and on again, neither
        check_set_rule_active(supervisor, rule.pk, active=False)
        check_set_rule_active(supervisor, rule.pk, active=True)
        assert start_due() == 0
        # the page says when it runs next, and tomorrow at 9:00 it runs
        assert schedules.next_text(AutomationRule.objects.get(pk=rule.pk)) == "Próxima: martes 08/12/2026 09:00"
        clock.move_to(MONDAY_8 + timedelta(days=1, hours=1))
        assert start_due() == 1


def test_a_time_missed_by_more_than_an_hour_is_skipped_not_run_late(supervisor):
    with time_machine.travel(MONDAY_8, tick=False) as clock:
        silent = conversation("Ana Silenciosa", state="en_espera", idle_hours=50)
        reminder(supervisor)
        # when the workers were down from 8:00 to 11:30 (the 9:00 time passed unseen)
        clock.move_to(MONDAY_8 + timedelta(hours=3, minutes=30))
        # then the late sweep does not send reminders at 11:30
        assert start_due() == 0
        run_the_worker()
        assert tags(silent) == []
        # and the next day at 9:00 runs as usual
        clock.move_to(MONDAY_8 + timedelta(days=1, hours=1))
        assert start_due() == 1
        run_the_worker()
        assert tags(silent) == ["recordatorio"]


def test_a_run_interrupted_between_batches_resumes_without_repeating_anyone(supervisor, monkeypatch):
    monkeypatch.setattr(schedules, "BATCH", 2)
    with time_machine.travel(MONDAY_8, tick=False) as clock:
        silent = [conversation(f"Cliente {n}", state="en_espera", idle_hours=60) for n in range(5)]
        rule = reminder(supervisor, frequency="every_time")
        clock.move_to(MONDAY_8 + timedelta(hours=1))
        assert start_due() == 1
        # when the worker stores the first batch and dies before the next (its queued tasks are lost)
        default_task_backend.clear()
        with TestCase.captureOnCommitCallbacks(execute=True):
            assert schedules.do_run_batch(rule.pk) == 2
        default_task_backend.clear()
        # then a sweep right after leaves the run alone (its batches could still be on their way)…
        clock.move_to(MONDAY_8 + timedelta(hours=1, minutes=1))
        assert start_due() == 0
        # …and once it has stalled for minutes, the next sweep resumes it where it stopped
        clock.move_to(MONDAY_8 + timedelta(hours=1, minutes=4))
        assert start_due() == 1
        run_the_worker()
        # (the triggers whose task was lost are evaluated by the rules' own sweep, 30 s later)
        clock.move_to(MONDAY_8 + timedelta(hours=1, minutes=5))
        with TestCase.captureOnCommitCallbacks(execute=True):
            from automation.rules import do_process_waiting

            do_process_waiting()
        # and every conversation was looked at and acted on exactly once
        per_conversation = [RuleTrigger.objects.filter(event="schedule", payload__conversation_id=c.pk).count()
                            for c in silent]
        assert per_conversation == [1, 1, 1, 1, 1]
        assert [AutomationRun.objects.filter(rule=rule, conversation=c).count() for c in silent] == [1, 1, 1, 1, 1]
        assert AutomationRule.objects.get(pk=rule.pk).schedule_cursor is None


@pytest.mark.parametrize(("schedule", "message"), [
    ({}, "Elija al menos un día de la semana."),
    ({"days": [7], "time": "09:00"}, "Elija al menos un día de la semana."),
    ({"days": [0], "time": "25:00"}, "Indique la hora como HH:MM"),
    ({"days": [0], "time": "9"}, "Indique la hora como HH:MM"),
])
def test_a_schedule_needs_days_and_a_time(supervisor, schedule, message):
    with pytest.raises(ActionError, match=message):
        reminder(supervisor, schedule=schedule)


def test_other_events_keep_no_schedule_and_idle_hours_are_checked(supervisor):
    r = check_save_rule(supervisor, RuleInput(name="X", event="message.received", schedule={"days": [0]},
                                              actions=[{"type": "add_tag", "tag": "x"}]))
    assert r.schedule == {}
    for bad in (0, "0", "abc", 10**6, True):
        with pytest.raises(ActionError, match="número entero de horas"):
            reminder(supervisor, conditions=[{"field": "idle_hours", "op": "at_least", "value": bad}])
    assert reminder(supervisor, conditions=[{"field": "idle_hours", "op": "less_than", "value": "24"}]).conditions == [
        {"field": "idle_hours", "op": "less_than", "value": 24}]


def test_the_editor_and_the_api_set_days_and_time(supervisor, client_for, api_client_for):
    with time_machine.travel(MONDAY_8, tick=False):
        client = client_for(supervisor)
        # when a supervisor saves a rule at a scheduled time from the editor
        response = client.post(reverse("automation:rule_create"), {
            "name": "Recordatorio semanal", "event": "schedule", "schedule_days": ["0", "3"],
            "schedule_time": "18:30", "match": "all", "frequency": "every_time", "active": "on",
            "c-0-field": "idle_hours", "c-0-op": "at_least", "c-0-value": "72",
            "a-0-type": "add_tag", "a-0-value": "seguimiento"})
        assert response.status_code == 302
        rule = AutomationRule.objects.get(name="Recordatorio semanal")
        assert rule.schedule == {"days": [0, 3], "time": "18:30"}
        # then the editor shows the next time and the list the days, the time and the condition in words
        page = client.get(reverse("automation:rule_edit", args=[rule.pk])).content.decode()
        assert "Próxima: lunes 07/12/2026 18:30" in page
        listing = client.get(reverse("automation:rules")).content.decode()
        assert "Lunes y jueves a las 18:30" in listing and "Sin actividad hace al menos 72 horas" in listing
        # and the API takes and shows the same
        api = api_client_for(supervisor)
        created = api.post("/api/v1/automation-rules", {
            "name": "Cierre del día", "event": "schedule", "active": True,
            "schedule": {"days": [0, 1, 2, 3, 4, 5, 6], "time": "19:00"},
            "actions": [{"type": "add_tag", "tag": "fin-del-dia"}]}, content_type="application/json")
        assert created.status_code == 201
        assert created.json()["schedule"] == {"days": [0, 1, 2, 3, 4, 5, 6], "time": "19:00"}
        assert created.json()["next_run_at"].startswith("2026-12-08T00:00:00")  # 19:00 in Bogotá, in UTC
        missing = api.post("/api/v1/automation-rules", {
            "name": "Sin horario", "event": "schedule", "actions": [{"type": "add_tag", "tag": "x"}]},
            content_type="application/json")
        assert missing.status_code == 400 and missing.json()["code"] == "invalid_schedule"


def test_a_run_or_a_trigger_that_comes_too_late_does_nothing(supervisor, monkeypatch):
    monkeypatch.setattr(schedules, "BATCH", 2)
    with time_machine.travel(MONDAY_8, tick=False) as clock:
        silent = [conversation(f"Cliente {n}", state="en_espera", idle_hours=60) for n in range(3)]
        rule = reminder(supervisor)
        clock.move_to(MONDAY_8 + timedelta(hours=1))
        assert start_due() == 1
        # given the 9:00 run stored its first batch and the worker died with everything queued
        with TestCase.captureOnCommitCallbacks(execute=True):
            assert schedules.do_run_batch(rule.pk) == 2
        default_task_backend.clear()
        # when the worker is back at 10:30, more than an hour after the time
        clock.move_to(MONDAY_8 + timedelta(hours=2, minutes=30))
        # then the run is abandoned, not resumed…
        assert start_due() == 0
        assert AutomationRule.objects.get(pk=rule.pk).schedule_cursor is None
        # …and the triggers stored at 9:00 are evaluated without acting: nobody gets a 9:00 reminder at 10:30
        with TestCase.captureOnCommitCallbacks(execute=True):
            from automation.rules import do_process_waiting

            do_process_waiting()
        assert not RuleTrigger.objects.filter(event="schedule", processed_at__isnull=True).exists()
        assert not AutomationRun.objects.filter(rule=rule).exists()
        assert [tags(c) for c in silent] == [[], [], []]


def test_two_rules_at_the_same_time_each_run_once_and_only_their_own_actions(supervisor):
    with time_machine.travel(MONDAY_8, tick=False) as clock:
        c = conversation("Ana Silenciosa", state="en_espera", idle_hours=50)
        first = reminder(supervisor, name="Primera", actions=[{"type": "add_tag", "tag": "primera"}])
        second = reminder(supervisor, name="Segunda", conditions=[],
                          actions=[{"type": "add_tag", "tag": "segunda"}])
        clock.move_to(MONDAY_8 + timedelta(hours=1))
        assert start_due() == 2
        run_the_worker()
        assert sorted(tags(c)) == ["primera", "segunda"]
        assert AutomationRun.objects.filter(rule=first).count() == 1
        assert AutomationRun.objects.filter(rule=second).count() == 1


def test_editing_a_rule_during_its_run_lets_the_run_go_on(supervisor, monkeypatch):
    monkeypatch.setattr(schedules, "BATCH", 1)
    with time_machine.travel(MONDAY_8, tick=False) as clock:
        [conversation(f"Cliente {n}", state="en_espera", idle_hours=60) for n in range(2)]
        rule = reminder(supervisor)
        clock.move_to(MONDAY_8 + timedelta(hours=1))
        start_due()
        with TestCase.captureOnCommitCallbacks(execute=True):
            schedules.do_run_batch(rule.pk)
        # when a supervisor adds Saturday while the 9:00 run is under way (its latest time is still today 9:00)
        check_save_rule(supervisor, RuleInput(
            name="Recordatorio", event="schedule", active=True, schedule={"days": [0, 1, 2, 3, 4, 5], "time": "09:00"},
            conditions=rule.conditions, actions=rule.actions), rule_id=rule.pk)
        # then the run keeps its place
        assert AutomationRule.objects.get(pk=rule.pk).schedule_cursor is not None


def test_idle_hours_round_trip_through_the_api_and_odd_digits_are_refused(supervisor, api_client_for):
    api = api_client_for(supervisor)
    body = {"name": "Recordatorio", "event": "schedule", "schedule": {"days": [0], "time": "09:00"},
            "conditions": [{"field": "idle_hours", "op": "at_least", "value": 48}],
            "actions": [{"type": "add_tag", "tag": "x"}]}
    created = api.post("/api/v1/automation-rules", body, content_type="application/json")
    assert created.status_code == 201
    rule = created.json()
    # what GET returns can be PUT back as it is
    again = api.put(f"/api/v1/automation-rules/{rule['id']}", {
        k: rule[k] for k in ("name", "event", "schedule", "conditions", "actions")}, content_type="application/json")
    assert again.status_code == 200 and again.json()["conditions"] == [
        {"field": "idle_hours", "op": "at_least", "value": 48}]
    for odd in ("²", "9" * 5000, "-3", "4.5"):
        refused = api.post("/api/v1/automation-rules", {
            **body, "conditions": [{"field": "idle_hours", "op": "at_least", "value": odd[:300]}]},
            content_type="application/json")
        assert refused.status_code == 400, odd


def test_the_editor_says_what_is_wrong_with_the_days_or_the_time(supervisor, client_for):
    response = client_for(supervisor).post(reverse("automation:rule_create"), {
        "name": "Mal horario", "event": "schedule", "schedule_days": ["9"], "schedule_time": "09:00:00",
        "match": "all", "frequency": "every_time", "a-0-type": "add_tag", "a-0-value": "x"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Escoja una opción válida" in page or "Seleccione una opción válida" in page
    assert "5 caracteres" in page


def test_the_suggested_reminder_is_a_valid_rule():
    import importlib

    from automation.rule_spec import clean_rule_parts, clean_schedule

    preset = importlib.import_module("automation.migrations.0009_schedule_preset").PRESET
    conditions, actions = clean_rule_parts(preset["conditions"], preset["actions"])
    assert conditions == preset["conditions"] and actions[0]["template"] == "recordatorio_conversacion"
    assert clean_schedule(preset["schedule"], "schedule") == {"days": [0, 1, 2, 3, 4], "time": "10:00"}
