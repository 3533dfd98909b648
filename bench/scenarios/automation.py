"""Scheduled messages under load (issue 16, "Measured"): SCHEDULED messages due in the same minute, sent by the scale
mode's workers while one of them is killed and restarted — none lost, none doubled.

Runs on the `tests.scaleout.cluster.Cluster` of the scale-out scenarios (bench.scenarios.scaleout: 2 web processes,
2 `manage.py run_worker` workers with RQ's scheduler for deferred tasks, 1 `run_scheduler`, a fresh PostgreSQL
database, its own Redis), so PostgreSQL only.

* `automation.scheduled_burst` — one `manage.py shell` in the cluster's environment writes SCHEDULED conversations
  (channel `api`: no outside service), each with a message scheduled for the same instant T0 (about a minute
  ahead), and queues each one's deferred task (`automation.tasks.send_scheduled_message`, run_after T0) as the
  screen does; the periodic sweep (every 30 s) is the safety net. KILL_AFTER seconds after T0 worker 0 is killed
  with SIGKILL; the harness restarts it RESTART_SEC (3 s) later. Samples: per message, the seconds from T0 to its
  `Message.created_at` (the send). Checked after the run: every scheduled message `enviado` (0 lost), exactly one
  message per scheduled id (0 doubled), none `fallido`.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.harness import Sample, Samples, Scenario

SCHEDULED = 10_000
LEAD_SECONDS = 75.0  # T0's distance from the start of the data load (it must all be queued before T0)
KILL_AFTER = 2.0
DEADLINE = 900.0
POLL_EVERY = 0.5

_state: dict[str, Any] = {}

# Runs inside the cluster (`manage.py shell -c`): the data and the deferred tasks, as the screen writes them.
LOAD = """
from datetime import datetime
from django.db import transaction
from django.utils import timezone
from accounts.models import User
from automation import tasks
from automation.models import ScheduledMessage
from core.tasks import enqueue_later
from customers.models import Customer
from inbox.actions.intake import _global_inbox
from inbox.models import Conversation

n, t0 = int("__N__"), datetime.fromisoformat("__T0__")
agent, _ = User.objects.get_or_create(username="bench-sched", defaults={"role": "supervisor", "full_name": "Bench"})
inbox = _global_inbox()
tag = f"sched{timezone.now().timestamp():.0f}"
with transaction.atomic():
    customers = Customer.objects.bulk_create(
        [Customer(name=f"Cliente {tag} {i}", search_name=f"cliente {tag} {i}") for i in range(n)], batch_size=2000)
    conversations = Conversation.objects.bulk_create(
        [Conversation(customer=c, inbox=inbox, channel="api", assignee=agent) for c in customers], batch_size=2000)
    scheduled = ScheduledMessage.objects.bulk_create(
        [ScheduledMessage(conversation=c, author=agent, body=f"Recordatorio {i}", send_at=t0)
         for i, c in enumerate(conversations)], batch_size=2000)
for s in scheduled:
    enqueue_later(tasks.send_scheduled_message, t0, s.pk)
