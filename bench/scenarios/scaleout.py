"""Scale mode under load (issue 13, "Measured"): Kommo intake on 2 web processes and 2 workers, and the drain after
a Redis outage, on a `tests.scaleout.cluster.Cluster` (the guide's scale mode on this machine: 2 x `manage.py
serve --processes 1`, 2 workers, 1 scheduler, a fresh PostgreSQL database, its own Redis, the fake Kommo).

The cluster has its own database and processes: the bench worker's database and settings are not used, only its
PostgreSQL server (BENCH_PG_URL; on `--db sqlite` these scenarios are skipped: scale mode is PostgreSQL).
The workers run BENCH_SCALEOUT_WORKER (default `manage.py run_worker`; the guide's pre-issue-13 command is
`manage.py rqworker default crm messaging --job-class django_tasks_rq.Job --worker-class rq.worker.SimpleWorker
--with-scheduler`). The fake Kommo has no rate limit here (the real one allows 7 rps): the figures measure us.

* `scaleout.intake_p95` — INTAKE_WEBHOOKS Kommo webhooks (add + status pairs of distinct leads in "Para Llamar",
  both of a pair at once, one to each web process), IN_FLIGHT at a time. Samples: each POST's answer time
  (intake-to-queue: the body is stored and its processing task enqueued when the 200 leaves).
* `scaleout.intake_to_lead_in_queue` — the same run (not a second one): per lead, from the start of its pair's
  POSTs until `Lead.in_queue` is true in the database (polled every POLL_EVERY s, so ±0.1 s).
* `scaleout.drain_after_outage` — Redis stopped, DRAIN_WEBHOOKS webhooks posted (stored; their enqueue fails;
  the safety net must pick them up), Redis kept down OUTAGE_SECONDS from the stop, started again. One sample: the
  seconds from Redis's return until every delivery stored during the outage is no longer `received`.

No SQL counts (the work happens in other processes). Machine load is logged after each run (the parent logs it
before). Reads of the cluster's database go through psycopg directly.
"""

from __future__ import annotations

import atexit
import os
import shlex
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.harness import DEFAULT_PG_URL, Sample, Samples, Scenario

INTAKE_WEBHOOKS = 200
DRAIN_WEBHOOKS = 1000
IN_FLIGHT = 16
OUTAGE_SECONDS = 60.0
POLL_EVERY = 0.1
IN_QUEUE_DEADLINE = 180.0
DRAIN_DEADLINE = 600.0

_state: dict[str, Any] = {}


def _log(message: str) -> None:
    import sys

    print(f"[scaleout] {message}", file=sys.stderr, flush=True)


def _cluster() -> Any:
    """One cluster per bench worker process, shared by the scenarios of this module; closed at exit."""
    if "cluster" in _state:
        return _state["cluster"]
    from django.db import connection

    if connection.vendor != "postgresql":
        raise RuntimeError("scale mode needs PostgreSQL: run with --db postgres")
    from tests.scaleout.cluster import RUN_WORKER_COMMAND, Cluster

    server = os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL)
    command = shlex.split(os.environ.get("BENCH_SCALEOUT_WORKER", "")) or list(RUN_WORKER_COMMAND)
    cluster = Cluster(worker_command=command, pg_server_url=server, verbose=False)
    cluster.__enter__()
    atexit.register(cluster.close)
    _state["cluster"] = cluster
    _log(f"cluster up: database {cluster.dbname}, worker `{' '.join(command)}`")
    return cluster


