"""The scale-out proof of issue 13: `python -m tests.scaleout.run` (`make scaleout-test`, .ci/run's PostgreSQL + Redis
pass). Exit 0 when the guide's scale mode held, 1 with a summary of what did not.

Scenario, on a `Cluster` (2 web, 2 workers, 1 scheduler, fresh PostgreSQL database, own Redis, fake Kommo):

1. 100 leads are created in the fake Kommo in "Para Llamar" (each with its own contact).
2. For each lead its `leads[add]` and `leads[status]` webhooks are posted at the same moment (a barrier), one to
   each web process (alternating which gets which), 16 requests in flight, paced at PAIRS_PER_SECOND so that the
   faults below land while work is going on. A webhook answered non-2xx is posted again later, as Kommo retries.
3. After KILL_AFTER pairs one worker is SIGKILLed (the harness restarts it after RESTART_SEC, as systemd would).
4. After OUTAGE_AFTER pairs Redis is stopped for OUTAGE_SECONDS and started again on the same port.
5. Throughout, /readyz is polled on both web processes every 0.5 s.

Then, polling with a generous deadline (never sleep-and-measure), until every lead is in or the deadline passes:
every lead exists exactly once (leads.Lead by kommo_id) and is in the queue, every contact is one customer
(kommo_contact_id), no Kommo WebhookDelivery is left `received` and none is `failed`, every webhook was accepted,
workers and scheduler are alive with no exit of their own, and /readyz answered 200 within 2 s every time.

Options: `--worker-command "manage.py rqworker default crm …"` runs today's guide command instead of
`manage.py run_worker`; `--rqworker` is a shortcut for it; `--keep-logs` keeps the processes' logs.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx

from tests.scaleout.cluster import RESTART_SEC, RQWORKER_COMMAND, RUN_WORKER_COMMAND, Cluster, PostResult, wait_until

LEADS = 100
IN_FLIGHT = 16
PAIRS_PER_SECOND = 5.0  # 100 pairs over ~20 s, so the kill and the outage land mid-way
KILL_AFTER = 30  # pairs posted before one worker is SIGKILLed
OUTAGE_AFTER = 50  # pairs posted before Redis stops
OUTAGE_SECONDS = 20.0
SETTLE_DEADLINE = 180.0  # seconds after the outage for everything to be processed
READYZ_LIMIT = 2.0
POST_RETRIES = 12  # a non-2xx webhook is posted again, as Kommo retries (its schedule compressed to seconds)
POST_RETRY_EVERY = 5.0


def post_pairs(cluster: Cluster, pairs: list[tuple[str, str]], *, in_flight: int, per_second: float,
               on_progress: Any = None) -> list[PostResult]:
    """Posts each (add, status) pair at the same moment to the two web processes, `in_flight` requests at a time,
    starting pairs at `per_second` (0 = as fast as possible); `on_progress(pairs_started)` is called as it goes."""
    results: list[PostResult] = []
    lock = threading.Lock()
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client()
        return local.client

    def one(body: str, web: int, barrier: threading.Barrier) -> None:
        barrier.wait(30)  # add and status leave together, as Kommo sends them
        result = cluster.post_webhook(client(), body, web, retries=POST_RETRIES, retry_every=POST_RETRY_EVERY)
        with lock:
            results.append(result)

    webs = cluster.web_count
    futures: list[Future[None]] = []
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(2, in_flight)) as pool:
        for index, (add, status) in enumerate(pairs):
            if per_second > 0:
                delay = started + index / per_second - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            barrier = threading.Barrier(2)
            futures.append(pool.submit(one, add, index % webs, barrier))
            futures.append(pool.submit(one, status, (index + 1) % webs, barrier))
            if on_progress is not None:
                on_progress(index + 1)
        for future in futures:
            future.result()
    return results


def summarize_probes(cluster: Cluster) -> dict[str, Any]:
    probes = cluster.probes()
    slow = [p for p in probes if p.seconds > READYZ_LIMIT or p.status is None]
    not_ok = [p for p in probes if p.status != 200]
    return {
        "count": len(probes),
        "max_seconds": max((p.seconds for p in probes), default=0.0),
        "slow": slow,
        "not_ok": not_ok,
        "statuses": Counter(p.status for p in probes),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.scaleout.run", description=__doc__.split("\n")[0])
    parser.add_argument("--worker-command", default=" ".join(RUN_WORKER_COMMAND),
                        help="the worker command line (default: %(default)s)")
    parser.add_argument("--rqworker", action="store_true", help="use the guide's rqworker command before issue 13")
    parser.add_argument("--leads", type=int, default=LEADS)
    parser.add_argument("--outage", type=float, default=OUTAGE_SECONDS, help="seconds Redis stays down")
    parser.add_argument("--deadline", type=float, default=SETTLE_DEADLINE)
    parser.add_argument("--redis-loses-data", action="store_true",
                        help="the outage is a crash of a Redis without persistence (queued and started jobs lost)")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    worker_command = list(RQWORKER_COMMAND) if args.rqworker else shlex.split(args.worker_command)
    kill_after = max(1, args.leads * KILL_AFTER // LEADS)
    outage_after = max(1, args.leads * OUTAGE_AFTER // LEADS)

    run_started = time.monotonic()
    failures: list[str] = []
    with Cluster(worker_command=worker_command, redis_loses_data=args.redis_loses_data,
                 keep_logs=args.keep_logs) as cluster:
        # This process reads the cluster's database through the ORM, with the cluster's settings.
        os.environ.update(cluster.env)
        import django

        django.setup()
        from crm.models import WebhookDelivery
        from customers.models import Customer
        from leads.models import Lead

        created = cluster.create_leads(args.leads)
        pairs = [cluster.lead_bodies(lead_id) for lead_id, _ in created]
        lead_ids = {lead_id for lead_id, _ in created}
        contact_ids = {contact_id for _, contact_id in created}
        cluster.say(f"{len(created)} leads in the fake Kommo; worker: {' '.join(worker_command)}")

        cluster.start_prober()
        events: dict[str, float] = {}
        outage_done = threading.Event()

        def outage() -> None:
            cluster.redis.stop()
            events["redis_stopped"] = cluster.elapsed()
            cluster.say(f"Redis stopped for {args.outage:g} s")
            time.sleep(args.outage)  # the fault's length, not a measurement
            cluster.redis.start()
            events["redis_started"] = cluster.elapsed()
            cluster.say("Redis started again")
            outage_done.set()

        def progress(done: int) -> None:
            if done == kill_after:
                cluster.kill_worker(0)
                events["worker_killed"] = cluster.elapsed()
            if done == outage_after:
                threading.Thread(target=outage, daemon=True).start()

        post_started = time.monotonic()
        results = post_pairs(cluster, pairs, in_flight=IN_FLIGHT, per_second=PAIRS_PER_SECOND,
                             on_progress=progress)
        post_seconds = time.monotonic() - post_started
        cluster.say(f"{len(results)} webhooks posted in {post_seconds:.1f} s")
        outage_done.wait(args.outage + 60)

        def settled() -> bool:
            leads = Lead.objects.filter(kommo_id__in=lead_ids).count()
            waiting = WebhookDelivery.objects.filter(state=WebhookDelivery.State.RECEIVED).count()
            return leads == len(lead_ids) and waiting == 0

        met, waited = wait_until(settled, args.deadline, every=1.0)
        cluster.say(f"{'settled' if met else 'NOT settled'} {waited:.1f} s after Redis came back")
        cluster.stop_prober()

        # --- the asserts ------------------------------------------------------------------------------------
        accepted = [r for r in results if r.status is not None and 200 <= r.status < 300]
        refused = [r for r in results if r not in accepted]
        retried = [r for r in results if r.attempts > 1]
        if refused:
            failures.append(f"{len(refused)} webhooks never accepted after {POST_RETRIES} retries: "
                            f"{Counter((r.status, r.error[:60]) for r in refused).most_common(5)}")
        found = Counter(Lead.objects.filter(kommo_id__in=lead_ids).values_list("kommo_id", flat=True))
        missing = sorted(lead_ids - set(found))
        doubled = sorted(k for k, n in found.items() if n > 1)
        if missing:
            failures.append(f"{len(missing)} of {len(lead_ids)} leads missing (e.g. {missing[:5]})")
        if doubled:
            failures.append(f"{len(doubled)} leads stored more than once (e.g. {doubled[:5]})")
        out_of_queue = Lead.objects.filter(kommo_id__in=lead_ids, in_queue=False).count()
        if out_of_queue:
            failures.append(f"{out_of_queue} leads stored but not in the queue")
        customers = Counter(Customer.objects.filter(kommo_contact_id__in=contact_ids)
                            .values_list("kommo_contact_id", flat=True))
        missing_customers = len(contact_ids - set(customers))
        if missing_customers:
            failures.append(f"{missing_customers} of {len(contact_ids)} customers missing")
        if any(n > 1 for n in customers.values()):
            failures.append("a Kommo contact became more than one customer")
        states = Counter(WebhookDelivery.objects.filter(source="kommo").values_list("state", flat=True))
        if states.get(WebhookDelivery.State.RECEIVED, 0):
            failures.append(f"{states[WebhookDelivery.State.RECEIVED]} deliveries left `received`")
        if states.get(WebhookDelivery.State.FAILED, 0):
            errors = Counter(WebhookDelivery.objects.filter(state=WebhookDelivery.State.FAILED)
                             .values_list("error", flat=True))
            failures.append(f"{states[WebhookDelivery.State.FAILED]} deliveries `failed`: "
                            f"{[e[:120] for e, _ in errors.most_common(3)]}")
        failures.extend(f"{exit_.name} exited on its own with {exit_.returncode} at {exit_.at:.1f}s"
                        for exit_ in cluster.unexpected_exits)
        dead = [p.name for p in cluster.procs if not p.alive()]
        if dead:
            failures.append(f"not running at the end: {', '.join(dead)}")
        probes = summarize_probes(cluster)
        if probes["slow"]:
            failures.append(f"/readyz took over {READYZ_LIMIT:g} s or did not answer {len(probes['slow'])} times "
                            f"(max {probes['max_seconds']:.2f} s)")
        if probes["not_ok"]:
            first, last = probes["not_ok"][0].at, probes["not_ok"][-1].at
            failures.append(f"/readyz answered non-200 {len(probes['not_ok'])} of {probes['count']} times "
                            f"({dict(probes['statuses'])}, from {first:.1f}s to {last:.1f}s)")

        post_latencies = sorted(r.seconds for r in accepted)
        p95 = post_latencies[int(0.95 * (len(post_latencies) - 1))] if post_latencies else 0.0
        print("\n=== scale-out proof (issue 13) ===")
        outage_kind = "loses its data (crash, no persistence)" if args.redis_loses_data else \
            "keeps its data (AOF, SIGTERM)"
        print(f"worker command: {' '.join(worker_command)}; Redis outage {outage_kind}")
        print(f"webhooks: {len(results)} posted in {post_seconds:.1f} s, {len(accepted)} accepted, "
              f"{len(retried)} needed a retry ({sum(r.attempts for r in results)} POSTs in all), intake p95 "
              f"{p95 * 1000:.0f} ms")
        print(f"faults: worker0 SIGKILLed at {events.get('worker_killed', 0):.1f}s (restarted after {RESTART_SEC:g} s: "
              f"{len(cluster.restarts)}), Redis down {events.get('redis_stopped', 0):.1f}s–"
              f"{events.get('redis_started', 0):.1f}s")
        print(f"settled: {met} ({waited:.1f} s after the outage; deadline {args.deadline:g} s)")
        print(f"leads: {len(found)}/{len(lead_ids)} (in queue {len(found) - out_of_queue}); customers: "
              f"{len(customers)}/{len(contact_ids)}; deliveries: {dict(states)}")
        print(f"/readyz: {probes['count']} probes, max {probes['max_seconds'] * 1000:.0f} ms, "
              f"statuses {dict(probes['statuses'])}")
        print(f"processes alive: {', '.join(p.name for p in cluster.procs if p.alive())}; "
              f"exits on their own: {len(cluster.unexpected_exits)}")
        print(f"total {time.monotonic() - run_started:.0f} s")
        leftovers = WebhookDelivery.objects.exclude(state=WebhookDelivery.State.PROCESSED).order_by("id")
        for delivery in leftovers[:20]:
            print(f"  delivery {delivery.pk} {delivery.source} {delivery.state}: attempts {delivery.attempts}, "
                  f"received {delivery.received_at:%H:%M:%S}, lease/processed "
                  f"{delivery.processed_at and f'{delivery.processed_at:%H:%M:%S}'}, error {delivery.error[:160]!r}")
        if failures:
            print("\nFAILED:\n  - " + "\n  - ".join(failures))
            cluster.print_tails(25)
        else:
            print("\nOK: every lead once, nothing left received, workers and scheduler alive, /readyz within "
                  f"{READYZ_LIMIT:g} s throughout")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
