"""Issue 13: scale mode's worker (`manage.py run_worker` with RQ) against a Redis of its own that the test stops and
starts (fakes.services.TempRedis: the real redis-server), and a worker killed with SIGKILL in the middle of a job.

Every wait is a poll with a generous deadline (tests.processes.wait_for); nothing asserts on elapsed time. The
"within a minute" of the reclaim is measured by the scale-out run (tests/scaleout) and recorded in
docs/benchmarks.md, not asserted here.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from core.models import Heartbeat
from fakes.services import TempRedis
from tests.ops.helpers import clean_env
from tests.processes import kill_hard, stop, subprocess_database_url, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def rq_settings(url: str) -> dict[str, object]:
    return {"TASKS": {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": settings.TASK_QUEUES}},
            "RQ_QUEUES": {name: {"URL": url, "DEFAULT_TIMEOUT": 600} for name in settings.TASK_QUEUES}}


@contextmanager
def rq_worker(name: str, redis_url: str, tmp: Path, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = tmp / f"rq-worker-{name}.log"
    database_url = env.pop("DATABASE_URL", subprocess_database_url())
    environment = clean_env(DATABASE_URL=database_url, REDIS_URL=redis_url, TASK_BACKEND="rq",
                            CHANNEL_LAYER="memory", DATA_DIR=str(tmp), MEDIA_ROOT=str(settings.MEDIA_ROOT), **env)
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "manage.py", "run_worker"], cwd=settings.BASE_DIR, env=environment,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc, log
    finally:
        stop(proc)


def worker_row(proc: subprocess.Popen[bytes]) -> Heartbeat | None:
    return Heartbeat.objects.filter(kind="worker", pid=proc.pid).first()


def probe_seen() -> object:
    return Heartbeat.objects.filter(process="queue").values_list("seen_at", flat=True).first()


def test_a_worker_rides_out_redis_being_down_at_start_and_again_later(tmp_path):
    from core.tasks import queue_probe

    redis = TempRedis()
    try:
        # given Redis is down when the worker starts (systemd would give up on a worker that exits at once)
        with rq_worker("outage", redis.url, tmp_path) as (proc, log):
            # then it stays up, says in its log that it waits, and its own heartbeat says so
            wait_for(lambda: log.read_text().count("restarting the RQ worker") >= 2, "two restart attempts", log)
            assert proc.poll() is None, log.read_text()
            row = wait_for(lambda: worker_row(proc), "the worker's own heartbeat", log)
            assert row.state == "waiting"
            # when Redis comes up, the worker takes jobs
            redis.start()
            wait_for(lambda: getattr(worker_row(proc), "state", "") == "running", "the heartbeat to say running", log)
            with override_settings(**rq_settings(redis.url)):
                queue_probe.enqueue()
            wait_for(probe_seen, "the first job to run", log)
            first = probe_seen()
            # when Redis goes away again and comes back (the same port, its data lost: a restart without persistence)
            redis.stop()
            wait_for(lambda: getattr(worker_row(proc), "state", "") == "waiting", "the heartbeat to say waiting", log)
            redis.start()
            wait_for(lambda: getattr(worker_row(proc), "state", "") == "running", "the heartbeat to say running", log)
            with override_settings(**rq_settings(redis.url)):
                queue_probe.enqueue()
            # then the same process runs the next job: it never exited
            wait_for(lambda: probe_seen() != first, "the job after the outage to run", log)
            assert proc.poll() is None
        # and a stop request ends it cleanly, its row marked stopped (no silence alert for it)
        assert proc.returncode == 0, log.read_text()
        assert Heartbeat.objects.get(pid=proc.pid, kind="worker").state == "stopped"
    finally:
        redis.stop()


def test_the_job_of_a_worker_killed_with_sigkill_is_run_again_by_another_worker(tmp_path):
    from core.tasks import queue_probe

    points = tmp_path / "failpoints"
    points.mkdir()
    with TempRedis() as redis:
        # given two workers; the first one will stop in the middle of the next probe job
        with rq_worker("doomed", redis.url, tmp_path, CENTRALITA_FAILPOINTS="queue_probe.running",
                       CENTRALITA_FAILPOINT_DIR=str(points)) as (doomed, doomed_log):
            wait_for(lambda: getattr(worker_row(doomed), "state", "") == "running", "the first worker", doomed_log)
            with override_settings(**rq_settings(redis.url)):
                queue_probe.enqueue()
            wait_for((points / "queue_probe.running.reached").exists, "the job to start", doomed_log)
            # when it is killed with SIGKILL mid-job (its job stays "started" in RQ, forever as far as RQ knows)
            kill_hard(doomed)
        assert probe_seen() is None
        with rq_worker("survivor", redis.url, tmp_path) as (survivor, log):
            # then the surviving worker notices the dead worker's job and runs it again
            wait_for(probe_seen, "the abandoned job to run again", log)
            assert "of dead worker centralita@" in log.read_text()
            assert survivor.poll() is None
        # and the killed worker's heartbeat went quiet without a clean stop (the system page will flag it)
        assert Heartbeat.objects.get(pid=doomed.pid, kind="worker").state == "running"


def test_a_worker_whose_database_connections_were_cut_runs_the_next_job(tmp_path):
    """PostgreSQL restarted, or a proxy dropped idle connections: the worker's next job gets a working connection."""
    import psycopg
    from django.db import connection

    from core.tasks import queue_probe

    if connection.vendor != "postgresql":
        pytest.skip("cutting a server's connections is a PostgreSQL test (SQLite has no server)")
    tagged = f"{subprocess_database_url()}?application_name=centralita-cut-test"  # its connections, not ours
    with TempRedis() as redis, rq_worker("cut", redis.url, tmp_path, DATABASE_URL=tagged) as (proc, log):
        # given a worker that ran a job (its connection is open, idle, in its pool)
        wait_for(lambda: getattr(worker_row(proc), "state", "") == "running", "the worker", log)
        with override_settings(**rq_settings(redis.url)):
            queue_probe.enqueue()
        wait_for(probe_seen, "the first job", log)
        first = probe_seen()
        # when the server cuts every connection of that process (its pool, its heartbeat thread)
        with psycopg.connect(subprocess_database_url(), autocommit=True) as admin:
            (cut,) = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE application_name = 'centralita-cut-test'").fetchone() or (0,)
        # and another job comes
        with override_settings(**rq_settings(redis.url)):
            queue_probe.enqueue()
        # then it runs, on a fresh connection, by the same process
        wait_for(lambda: probe_seen() != first, "the job after the cut", log)
        assert proc.poll() is None
        assert cut >= 1
