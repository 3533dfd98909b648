"""Chatbot (issue 18): one bot step — a customer's answer read by the worker (`bots.actions.do_handle_message`:
the conversation and the run locked, the answer matched, the next steps walked, the bot's answer stored and its
delivery queued for the channel's sender, the run and its step visits written) — with RUNS conversations talking to
the bot at once. Target: p95 < 30 ms on PostgreSQL with 1,000 open runs.

Data set: the demo flow "Estado de mi pedido" as the Global inbox's default entry; RUNS web chat customers who each
wrote "hola" (their run waits at the menu). Each measured step is one customer's next answer in a loop that never
ends the run: "Precio y disponibilidad" (→ asks which product), the product's name (→ a live-stock lookup, the
price, "anything else?"), "Sí, otra cosa" (→ the menu again). The customer's message is stored first (the intake,
measured by automation.intake_*), untimed; the timed part is the worker's step.
"""

from __future__ import annotations

import time
from typing import Any

from bench.harness import Sample, Samples, Scenario, _log

RUNS = 1000
ANSWERS = ("Precio y disponibilidad", "zapatillas trail", "Sí, otra cosa")
_state: dict[str, Any] = {}


def setup(size: int) -> None:
    if _state.get("size") == size:
        return
    from django.db import connection

    from accounts.actions import do_create_user
    from accounts.roles import Role
    from bots.actions import check_create_flow, check_publish_flow, check_save_flow, do_handle_message
    from bots.demo import GRAPH
    from catalog.actions import check_save_product
    from inbox.actions import do_receive_inbound
    from inbox.models import Inbox

    author = do_create_user(username="bench-bot-autor", password=None, full_name="Autora de flujos",
                            role=Role.SUPERVISOR, acting_user=None)
    check_save_product(None, sku="ZT-42", name="Zapatillas Trail 42", price="189900", initial_stock=500)
    started = time.perf_counter()
    phones = []
    for i in range(size):
        phone = f"+57321{i:07d}"
        _c, _m, _new = do_receive_inbound(channel="webchat", body="hola", customer_name=f"Cliente Bot {i}",
                                          phones=[phone])
        phones.append(phone)
    flow = check_create_flow(author, name="Estado de mi pedido (bench)", graph=GRAPH)
    check_save_flow(author, flow.pk, inbox_code=Inbox.objects.get(is_global=True).code)
    check_publish_flow(author, flow.pk)
    from inbox.choices import MessageKind
    from inbox.models import Message

    for message_id in Message.objects.filter(kind=MessageKind.INBOUND).order_by("pk").values_list("pk", flat=True):
        do_handle_message(message_id)  # each customer's "hola" starts their run: RUNS runs wait at the menu
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    _log(f"  bots: {size} open runs in {time.perf_counter() - started:.0f} s")
    _state.update(size=size, phones=phones, turn=0)


def run_step(n: int) -> list[Sample]:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from bench import harness
    from bots.actions import do_handle_message
    from bots.choices import OPEN_STATES
    from bots.models import BotRun
    from inbox.actions import do_receive_inbound

    phones: list[str] = _state["phones"]
    samples = Samples()
    started = time.perf_counter()
    for i in range(harness.WARMUP + n):
        turn = _state["turn"]
        _state["turn"] = turn + 1
        phone = phones[turn % len(phones)]
        answer = ANSWERS[(turn // len(phones)) % len(ANSWERS)]
        _c, message, _new = do_receive_inbound(channel="webchat", body=answer, customer_name="Cliente Bot",
                                               phones=[phone])
        reset_queries()
        with CaptureQueriesContext(connection) as queries:
            t0 = time.perf_counter()
            status = do_handle_message(message.pk)
            elapsed = time.perf_counter() - t0
        if status != "waiting":
            raise RuntimeError(f"{phone} «{answer}»: the bot answered {status!r}, expected another question")
        if i >= harness.WARMUP:
            samples.append(Sample(elapsed, len(queries.captured_queries)))
    samples.wall_seconds = time.perf_counter() - started
    _log(f"  bots: {BotRun.objects.filter(state__in=OPEN_STATES).count()} runs open at the end")
    return samples


SCENARIOS = [
    Scenario("bots.step_1000_runs",
             f"one bot step (the worker reads an answer, walks the flow, stores and queues its reply), {RUNS} open "
             "runs", setup, run_step, size=RUNS),
]
