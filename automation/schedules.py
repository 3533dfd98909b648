"""Rules "at a scheduled time": on the rule's days, at its time (TIME_ZONE), its conditions are checked on every
open conversation and its actions run where they hold — e.g. every weekday at 9:00, a reminder to conversations
waiting for the customer for two days.

How a time becomes runs, without losing, doubling or delaying one:

1. `do_start_due` (periodic, every minute) finds the active rules whose latest time has come and claims it by
   compare-and-set on `schedule_slot`; the claim sets `schedule_cursor` to 0. A time more than GRACE late (the
   worker was down for hours) is skipped, never run late. Saving or switching on a rule marks the time already past
   as done, so a rule saved at 10:05 for 9:00 first runs tomorrow.
2. `do_run_batch` (a task, chained) locks the rule, stores one trigger per open conversation after the cursor that
   the rule's SQL-checkable conditions let through (BATCH at a time, in the rules' outbox: automation.rules
   evaluates each once with all its conditions, frequency, cooldown and loop protection, as for any event), moves
   the cursor (None after the last conversation) and stamps `schedule_progress_at`.
3. A run whose last batch is older than STALLED (its chain was lost in a restart) is resumed by `do_start_due`,
   claimed by compare-and-set on `schedule_progress_at` so one scheduler resumes it; a run still unfinished GRACE
   after its time is abandoned instead, and a trigger evaluated later than that, or for a time the rule has moved
   past, does nothing (automation.rules.do_process_trigger). The cursor only moves forward under the rule's row
   lock, so no conversation is stored twice for one time.

The batches and the evaluation of their triggers run on the default queue, never in the messaging queue's way.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, Final

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from automation import tasks
from automation.choices import RuleEvent, RuleMatch
from automation.models import AutomationRule, RuleTrigger
from core.tasks import enqueue_on_commit
from inbox.choices import OPEN_STATES
from inbox.models import Conversation

BATCH: Final = 200
GRACE: Final = timedelta(hours=1)
STALLED: Final = timedelta(minutes=3)
DAYS_BACK: Final = 8


def _time(schedule: dict[str, Any]) -> time | None:
    try:
        hours, minutes = (int(p) for p in str(schedule.get("time") or "").split(":"))
        return time(hours, minutes)
    except (ValueError, TypeError):
        return None


def _days(schedule: dict[str, Any]) -> set[int]:
    days = schedule.get("days")
    return {d for d in days if isinstance(d, int) and 0 <= d <= 6} if isinstance(days, list) else set()


def _at(day: date, at: time) -> datetime:
    return timezone.make_aware(datetime.combine(day, at), timezone.get_default_timezone())


def _today(now: datetime) -> date:
    return timezone.localtime(now, timezone.get_default_timezone()).date()


def latest_slot(schedule: dict[str, Any], now: datetime) -> datetime | None:
    """The rule's most recent time at or before `now` (None when it has no valid schedule)."""
    at, days = _time(schedule), _days(schedule)
    if at is None or not days:
        return None
    today = _today(now)
    for back in range(DAYS_BACK):
        day = today - timedelta(days=back)
        if day.weekday() in days and _at(day, at) <= now:
            return _at(day, at)
    return None


def next_slot(schedule: dict[str, Any], now: datetime) -> datetime | None:
    """The rule's next time after `now`."""
    at, days = _time(schedule), _days(schedule)
    if at is None or not days:
        return None
    today = _today(now)
    for ahead in range(DAYS_BACK):
        day = today + timedelta(days=ahead)
        if day.weekday() in days and _at(day, at) > now:
            return _at(day, at)
    return None


def next_text(rule: AutomationRule, now: datetime | None = None) -> str:
    """"Próxima: lunes 07/12/2026 09:00" for the rule's card and page ("" for another event or an inactive rule)."""
    if rule.event != RuleEvent.SCHEDULE or not rule.active:
        return ""
    upcoming = next_slot(rule.schedule, now or timezone.now())
    if upcoming is None:
        return ""
    local = timezone.localtime(upcoming, timezone.get_default_timezone())
    return _("Próxima: %(day)s %(when)s") % {"day": date_format(local, "l"),
                                              "when": date_format(local, "SHORT_DATETIME_FORMAT")}