print(min(s.pk for s in scheduled), max(s.pk for s in scheduled))
"""


def _log(message: str) -> None:
    print(f"[automation] {message}", file=sys.stderr, flush=True)


def setup(size: int) -> None:
    from bench.scenarios.scaleout import _cluster

    _cluster()


def run_burst(n: int) -> list[Sample]:
    """`n` is ignored: the issue's figure is SCHEDULED messages in one minute."""
    from bench.scenarios.scaleout import _cluster, _query

    cluster = _cluster()
    loading = time.time()
    t0_epoch = loading + LEAD_SECONDS
    t0 = datetime.fromtimestamp(round(t0_epoch), tz=UTC)
    code = LOAD.replace("__N__", str(SCHEDULED)).replace("__T0__", t0.isoformat())
    out = cluster._run_once("bench-scheduled-load", [sys.executable, "manage.py", "shell", "-c", code])
    low, high = (int(x) for x in out.split()[-2:])
    loaded = time.time() - loading
    _log(f"{SCHEDULED} scheduled for {t0:%H:%M:%S} UTC and their deferred tasks queued in {loaded:.1f} s; "
         f"load {os.getloadavg()}")
    if time.time() > t0.timestamp():
        raise RuntimeError(f"the load took {loaded:.0f} s, past T0: raise LEAD_SECONDS")
    time.sleep(max(0.0, t0.timestamp() + KILL_AFTER - time.time()))  # the kill's moment, not a measurement
    cluster.kill_worker(0)
    killed_at = time.time() - t0.timestamp()
    deadline = time.monotonic() + DEADLINE
    sent = 0
    while time.monotonic() < deadline:
        sent = int(_query("SELECT count(*) FROM automation_scheduledmessage WHERE id BETWEEN %s AND %s "
                          "AND state = 'enviado'", (low, high))[0][0])
        if sent == SCHEDULED:
            break
        time.sleep(POLL_EVERY)
    states = dict(_query("SELECT state, count(*) FROM automation_scheduledmessage WHERE id BETWEEN %s AND %s "
                         "GROUP BY state", (low, high)))
    doubled = int(_query(
        "SELECT count(*) FROM (SELECT meta->>'scheduled_message_id' AS sid FROM inbox_message "
        "WHERE (meta->>'scheduled_message_id')::bigint BETWEEN %s AND %s GROUP BY 1 HAVING count(*) > 1) d",
        (low, high))[0][0])
    messages = int(_query("SELECT count(*) FROM inbox_message WHERE (meta->>'scheduled_message_id')::bigint "
                          "BETWEEN %s AND %s", (low, high))[0][0])
    lags = [float(r[0]) for r in _query(
        "SELECT extract(epoch FROM m.created_at - s.send_at) FROM automation_scheduledmessage s "
        "JOIN inbox_message m ON m.id = s.sent_message_id WHERE s.id BETWEEN %s AND %s", (low, high))]
    _log(f"states {states}; {messages} messages, {doubled} scheduled ids with more than one; worker 0 killed "
         f"{killed_at:.1f} s after T0; last sent {max(lags, default=0):.1f} s after T0; exits "
         f"{[(e.name, e.returncode) for e in cluster.unexpected_exits]}; load {os.getloadavg()}")
    lost = SCHEDULED - states.get("enviado", 0)
    if lost or doubled or messages != SCHEDULED:
        raise RuntimeError(f"{lost} lost, {doubled} doubled, {messages} messages for {SCHEDULED} scheduled "
                           f"({states})")
    samples = Samples(Sample(lag, None) for lag in lags)
    samples.wall_seconds = max(lags, default=0.0)
    return samples


SCENARIOS = [
    Scenario("automation.scheduled_burst",
             "10,000 scheduled messages due in the same minute, a worker killed and restarted: 0 lost, 0 doubled",
             setup, run_burst, size=0, databases=("postgres",)),
]


# --- SLA breach detection ---------------------------------------------------------------------------------------

SLA_TIMERS = 10_000
SLA_LEAD_SECONDS = 45.0  # the first due time's distance from the start of the load
SLA_SPREAD_SECONDS = 300.0  # due times spread evenly over five minutes (≈ 33 per second)
SLA_DEADLINE = 900.0