def _query(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    cluster = _cluster()
    with psycopg.connect(cluster.database_url, autocommit=True, connect_timeout=5) as conn:
        return list(conn.execute(sql.encode(), params).fetchall())


def _kommo_api_calls(cluster: Any) -> int:
    """Requests the workers made to the (fake) Kommo API so far: its 7 rps limit (crm.client's shared limiter) is
    what bounds the processing rate."""
    return sum(1 for r in cluster.kommo_state().requests if str(r.get("path", "")).startswith("/api/v4/"))


def _max_delivery_id() -> int:
    return int(_query("SELECT coalesce(max(id), 0) FROM crm_webhookdelivery")[0][0])


def _post_all(cluster: Any, pairs: list[tuple[str, str]]) -> tuple[Samples, list[float], list[int | None]]:
    """Posts each pair's two bodies together, one to each web process, IN_FLIGHT requests at a time; returns the
    answer times, each pair's start time (monotonic) and the statuses."""
    import httpx

    local = threading.local()
    pair_started: list[float] = [0.0] * len(pairs)
    latencies: list[float] = []
    statuses: list[int | None] = []
    lock = threading.Lock()

    def one(index: int, body: str, web: int, barrier: threading.Barrier) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client()
        barrier.wait(30)
        if web == index % cluster.web_count:
            pair_started[index] = time.monotonic()
        result = cluster.post_webhook(local.client, body, web)
        with lock:
            latencies.append(result.seconds)
            statuses.append(result.status)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
        futures = []
        for index, (add, status) in enumerate(pairs):
            barrier = threading.Barrier(2)
            futures.append(pool.submit(one, index, add, index % cluster.web_count, barrier))
            futures.append(pool.submit(one, index, status, (index + 1) % cluster.web_count, barrier))
        for future in futures:
            future.result()
    samples = Samples(Sample(latency, None) for latency in latencies)
    samples.wall_seconds = time.perf_counter() - started
    return samples, pair_started, statuses


def setup(size: int) -> None:
    _cluster()


def run_intake(n: int) -> list[Sample]:
    """`n` is ignored: the issue's figure is INTAKE_WEBHOOKS webhooks."""
    cluster = _cluster()
    created = cluster.create_leads(INTAKE_WEBHOOKS // 2, prefix=f"Intake{time.monotonic_ns()}")
    pairs = [cluster.lead_bodies(lead_id) for lead_id, _ in created]
    calls_before = _kommo_api_calls(cluster)
    samples, pair_started, statuses = _post_all(cluster, pairs)
    refused = [s for s in statuses if s is None or not 200 <= s < 300]
    if refused:
        raise RuntimeError(f"{len(refused)} of {len(statuses)} webhooks refused: {sorted(set(map(str, refused)))}")
    # intake-to-lead-in-queue, polled
    started_by_lead = {lead_id: pair_started[i] for i, (lead_id, _) in enumerate(created)}
    seen: dict[int, float] = {}
    deadline = time.monotonic() + IN_QUEUE_DEADLINE
    while len(seen) < len(started_by_lead) and time.monotonic() < deadline:
        pending = [k for k in started_by_lead if k not in seen]
        rows = _query("SELECT kommo_id FROM leads_lead WHERE in_queue AND kommo_id = ANY(%s)", (pending,))
        now = time.monotonic()
        for (kommo_id,) in rows:
            seen[int(kommo_id)] = now - started_by_lead[int(kommo_id)]
        time.sleep(POLL_EVERY)
    queued = Samples(Sample(seconds, None) for seconds in seen.values())
    queued.wall_seconds = max(seen.values(), default=0.0)
    _state["in_queue"] = queued
    _state["in_queue_missing"] = len(started_by_lead) - len(seen)
    _log(f"intake: {len(samples)} webhooks in {samples.wall_seconds:.1f} s; {len(seen)}/{len(started_by_lead)} "
         f"leads in the queue; {_kommo_api_calls(cluster) - calls_before} Kommo API calls; load {os.getloadavg()}")
    return samples


def run_lead_in_queue(n: int) -> list[Sample]:
    if "in_queue" not in _state:
        run_intake(n)
    missing = _state.get("in_queue_missing", 0)
    if missing:
        raise RuntimeError(f"{missing} leads never reached the queue within {IN_QUEUE_DEADLINE:g} s")
    samples: Samples = _state["in_queue"]
    return samples


def run_drain(n: int) -> list[Sample]:
    """`n` is ignored: the issue's figure is DRAIN_WEBHOOKS webhooks after an OUTAGE_SECONDS Redis outage."""
    cluster = _cluster()
    created = cluster.create_leads(DRAIN_WEBHOOKS // 2, prefix=f"Drain{time.monotonic_ns()}")
    pairs = [cluster.lead_bodies(lead_id) for lead_id, _ in created]
    baseline = _max_delivery_id()
    calls_before = _kommo_api_calls(cluster)
    cluster.redis.stop()
    stopped = time.monotonic()
    intake, _, statuses = _post_all(cluster, pairs)
    refused = sum(1 for s in statuses if s is None or not 200 <= s < 300)
    stored = int(_query("SELECT count(*) FROM crm_webhookdelivery WHERE id > %s", (baseline,))[0][0])
    _log(f"drain: Redis down; {len(statuses)} webhooks posted in {intake.wall_seconds:.1f} s "
         f"(p95 {sorted(s.latency for s in intake)[int(0.95 * (len(intake) - 1))] * 1000:.0f} ms), {refused} "
         f"answered non-2xx, {stored} stored")
    remaining = OUTAGE_SECONDS - (time.monotonic() - stopped)
    if remaining > 0:
        time.sleep(remaining)  # the outage's length, not a measurement
    cluster.redis.start()
    back = time.monotonic()
    deadline = back + DRAIN_DEADLINE
    left = stored
    while time.monotonic() < deadline:
        left = int(_query("SELECT count(*) FROM crm_webhookdelivery WHERE id > %s AND state = 'received'",
                          (baseline,))[0][0])
        if left == 0:
            break
        time.sleep(POLL_EVERY)
    drained = time.monotonic() - back
    states = dict(_query("SELECT state, count(*) FROM crm_webhookdelivery WHERE id > %s GROUP BY state",
                         (baseline,)))
    _log(f"drain: {states} {drained:.1f} s after Redis came back, {_kommo_api_calls(cluster) - calls_before} Kommo "
         f"API calls; exits on their own: "
         f"{[(e.name, e.returncode) for e in cluster.unexpected_exits]}; load {os.getloadavg()}")
    if left:
        raise RuntimeError(f"{left} of {stored} deliveries still `received` {DRAIN_DEADLINE:g} s after the outage "
                           f"(processes that exited: {[e.name for e in cluster.unexpected_exits]})")
    samples = Samples([Sample(drained, None)])
    samples.wall_seconds = drained
    samples.requests = stored
    return samples


SCENARIOS = [
    Scenario("scaleout.intake_p95", "Kommo intake-to-queue on 2 web processes, 200 webhooks 16 at a time",
             setup, run_intake, size=0, databases=("postgres",)),
    Scenario("scaleout.intake_to_lead_in_queue", "Kommo webhook to Lead.in_queue with 2 workers (same run)",
             setup, run_lead_in_queue, size=0, databases=("postgres",)),
    Scenario("scaleout.drain_after_outage", "drain 1,000 webhooks stored during a 60 s Redis outage",
             setup, run_drain, size=0, databases=("postgres",)),
]