def past_slot_values(event: str, schedule: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """What a saved or switched-on rule records so that a time already past is not run now."""
    if event != RuleEvent.SCHEDULE:
        return {"schedule_slot": None, "schedule_cursor": None}
    return {"schedule_slot": latest_slot(schedule, now or timezone.now()), "schedule_cursor": None}


def is_current(rule: AutomationRule, slot: object, now: datetime) -> bool:
    """Whether a trigger stored for `slot` may still act: the rule's current time, not more than GRACE ago."""
    at = parse_datetime(slot) if isinstance(slot, str) else None
    return at is not None and rule.schedule_slot == at and now - at <= GRACE


def do_start_due(*, now: datetime | None = None) -> int:
    """Claims each active scheduled rule's time that came (periodic, every minute) and starts its run; resumes a
    stalled one, or abandons it when it is too late. Returns how many batch tasks were queued."""
    now = now or timezone.now()
    queued = 0
    for rule in AutomationRule.objects.filter(active=True, event=RuleEvent.SCHEDULE).only(
            "pk", "schedule", "schedule_slot", "schedule_cursor", "schedule_progress_at"):
        mine = AutomationRule.objects.filter(pk=rule.pk, schedule_slot=rule.schedule_slot,
                                             schedule_progress_at=rule.schedule_progress_at)
        slot = latest_slot(rule.schedule, now)
        if slot is not None and (rule.schedule_slot is None or slot > rule.schedule_slot):
            late = now - slot > GRACE
            if not mine.update(schedule_slot=slot, schedule_cursor=None if late else 0, schedule_progress_at=now):
                continue  # another scheduler claimed it
            if late:
                continue  # never hours after its time
        elif rule.schedule_cursor is None or rule.schedule_slot is None:
            continue  # nothing due and nothing unfinished
        elif now - rule.schedule_slot > GRACE:
            mine.update(schedule_cursor=None)  # unfinished and too late: the rest is not looked at this time
            continue
        elif rule.schedule_progress_at is not None and now - rule.schedule_progress_at < STALLED:
            continue  # its chain of batches is on its way
        elif not mine.update(schedule_progress_at=now):
            continue  # another scheduler resumes it
        with transaction.atomic():
            enqueue_on_commit(tasks.run_schedule_batch, rule.pk)
        queued += 1
    return queued


# Conditions the batch can check in SQL, so that only conversations that may match get a trigger (every condition
# is checked again, with the others, when the trigger is evaluated).
def _prefilter(rule: AutomationRule, now: datetime) -> Q:
    if rule.match != RuleMatch.ALL:
        return Q()
    q = Q()
    for condition in rule.conditions:
        field, op, value = condition.get("field"), condition.get("op"), condition.get("value")
        if field in ("state", "channel", "priority") and isinstance(value, list) and op in ("is", "is_not"):
            where = Q(**{f"{field}__in": [str(v) for v in value]})
            q &= where if op == "is" else ~where
        elif field == "idle_hours" and isinstance(value, int) and op in ("at_least", "less_than"):
            since = now - timedelta(hours=value)
            q &= Q(last_activity_at__lte=since) if op == "at_least" else Q(last_activity_at__gt=since)
    return q


def do_run_batch(rule_id: int) -> int:
    """Stores the rules' triggers for the next BATCH open conversations of the rule's run that may match, moves its
    cursor and queues the next batch while there are more. Returns how many conversations it stored."""
    now = timezone.now()
    with transaction.atomic():
        rule = (AutomationRule.objects.select_for_update()
                .filter(pk=rule_id, active=True, event=RuleEvent.SCHEDULE).first())
        if rule is None or rule.schedule_cursor is None or rule.schedule_slot is None:
            return 0
        if now - rule.schedule_slot > GRACE:  # too late to go on
            rule.schedule_cursor = None
            rule.save(update_fields=["schedule_cursor"])
            return 0
        ids = list(Conversation.objects.filter(_prefilter(rule, now), state__in=OPEN_STATES, import_ref="",
                                               pk__gt=rule.schedule_cursor)
                   .order_by("pk").values_list("pk", flat=True)[:BATCH])
        slot = rule.schedule_slot.isoformat()
        triggers = RuleTrigger.objects.bulk_create([
            RuleTrigger(event=RuleEvent.SCHEDULE, payload={"rule_id": rule.pk, "conversation_id": pk, "slot": slot},
                        chain=[]) for pk in ids])
        more = len(ids) == BATCH
        rule.schedule_cursor = ids[-1] if more else None
        rule.schedule_progress_at = now
        rule.save(update_fields=["schedule_cursor", "schedule_progress_at"])
        for trigger in triggers:
            enqueue_on_commit(tasks.run_scheduled_rule, trigger.pk)
        if more:
            enqueue_on_commit(tasks.run_schedule_batch, rule.pk)
    return len(ids)