# Runs inside the cluster: SLA_TIMERS open WhatsApp conversations whose first response falls due between T0 and
# T0 + SPREAD, as automation.sla writes their clocks (the due time in the timer and on the conversation).
SLA_LOAD = """
from datetime import datetime, timedelta
from django.db import transaction
from django.utils import timezone
from automation.models import SlaPolicy, SlaTimer
from customers.models import Customer
from inbox.models import Conversation, Inbox

n, t0, spread = int("__N__"), datetime.fromisoformat("__T0__"), float("__SPREAD__")
tag = f"sla{timezone.now().timestamp():.0f}"
inbox = Inbox.objects.create(name=f"Bench {tag}", code=tag)
policy, _ = SlaPolicy.objects.get_or_create(channel="whatsapp", inbox=None, defaults={"first_response_seconds": 300})
with transaction.atomic():
    customers = Customer.objects.bulk_create(
        [Customer(name=f"Cliente {tag} {i}", search_name=f"cliente {tag} {i}") for i in range(n)], batch_size=2000)
    dues = [t0 + timedelta(seconds=spread * i / n) for i in range(n)]
    conversations = Conversation.objects.bulk_create(
        [Conversation(customer=c, inbox=inbox, channel="whatsapp", state="nueva", sla_due_at=due,
                      sla_warn_at=due - timedelta(seconds=60), waiting_since=due - timedelta(seconds=300))
         for c, due in zip(customers, dues)], batch_size=2000)
    SlaTimer.objects.bulk_create(
        [SlaTimer(conversation=c, policy=policy, cycle=1, check_at=due, targets={"first_response": {
            "started": (due - timedelta(seconds=300)).isoformat(), "due": due.isoformat(),
            "warn": (due - timedelta(seconds=60)).isoformat()}}) for c, due in zip(conversations, dues)],
        batch_size=2000)
print(inbox.pk, min(c.pk for c in conversations), max(c.pk for c in conversations))
"""


def run_sla_breaches(n: int) -> list[Sample]:
    """`n` is ignored: the issue's figure is SLA_TIMERS open conversations carrying timers."""
    from bench.scenarios.scaleout import _cluster, _query

    cluster = _cluster()
    loading = time.time()
    t0 = datetime.fromtimestamp(round(loading + SLA_LEAD_SECONDS), tz=UTC)
    code = (SLA_LOAD.replace("__N__", str(SLA_TIMERS)).replace("__T0__", t0.isoformat())
            .replace("__SPREAD__", str(SLA_SPREAD_SECONDS)))
    out = cluster._run_once("bench-sla-load", [sys.executable, "manage.py", "shell", "-c", code])
    inbox_id, low, high = (int(x) for x in out.split()[-3:])
    _log(f"{SLA_TIMERS} SLA timers due from {t0:%H:%M:%S} UTC over {SLA_SPREAD_SECONDS:.0f} s, loaded in "
         f"{time.time() - loading:.1f} s; load {os.getloadavg()}")
    if time.time() > t0.timestamp():
        raise RuntimeError("the load went past the first due time: raise SLA_LEAD_SECONDS")
    deadline = time.monotonic() + SLA_DEADLINE
    found = 0
    while time.monotonic() < deadline:
        found = int(_query("SELECT count(*) FROM automation_slatimer WHERE conversation_id BETWEEN %s AND %s "
                           "AND targets->'first_response' ? 'breached_at'", (low, high))[0][0])
        if found == SLA_TIMERS:
            break
        time.sleep(POLL_EVERY)
    lags = [float(r[0]) for r in _query(
        "SELECT extract(epoch FROM (targets->'first_response'->>'breached_at')::timestamptz "
        "- (targets->'first_response'->>'due')::timestamptz) FROM automation_slatimer "
        "WHERE conversation_id BETWEEN %s AND %s AND targets->'first_response' ? 'breached_at'", (low, high))]
    events = int(_query("SELECT count(*) FROM inbox_conversationevent WHERE kind = 'sla_breached' "
                        "AND conversation_id BETWEEN %s AND %s", (low, high))[0][0])
    counted = int(_query("SELECT coalesce(sum(breached), 0) FROM automation_sladaily WHERE inbox_id = %s",
                         (inbox_id,))[0][0])
    _log(f"{found} breached, {events} history lines, {counted} counted on the dashboard; exits "
         f"{[(e.name, e.returncode) for e in cluster.unexpected_exits]}; load {os.getloadavg()}")
    if found != SLA_TIMERS or events != SLA_TIMERS or counted != SLA_TIMERS:
        raise RuntimeError(f"{found} breached, {events} history lines, {counted} counted for {SLA_TIMERS} timers")
    samples = Samples(Sample(lag, None) for lag in lags)
    samples.wall_seconds = SLA_SPREAD_SECONDS + max(lags, default=0.0)
    return samples


