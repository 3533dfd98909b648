"""Performance dashboard (issue 7): import and dashboard API at 1,000,000 conversations and 300,000 sales.

Data set (`ensure_history(size)`): CSV files written like a company's Kommo/Sheets export — `size` conversations
spread evenly over the last two years (730 days, a little denser on weekdays), 0.35 x size customers (so most
customers come back: retention has returning customers), 200 agents, channels WhatsApp 55 % / Email 20 % /
Web 15 % / Teléfono 10 %, 88 % closed, outcomes and customer states for most, first-response and resolution
times for most (unknown for some), and 0.3 x size sales on closed conversations. They are imported with
`import_history`'s own functions (parse, then write + rollup rebuild), which is the import benchmark.

Measured through the API in-process (django.test.Client, an analyst's bearer token), SQL counted:
* `dashboard.default_*`: the default window (the last 30 days), week granularity;
* `dashboard.two_years_*`: the whole two-year horizon, month granularity;
* `_cold`: the dashboard's answer cache is emptied before every request (every request recomputes from the
  rollups); `_warm`: the same request repeated (served from the cache, keyed by the rollups' version).
"""

from __future__ import annotations

import csv
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import harness
from bench.harness import Sample, Scenario, timed_requests

AGENTS = 200
CHANNELS = [("WhatsApp", 55), ("Email", 20), ("Web", 15), ("Teléfono", 10)]
OUTCOMES = [("genero_venta", 25), ("resuelta", 40), ("escalada", 8), ("cerrada_sin_solucion", 17), ("", 10)]
STATES = [("interesado", 30), ("en_seguimiento", 25), ("convertido", 20), ("no_interesado", 15), ("", 10)]

_state: dict[str, Any] = {}


def _log(message: str) -> None:
    print(message, flush=True)


def _pick(rng: random.Random, table: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


def write_history(folder: Path, size: int, *, seed: int = 7) -> tuple[Path, Path]:
    from django.utils import timezone

    rng = random.Random(seed)
    now = timezone.localtime()
    first = now - timedelta(days=729)
    customers = max(1, int(size * 0.35))
    conversations_path, sales_path = folder / "conversaciones.csv", folder / "ventas.csv"
    closed_ids: list[int] = []
    with conversations_path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["conversation_id", "customer_id", "customer_name", "started_at", "closed_at", "state",
                      "channel", "agent_id", "agent_name", "first_response_seconds", "resolution_seconds",
                      "outcome", "customer_state", "agent_comments"])
        span = (now - first).total_seconds() - 3600
        for i in range(1, size + 1):
            started = first + timedelta(seconds=span * i / size + rng.uniform(0, 60))
            agent = rng.randrange(1, AGENTS + 1)
            closed = rng.random() < 0.88 and started < now - timedelta(hours=2)
            resolution = int(rng.expovariate(1 / 90_000)) + 60 if closed else None
            closed_at = started + timedelta(seconds=resolution) if resolution is not None else None
            if closed_at is not None and closed_at > now:
                closed_at, resolution = now, int((now - started).total_seconds())
            frs = int(rng.expovariate(1 / 2400)) + 5 if rng.random() < 0.92 else None
            state = "resuelta" if closed and rng.random() < 0.9 else ("escalada" if closed else "activa")
            if closed:
                closed_ids.append(i)
            out.writerow([f"H{i}", f"K{rng.randrange(1, customers + 1)}", "", started.isoformat(timespec="seconds"),
                          closed_at.isoformat(timespec="seconds") if closed_at else "", state,
                          _pick(rng, CHANNELS), f"AG{agent}", f"Agente {agent:03d}", "" if frs is None else frs,
                          "" if resolution is None else resolution, _pick(rng, OUTCOMES) if closed else "",
                          _pick(rng, STATES), ""])
    with sales_path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["sale_id", "product_id", "product_name", "conversation_id", "quantity", "unit_price", "amount"])
        for s in range(1, int(size * 0.3) + 1):
            quantity, price = rng.randint(1, 3), rng.choice([19900, 45000, 89900, 129000, 250000])
            out.writerow([f"V{s}", f"P{price}", f"Producto {price}", f"H{rng.choice(closed_ids)}", quantity, price,
                          quantity * price])
    return conversations_path, sales_path


