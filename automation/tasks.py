from __future__ import annotations

from django.tasks import task

from automation import actions, rules, schedules, sla


@task(queue_name="messaging")
def send_scheduled_message(scheduled_id: int) -> bool:
    """One scheduled message at its time (idempotent: sends only a due one still waiting, under its row lock)."""
    return actions.do_send_scheduled(scheduled_id)


@task()
def send_due_scheduled_messages() -> int:
    """The safety net of deferred sends: every due scheduled message still waiting (a lost task, a restart)."""
    return actions.do_send_due_scheduled()


@task()
def detect_sla_breaches() -> int:
    """Service levels: breaches and escalates what fell due (every 2 s; idempotent, bounded, see automation.sla)."""
    return sla.do_detect_breaches()


@task(queue_name="messaging")
def run_rules(trigger_id: int) -> int:
    """The automation rules of one stored event, once (automation.rules: claimed by compare-and-set)."""
    return rules.do_process_trigger(trigger_id)


@task()
def run_waiting_rules() -> int:
    """Safety net: stored events whose rules task was lost."""
    return rules.do_process_waiting()


@task()
def prune_rule_runs() -> int:
    return rules.do_prune()


@task()
def start_scheduled_rules() -> int:
    """Rules at a scheduled time: starts the runs whose time came, resumes unfinished ones (every minute)."""
    return schedules.do_start_due()


@task()
def run_schedule_batch(rule_id: int) -> int:
    """The next batch of open conversations for a scheduled rule's run (chained until the last one)."""
    return schedules.do_run_batch(rule_id)


@task()
def run_scheduled_rule(trigger_id: int) -> int:
    """A scheduled rule on one conversation (automation.rules, once), on the default queue: a run over thousands of
    conversations never holds up the messaging queue."""
    return rules.do_process_trigger(trigger_id)