SCENARIOS.append(
    Scenario("automation.sla_breaches",
             "10,000 open conversations with SLA timers due over 5 minutes: breach detection lag after the due time",
             setup, run_sla_breaches, size=0, databases=("postgres",)))


# --- automation rules on the intake path -------------------------------------------------------------------------
#
# * `automation.intake_no_rules` / `automation.intake_200_rules` — one customer message stored by the inbox's intake
#   (`inbox.actions.do_receive_inbound`, its transaction committed), with no active rule and with RULES active rules
#   on `message.received`: the difference is what the rules add to the path that makes a message visible (the
#   in-transaction check and the stored trigger; the evaluation runs later, in its own task).
# * `automation.rules_evaluation_200` — the worker's evaluation of one stored message against those RULES rules
#   (`automation.rules.do_process_trigger`: every rule's conditions, the two that apply with their actions, the run
#   rows and history lines), per message.
#
# The rules are what an operation would write: keyword lists (10 words), regular expressions, channel, inbox,
# business hours, customer tags, priority; two of them match the bench's messages (a tag and a note).

RULES = 200
_rules_state: dict[str, Any] = {}


def _rule_specs(count: int) -> list[dict[str, Any]]:
    words = ["garantia", "factura", "devolucion", "reclamo", "cotizacion", "mayorista", "credito", "cuotas",
             "instalacion", "tecnico", "sucursal", "domicilio", "promocion", "descuento", "catalogo", "talla"]
    specs: list[dict[str, Any]] = []
    for i in range(count - 2):
        kind = i % 5
        conditions: list[dict[str, Any]]
        if kind == 0:
            conditions = [{"field": "text", "op": "contains", "value": [f"{w}{i}" for w in words[:10]]}]
        elif kind == 1:
            conditions = [{"field": "text", "op": "matches", "value": rf"\bpedido\s+X{i}-\d+\b"}]
        elif kind == 2:
            conditions = [{"field": "channel", "op": "is", "value": ["email"]},
                          {"field": "text", "op": "contains", "value": [words[i % len(words)] + "zz"]}]
        elif kind == 3:
            conditions = [{"field": "inbox", "op": "is", "value": [f"bandeja-{i}"]},
                          {"field": "business_hours", "op": "outside", "value": ""}]
        else:
            conditions = [{"field": "text", "op": "contains", "value": [f"clave{i}"]},
                          {"field": "customer_tag", "op": "has", "value": ["vip"]}]
        specs.append({"name": f"Bench {i}", "conditions": conditions, "match": "all",
                      "actions": [{"type": "add_tag", "tag": f"bench{i}"}]})
    specs.append({"name": "Bench envíos", "conditions": [{"field": "text", "op": "contains", "value": ["envio"]}],
                  "match": "all", "actions": [{"type": "add_tag", "tag": "envios"}]})
    specs.append({"name": "Bench nota", "conditions": [], "match": "all",
                  "actions": [{"type": "add_note", "body": "Mensaje recibido por {{cliente.primer_nombre}}"}]})
    return specs


def setup_rules(_size: int) -> None:
    from accounts.models import User
    from automation.models import AutomationRule
    from automation.rules import RuleInput, check_save_rule

    admin, _created = User.objects.get_or_create(username="bench-rules", defaults={"role": "admin",
                                                                                    "full_name": "Bench Rules"})
    AutomationRule.objects.filter(name__startswith="Bench ").delete()
    for spec in _rule_specs(RULES):
        check_save_rule(admin, RuleInput(event="message.received", active=False, **spec))
    _rules_state["count"] = 0


def _set_rules(active: bool) -> None:
    from automation.models import AutomationRule
    from automation.rules import forget_rules

    AutomationRule.objects.filter(name__startswith="Bench ").update(active=active)
    AutomationRule.objects.exclude(name__startswith="Bench ").update(active=False)
    forget_rules()