def ensure_history(size: int) -> None:
    if _state.get("size") == size:
        return
    from accounts.actions import do_create_api_token, do_create_user
    from accounts.roles import Role
    from reports.importer import do_import_history, parse_history

    folder = Path(tempfile.mkdtemp(prefix="bench-history-"))
    t0 = time.perf_counter()
    conversations, sales = write_history(folder, size)
    _log(f"  dashboard: wrote {size} conversations and {int(size * 0.3)} sales as CSV in "
         f"{time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    parsed = parse_history(conversations, sales)
    parse_seconds = time.perf_counter() - t0
    stages: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if done >= total:
            stages[stage] = time.perf_counter()

    t1 = time.perf_counter()
    result = do_import_history(parsed, progress=progress)
    write_seconds = time.perf_counter() - t1
    rollup_seconds = stages.get("rollups", t1) - stages.get("conversations", t1)
    _log(f"  dashboard: import of {result.conversations} conversations + {result.sales} sales: parse "
         f"{parse_seconds:.1f} s, write + rollups {write_seconds:.1f} s (rollup rebuild ≈ {rollup_seconds:.1f} s), "
         f"total {parse_seconds + write_seconds:.1f} s; {result.customers_created} customers, "
         f"{result.agents_created} agent profiles created")
    _state["import_seconds"] = parse_seconds + write_seconds
    analyst = do_create_user(username="bench-analista", password=None, full_name="Analista Benchmark",
                             role=Role.ANALISTA, acting_user=None)
    _token, raw = do_create_api_token(analyst, name="bench", acting_user=None)
    _state.update(size=size, token=raw)
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def _client() -> Any:
    from django.test import Client

    return Client(headers={"Authorization": f"Bearer {_state['token']}"})


def _path(*, two_years: bool) -> str:
    from django.utils import timezone

    if not two_years:
        return "/api/v1/reports/dashboard"
    from reports.rollups import horizon_start

    return f"/api/v1/reports/dashboard?start={horizon_start()}&end={timezone.localdate()}&granularity=month"


def _run(n: int, *, two_years: bool, cold: bool) -> list[Sample]:
    from django.core.cache import cache

    client, path = _client(), _path(two_years=two_years)

    def call() -> Any:
        if cold:
            cache.clear()
        return client.get(path)

    return timed_requests(call, n)


def _export(n: int, path: str, *, two_years: bool) -> list[Sample]:
    """A CSV export read to its last byte (the streamed body is produced while it is consumed)."""
    from django.utils import timezone

    from reports.rollups import horizon_start

    client = _client()
    if two_years:
        path = f"{path}?start={horizon_start()}&end={timezone.localdate()}"
    rows: list[int] = []

    def call() -> Any:
        response = client.get(path)
        rows.append(b"".join(response.streaming_content).count(b"\n") - 1)
        return response

    samples = timed_requests(call, n, warmup=1)
    _log(f"  {path.split('?')[0]}: {rows[-1]} rows per export")
    return samples


def run_import(_n: int) -> list[Sample]:
    """The import's wall time as one sample (measured while building the data set)."""
    samples = harness.Samples([Sample(_state["import_seconds"], None)])
    samples.wall_seconds = _state["import_seconds"]
    return samples


SIZE = 1_000_000
SCENARIOS = [
    Scenario(name="dashboard.import_1m", description="import_history of 1,000,000 conversations + 300,000 sales "
             "(parse, write, rollup rebuild); one sample", setup=ensure_history, run=run_import, size=SIZE),
    Scenario(name="dashboard.default_cold", description="GET /api/v1/reports/dashboard, default window (30 days), "
             "answer cache emptied before each request", setup=ensure_history,
             run=lambda n: _run(n, two_years=False, cold=True), size=SIZE),
    Scenario(name="dashboard.default_warm", description="the same, repeated (answer cache)", setup=ensure_history,
             run=lambda n: _run(n, two_years=False, cold=False), size=SIZE),
    Scenario(name="dashboard.two_years_cold", description="the whole two-year horizon by month, answer cache "
             "emptied before each request", setup=ensure_history,
             run=lambda n: _run(n, two_years=True, cold=True), size=SIZE),
    Scenario(name="dashboard.two_years_warm", description="the same, repeated (answer cache)",
             setup=ensure_history, run=lambda n: _run(n, two_years=True, cold=False), size=SIZE),
    Scenario(name="dashboard.export_conversations_30d", description="GET /api/v1/reports/conversations.csv, "
             "default window, streamed and read to the end", setup=ensure_history,
             run=lambda n: _export(n, "/api/v1/reports/conversations.csv", two_years=False), size=SIZE),
    Scenario(name="dashboard.export_sales_2y", description="GET /api/v1/reports/sales.csv over the two-year "
             "horizon, streamed and read to the end", setup=ensure_history,
             run=lambda n: _export(n, "/api/v1/reports/sales.csv", two_years=True), size=SIZE),
]
