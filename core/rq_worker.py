"""Scale mode's worker: RQ's SimpleWorker, kept running through Redis and PostgreSQL outages, and the reclaim of jobs
whose worker died.

RQ's own loop quits on a Redis error outside its dequeue call ("found an unhandled exception, quitting" on a
ConnectionError in the heartbeat), and refuses to start while Redis is down; under systemd's default start limit a
worker would then stay dead after a 20 s blip. `ResilientWorker.run()` starts a fresh RQ worker whenever the last
one stopped without being asked to, after a capped backoff, and only returns on SIGTERM/SIGINT.

A worker killed with SIGKILL leaves its job in RQ's started registry until RQ declares it abandoned (the job's
timeout plus a minute, ~11 minutes here) and then fails it, never retrying. Our jobs are idempotent by design, so
they are run again instead: every worker refreshes a liveness key `centralita:worker-alive:<name>` (TTL ALIVE_TTL)
from its heartbeat thread, and one worker at a time (a short Redis lock) re-enqueues started jobs whose worker's
key has expired — within ALIVE_TTL + RECLAIM_EVERY seconds (well under a minute). Right after Redis comes back every
key has expired, so no job is reclaimed until this worker has seen Redis up for ALIVE_TTL: by then every live worker
has refreshed its key. Only workers named by this module are judged (an operator's plain `rqworker` has no key).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from types import FrameType
from typing import Any

import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.queue import Queue
from rq.utils import import_attribute, now
from rq.worker import SimpleWorker

from core.heartbeats import BEAT_SECONDS, BeatThread, identity, stopped
from core.models import Heartbeat
from core.outages import DATABASE_DOWN, DEPENDENCY_DOWN, REDIS_DOWN
from core.supervisor import Backoff, reset_connections

logger = logging.getLogger("core.worker")
ALIVE_PREFIX = "centralita:worker-alive:"
RECLAIM_LOCK = "centralita:reclaim-lock"
NAME_PREFIX = "centralita@"
ALIVE_TTL = 20  # seconds; refreshed every BEAT_SECONDS (5 s)
RECLAIM_EVERY = 15.0
JOB_CLASS = "django_tasks_rq.Job"


def redis_client() -> redis.Redis:
    """A client of our own for liveness keys and the reclaim, with short timeouts (never RQ's blocking one)."""
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def reclaim_abandoned(conn: redis.Redis, queue_names: list[str], *, me: str = "") -> list[str]:
    """Re-enqueues started jobs whose worker (one of ours) no longer refreshes its liveness key; returns their ids.
    One caller at a time across all workers (RECLAIM_LOCK)."""

    if not conn.set(RECLAIM_LOCK, me or "reclaim", nx=True, ex=int(RECLAIM_EVERY)):
        return []
    job_class: Any = import_attribute(JOB_CLASS)
    reclaimed = []
    for name in queue_names:
        queue = Queue(name, connection=conn, job_class=job_class)
        registry = queue.started_job_registry
        for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
            started_at = None
            try:
                execution = Execution.fetch(execution_id, job_id, conn)
                worker_name, started_at = execution.worker_name, execution.created_at
            except ValueError:  # the execution's own record is gone: judge by the job's
                execution, worker_name = Execution(id=execution_id, job_id=job_id, connection=conn), ""
            job = queue.fetch_job(job_id)
            worker_name = worker_name or (job.worker_name if job is not None else "") or ""
            if not worker_name.startswith(NAME_PREFIX) or worker_name == me or conn.exists(ALIVE_PREFIX + worker_name):
                continue
            if started_at is not None and (now() - started_at).total_seconds() < ALIVE_TTL:
                continue  # started moments ago: its worker's key may not be written yet
            # Queued first, then out of the started registry: a crash in between queues it twice at worst (the next
            # reclaim sees it again), never loses it.
            if job is not None:
                queue.enqueue_job(job, at_front=True)
            registry.remove_execution(execution)
            if job is not None:
                reclaimed.append(job_id)
                logger.warning("worker: job %s (%s) of dead worker %s re-enqueued", job_id, job.func_name,
                               worker_name)
    return reclaimed


class CentralitaWorker(SimpleWorker):
    """RQ's SimpleWorker (jobs in this process, no fork per job) that hands each job a working database connection.

    Jobs run in the worker's main thread, and nothing else returns that thread's connection between jobs: after
    PostgreSQL restarted (or a proxy dropped an idle connection) every later job would fail on the dead one. Before
    each job the connection goes back to the pool, whose `check` hands out only working ones (config/settings.py);
    if the database cannot be reached at all, the job goes back to the front of its queue and the worker stops so
    that ResilientWorker waits with backoff instead of failing the whole queue job after job."""

    database_lost = False

    def execute_job(self, job: Any, queue: Any) -> None:
        close_old_connections()
        try:
            connection.ensure_connection()
        except (OperationalError, InterfaceError):
            queue.enqueue_job(job, at_front=True)
            self.database_lost = True
            raise
        try:
            super().execute_job(job, queue)
        finally:
            close_old_connections()


class ResilientWorker:
    def __init__(self, queue_names: list[str]) -> None:
        self.queue_names = queue_names
        self.generation = 0
        self.current: Any = None  # the RQ worker running now, if any
        self.name = ""
        self.stop_requested = False
        self.pause = threading.Event()
        self.redis_up_since: float | None = None
        self.next_reclaim = 0.0
        self.conn = redis_client()

    # --- liveness in Redis, on a thread of its own (a slow database must not stop it) --------------------------

    def state(self) -> str:
        return Heartbeat.State.RUNNING if self.current is not None and self.redis_up_since else \
            Heartbeat.State.WAITING

    def mark_alive(self) -> None:
        if self.name:
            self.conn.set(ALIVE_PREFIX + self.name, "1", ex=ALIVE_TTL)
        else:
            self.conn.ping()

    def redis_duties(self) -> None:
        try:
            self.mark_alive()
        except REDIS_DOWN:
            self.redis_up_since = None
            return
        now = time.monotonic()
        if self.redis_up_since is None:
            self.redis_up_since = now
        if now - self.redis_up_since >= ALIVE_TTL and now >= self.next_reclaim:
            self.next_reclaim = now + RECLAIM_EVERY
            try:
                reclaim_abandoned(self.conn, self.queue_names, me=self.name)
            except REDIS_DOWN:
                self.redis_up_since = None

    def _redis_loop(self, halt: threading.Event) -> None:
        while not halt.is_set():
            try:
                self.redis_duties()
            except Exception:  # the loop must go on whatever one round does
                logger.warning("worker: liveness round failed", exc_info=True)
            halt.wait(BEAT_SECONDS)

    # --- the main loop ---------------------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only outside RQ's work loop (which installs handlers of its own), or while it bootstraps: its loop checks
        # `_stop_requested` before each dequeue.
        self.stop_requested = True
        self.pause.set()
        if self.current is not None:
            self.current._stop_requested = True

    def _install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _new_worker(self) -> Any:
        from django_rq.workers import get_worker  # noqa: PLC0415 - django_rq is an installed app only with the Redis queue

        self.generation += 1
        self.name = f"{NAME_PREFIX}{identity()}:{self.generation}"
        worker = get_worker(*self.queue_names, job_class=JOB_CLASS, worker_class="core.rq_worker.CentralitaWorker",
                            name=self.name,
                            maintenance_interval=60)
        self.mark_alive()  # before its first job: a peer must never see a running job without its key
        return worker

    @staticmethod
    def _forget(worker: Any) -> None:
        """What RQ's teardown leaves behind when Redis is gone: its pubsub thread and connection."""
        with contextlib.suppress(Exception):
            if getattr(worker, "pubsub_thread", None) is not None:
                worker.pubsub_thread.stop()
            if getattr(worker, "pubsub", None) is not None:
                worker.pubsub.close()

    def run(self) -> None:
        self._install_signals()
        beats = BeatThread(Heartbeat.Kind.WORKER, state=self.state)
        beats.start()
        halt = threading.Event()
        liveness = threading.Thread(target=self._redis_loop, args=(halt,), name="worker-liveness", daemon=True)
        liveness.start()
        backoff = Backoff(initial=1.0, cap=30.0, stable_after=60.0)
        logger.info("worker started (rq: %s)", ", ".join(self.queue_names))
        try:
            while not self.stop_requested:
                started = time.monotonic()
                worker, database_lost = None, False
                try:
                    worker = self._new_worker()
                    self.current = worker
                    if not self.stop_requested:  # a SIGTERM while it was being built
                        worker.work(with_scheduler=True, logging_level="INFO")
                    database_lost = worker.database_lost
                except StopRequested:  # RQ's own handler, between its loop and ours
                    self.stop_requested = True
                except DEPENDENCY_DOWN as exc:
                    logger.warning("worker: Redis or the database unavailable (%s)", exc)
                    database_lost = isinstance(exc, DATABASE_DOWN)
                finally:
                    self.current = None
                    self._install_signals()  # RQ's work() replaced them with its own
                    if worker is not None:
                        self._forget(worker)
                if self.stop_requested or (worker is not None and worker._shutdown_requested_date is not None):
                    break
                # work() returned or raised without a stop request: it gave up on an outage. Start a new one.
                delay = backoff.next_delay(time.monotonic() - started)
                logger.warning("worker: restarting the RQ worker in %g s", delay)
                if database_lost:  # a Redis-only outage leaves the database pool alone (the heartbeat thread uses it)
                    reset_connections()
                self.pause.wait(delay)
        finally:
            halt.set()
            beats.stop()
            liveness.join(timeout=BEAT_SECONDS + 5)
            stopped(Heartbeat.Kind.WORKER)
            logger.info("worker stopped")