def _receive(i: int) -> Any:
    from inbox.actions import do_receive_inbound

    _rules_state["count"] = n = _rules_state.get("count", 0) + 1
    body = f"Hola, ¿hacen envíos a Cali? Consulta {n} sobre el pedido PED-{n}"
    return do_receive_inbound(channel="webchat", body=body, customer_name=f"Cliente Bench {n}",
                              phones=[f"+57320{time.time_ns() % 10**7:07d}{i % 10}"])


def _run_intake(n: int, *, active: bool) -> list[Sample]:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from bench import harness

    _set_rules(active)
    samples = Samples()
    started = time.perf_counter()
    for i in range(harness.WARMUP + n):
        reset_queries()  # the debug query log is bounded: a full one would count nothing
        with CaptureQueriesContext(connection) as queries:
            t0 = time.perf_counter()
            _receive(i)
            elapsed = time.perf_counter() - t0
        if i >= harness.WARMUP:
            samples.append(Sample(elapsed, len(queries.captured_queries)))
    samples.wall_seconds = time.perf_counter() - started
    _set_rules(False)
    return samples


def _evaluate(waiting: list[int], *, applying: int) -> Samples:
    """The worker's evaluation of each stored trigger, timed with its SQL count (after the warm-up ones); each must
    apply `applying` rules."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from automation.rules import do_process_trigger
    from bench import harness

    samples = Samples()
    started = time.perf_counter()
    for index, pk in enumerate(waiting):
        reset_queries()
        with CaptureQueriesContext(connection) as queries:
            t0 = time.perf_counter()
            applied = do_process_trigger(pk)
            elapsed = time.perf_counter() - t0
        if applied != applying:
            raise RuntimeError(f"trigger {pk}: {applied} rules applied, expected {applying}")
        if index >= harness.WARMUP:
            samples.append(Sample(elapsed, len(queries.captured_queries)))
    samples.wall_seconds = time.perf_counter() - started
    return samples


def _run_evaluation(n: int) -> list[Sample]:

    from automation.models import AutomationRun, RuleTrigger
    from bench import harness

    _set_rules(True)
    before = AutomationRun.objects.count()
    for i in range(harness.WARMUP + n):
        _receive(i)
    waiting = list(RuleTrigger.objects.filter(processed_at__isnull=True).order_by("pk")
                   .values_list("pk", flat=True))[-(harness.WARMUP + n):]
    samples = _evaluate(waiting, applying=2)
    _set_rules(False)
    _log(f"  automation: {AutomationRun.objects.count() - before} runs recorded for {len(waiting)} messages "
         f"({RULES} active rules)")
    return samples


SCENARIOS += [
    Scenario("automation.intake_no_rules", "a customer message stored (intake transaction), no active rule",
             setup_rules, lambda n: _run_intake(n, active=False), size=0),
    Scenario("automation.intake_200_rules",
             f"a customer message stored (intake transaction), {RULES} active rules on message.received",
             setup_rules, lambda n: _run_intake(n, active=True), size=0),
    Scenario("automation.rules_evaluation_200",
             f"the worker's evaluation of one message against {RULES} active rules (2 apply: a tag, a note)",
             setup_rules, _run_evaluation, size=0),
]


# --- rules at a scheduled time ------------------------------------------------------------------------------------
#
# * `automation.schedule_batch_10k` — a rule "at a scheduled time" over SCHEDULE_OPEN open conversations, half of them
#   silent for 72 hours (the rule: state *En espera* and at least 48 hours idle). Each sample is one batch
#   (`automation.schedules.do_run_batch`: the rule's row lock, the SQL-filtered page of conversations, BATCH triggers
#   stored, the cursor moved), run until the cursor reaches the end; the log line gives the whole run's wall time
#   and how many conversations were stored (only the silent half).
# * `automation.schedule_evaluation` — the worker's evaluation of one of those triggers (`do_process_trigger`: the
#   rule's conditions again, a tag and a note, the run row and the history line).

SCHEDULE_OPEN = 10_000
_schedule_state: dict[str, Any] = {}


def setup_schedule(_size: int) -> None:
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from automation.models import AutomationRule
    from automation.rules import RuleInput, check_save_rule
    from customers.models import Customer
    from inbox.actions.intake import _global_inbox
    from inbox.models import Conversation

    admin, _created = User.objects.get_or_create(username="bench-rules", defaults={"role": "admin",
                                                                                    "full_name": "Bench Rules"})
    AutomationRule.objects.filter(name__startswith="Bench ").delete()
    inbox, now = _global_inbox(), timezone.now()
    tag = f"sch{now.timestamp():.0f}"
    with transaction.atomic():
        customers = Customer.objects.bulk_create(
            [Customer(name=f"Cliente {tag} {i}", search_name=f"cliente {tag} {i}") for i in range(SCHEDULE_OPEN)],
            batch_size=2000)
        Conversation.objects.bulk_create(
            [Conversation(customer=c, inbox=inbox, channel="api", state="en_espera",
                          last_activity_at=now - timedelta(hours=72 if i % 2 else 1), created_at=now)
             for i, c in enumerate(customers)], batch_size=2000)
    rule = check_save_rule(admin, RuleInput(
        name="Bench programada", event="schedule", active=True, schedule={"days": list(range(7)), "time": "00:00"},
        conditions=[{"field": "state", "op": "is", "value": ["en_espera"]},
                    {"field": "idle_hours", "op": "at_least", "value": 48}],
        actions=[{"type": "add_tag", "tag": "recordatorio"},
                 {"type": "add_note", "body": "Recordatorio a {{cliente.primer_nombre}}"}]))
    _schedule_state["rule_id"] = rule.pk


def _start_run() -> int:
    from django.utils import timezone

    from automation.models import AutomationRule

    rule_id = int(_schedule_state["rule_id"])
    AutomationRule.objects.filter(pk=rule_id).update(schedule_slot=timezone.now(), schedule_cursor=0)
    return rule_id


def _run_schedule_batches(n: int) -> list[Sample]:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from automation import schedules
    from automation.models import AutomationRule, RuleTrigger

    rule_id = _start_run()
    before = RuleTrigger.objects.filter(event="schedule").count()
    samples = Samples()
    started = time.perf_counter()
    while AutomationRule.objects.filter(pk=rule_id, schedule_cursor__isnull=False).exists():
        reset_queries()
        with CaptureQueriesContext(connection) as queries:
            t0 = time.perf_counter()
            schedules.do_run_batch(rule_id)
            elapsed = time.perf_counter() - t0
        samples.append(Sample(elapsed, len(queries.captured_queries)))
    samples.wall_seconds = time.perf_counter() - started
    stored = RuleTrigger.objects.filter(event="schedule").count() - before
    _log(f"  schedule: {stored} of {SCHEDULE_OPEN} open conversations stored in {len(samples)} batches, "
         f"{samples.wall_seconds:.2f} s; load {os.getloadavg()}")
    if stored != SCHEDULE_OPEN // 2:
        raise RuntimeError(f"{stored} triggers stored, expected {SCHEDULE_OPEN // 2}")
    return samples


def _run_schedule_evaluation(n: int) -> list[Sample]:

    from automation import schedules
    from automation.models import AutomationRule, RuleTrigger
    from bench import harness

    last = RuleTrigger.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    rule_id = _start_run()  # (a run of its own: triggers of an earlier run are for a time already past)
    while AutomationRule.objects.filter(pk=rule_id, schedule_cursor__isnull=False).exists():
        schedules.do_run_batch(rule_id)
    waiting = list(RuleTrigger.objects.filter(event="schedule", processed_at__isnull=True, pk__gt=last)
                   .order_by("pk").values_list("pk", flat=True)[:harness.WARMUP + n])
    return _evaluate(waiting, applying=1)


SCENARIOS += [
    Scenario("automation.schedule_batch_10k",
             f"a rule at a scheduled time over {SCHEDULE_OPEN:,} open conversations (half match): one batch of "
             "200 triggers stored, until the run ends", setup_schedule, _run_schedule_batches, size=0),
    Scenario("automation.schedule_evaluation",
             "the worker's evaluation of one scheduled rule's trigger (a tag and a note applied)",
             setup_schedule, _run_schedule_evaluation, size=0),
]
