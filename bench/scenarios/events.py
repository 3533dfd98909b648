"""Domain events (issue 14): creating a conversation through the API at 100,000 conversations (the measurement
django-helpdesk's ticket create was compared with), the cost an event adds to the action that emits it, and the
event log's append throughput.

Data set: the inbox data set of bench/scenarios/inbox.py at `size` conversations (100,000 by default): 200 agents and
a supervisor, 60 % as many customers, 3 messages per conversation.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from bench import harness
from bench.harness import Sample, Samples, Scenario, timed_requests
from bench.scenarios import inbox as inbox_bench

SIZE = 100_000
SUBSCRIBERS = 5
_counter = itertools.count()


def _run_api_create(n: int) -> list[Sample]:
    """POST /api/v1/conversations as the supervisor: a new customer each time, so a new conversation (customer,
    phone, conversation, history row, message, the events, the realtime broadcast)."""
    from django.test import Client

    client = Client(headers={"Authorization": f"Bearer {inbox_bench._state['supervisor_token']}"})
    run = f"{time.time_ns() % 10**6:06d}"

    def create() -> Any:
        i = next(_counter)
        return client.post("/api/v1/conversations", {
            "customer": {"name": f"Cliente Nuevo {run}-{i}", "phone": f"+57318{run[-3:]}{i:04d}"},
            "message": "Hola, quisiera información sobre el Plan Hogar.", "channel": "whatsapp"},
            content_type="application/json")

    return timed_requests(create, n, expect_status=201)


def _subscribers(count: int) -> list[str]:
    """`count` subscribers of every event, each doing a little work (a dict built and kept), as a realtime or
    reports subscriber would before handing over to a task."""
    from core import events

    kept: list[dict[str, Any]] = []

    def handler(event: events.DomainEvent) -> None:
        kept.append({"type": event.type, "id": event.log_id})
        del kept[:-100]

    names = [f"bench.subscriber.{i}" for i in range(count)]
    for name in names:
        events.subscribe(events.ANY, handler, name=name)
    return names


def _unsubscribe(names: list[str]) -> None:
    from core import events

    for name in names:
        events._subscribers[events.ANY].pop(name, None)


def _state_event(i: int) -> Any:
    from inbox.events import ConversationStateChanged

    return ConversationStateChanged(conversation_id=i, customer_id=i, channel="whatsapp", from_state="nueva",
                                    to_state="pendiente", reason="assigned")


def _run_event_cost(n: int) -> list[Sample]:
    """Per sample: `emit()` inside an open transaction (the event log INSERT) plus the after-commit delivery to
    SUBSCRIBERS subscribers (core.events.deliver, timed directly) — what an event adds to its action. The outgoing
    webhooks subscriber is among them with no endpoint registered (its one EXISTS query)."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from core import events

    names = _subscribers(SUBSCRIBERS - len(events.subscribers("conversation.state_changed")))
    samples = Samples()
    try:
        started = time.perf_counter()
        for i in range(harness.WARMUP + n):
            event = _state_event(i)
            with transaction.atomic(), CaptureQueriesContext(connection) as queries:
                t0 = time.perf_counter()
                events.emit(event)
                emitted = time.perf_counter() - t0
            t1 = time.perf_counter()
            events.deliver(event)  # what on_commit ran already: timed here on its own
            delivered = time.perf_counter() - t1
            if i >= harness.WARMUP:
                samples.append(Sample(emitted + delivered, len(queries.captured_queries)))
        samples.wall_seconds = time.perf_counter() - started
    finally:
        _unsubscribe(names)
    return samples


def _run_log_append(n: int) -> list[Sample]:
    """Events appended one per transaction (each commits), no extra subscribers: the log's append throughput is
    n / wall time (the `rps` column)."""
    from django.db import transaction

    from core import events

    samples = Samples()
    started = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        with transaction.atomic():
            events.emit(_state_event(i))
        samples.append(Sample(time.perf_counter() - t0, 1))
    samples.wall_seconds = time.perf_counter() - started
    return samples


SCENARIOS = [
    Scenario(name="events.api_create", description="POST /api/v1/conversations (a new customer's first message) at "
             "100,000 conversations", setup=inbox_bench.ensure_inbox, run=_run_api_create, size=SIZE),
    Scenario(name="events.emit_cost", description=f"what one event adds to its action: emit() in the transaction "
             f"+ delivery to {SUBSCRIBERS} subscribers after commit", setup=inbox_bench.ensure_inbox,
             run=_run_event_cost, size=SIZE),
    Scenario(name="events.log_append", description="event log appends, one transaction each (throughput = rps)",
             setup=inbox_bench.ensure_inbox, run=_run_log_append, size=SIZE),
]
