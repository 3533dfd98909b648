"""`make run` (scripts/run.sh + core.supervisor) as a user runs it, with real processes in a temporary DATA_DIR.

Regressions from issue 12: a 20,000-row import held SQLite's write lock past the busy timeout, the worker and the
scheduler died of "database is locked", and run.sh's `wait -n` then stopped the web server too (`kill -9` of the
worker did the same); and the demo fakes' fixed ports 8011/8012 made a second `make run` fail or talk to the
first one's fakes. The stack runs on its own SQLite database whatever the suite's database is, and never touches
the developer's data/.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from core.supervisor import listener_owner
from tests.ops.helpers import (
    alive,
    clean_env,
    current_pid,
    descendants,
    free_port,
    kill_all,
    occupied_port,
    wait_for,
)

BUSY_TIMEOUT = "1"  # seconds; the real default is 20, the tests hold the lock a little longer than this
START_TIMEOUT = 180  # migrations and demo data on a fresh database, on a busy 2-core CI box


@dataclass
class Stack:
    data: Path
    port: int
    proc: subprocess.Popen[bytes]
    out: Path
    occupied: tuple[int, int]  # the Kommo and WhatsApp ports the test held before the start

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data / "supervisor.log"

    def terminal(self) -> str:
        return self.out.read_text(errors="replace")

    def context(self) -> str:
        logs = "".join(f"\n--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(
            self.data.glob("*.log")))
        return f"terminal:\n{self.terminal()[-5000:]}{logs}"

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.data / "centralita.sqlite3", isolation_level=None, timeout=30)

    def value(self, sql: str, *params: object) -> object:
        with self.db() as conn:
            row = conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def heartbeat(self, process: str) -> object:
        return self.value("SELECT seen_at FROM core_heartbeat WHERE process = ?", process)

    def pid(self, name: str) -> int:
        return wait_for(lambda: current_pid(self.log, name), what=f"{name}'s pid", on_timeout=self.context)


def start_stack(data: Path, *, kommo_port: int, whatsapp_port: int) -> Stack:
    port = free_port()
    out = data.parent / f"{data.name}-terminal.txt"
    env = clean_env(DATA_DIR=str(data), PORT=str(port), KOMMO_PORT=str(kommo_port), WHATSAPP_PORT=str(whatsapp_port),
                    CENTRALITA_BOOTSTRAP="0", SQLITE_BUSY_TIMEOUT=BUSY_TIMEOUT)
    for name in ("KOMMO_BASE_URL", "WHATSAPP_BASE_URL", "KOMMO_DEMO", "WHATSAPP_DEMO", "HOST", "SITE_URL",
                 "LOG_CONSOLE_LEVEL", "LOG_FILE"):
        env.pop(name, None)
    with out.open("wb") as terminal:
        proc = subprocess.Popen([str(settings.BASE_DIR / "scripts" / "run.sh")], cwd=settings.BASE_DIR, env=env,
                                stdout=terminal, stderr=subprocess.STDOUT, start_new_session=True)
    stack = Stack(data, port, proc, out, (kommo_port, whatsapp_port))

    def running() -> bool:
        assert proc.poll() is None, f"make run exited with {proc.returncode}\n{stack.context()}"
        return "Centralita is running at" in stack.terminal()

    wait_for(running, timeout=START_TIMEOUT, what="make run's banner", on_timeout=stack.context)
    return stack


def stop_stack(stack: Stack) -> None:
    tree = descendants(stack.proc.pid)
    if stack.proc.poll() is None:
        stack.proc.send_signal(signal.SIGINT)
        try:
            stack.proc.wait(30)
        except subprocess.TimeoutExpired:
            stack.proc.kill()
    kill_all({pid for pid in tree if alive(pid)})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One `make run` for the module, started while somebody else holds the demo fakes' ports."""
    holders = [occupied_port(), occupied_port()]
    try:
        running = start_stack(tmp_path_factory.mktemp("run") / "data",
                              kommo_port=holders[0].getsockname()[1], whatsapp_port=holders[1].getsockname()[1])
        yield running
        stop_stack(running)
    finally:
        for holder in holders:
            holder.close()


def force_due(stack: Stack, job: str, conn: sqlite3.Connection | None = None) -> None:
    """Make a periodic job due now, as if its slot had come (the scheduler claims it at its next tick)."""
    sql = "UPDATE core_periodicrun SET next_run_at = '2000-01-01 00:00:00' WHERE name = ?"
    if conn is not None:
        conn.execute(sql, (job,))
    else:
        with stack.db() as own:
            own.execute(sql, (job,))


def test_demo_fakes_move_off_occupied_ports_and_the_demo_connections_follow(stack):
    kommo_taken, whatsapp_taken = stack.occupied
    # given the default ports of both fakes were taken when make run started
    lines = stack.terminal().splitlines()
    kommo_line = next(line for line in lines if f"Port {kommo_taken} was taken: the demo Kommo listens on" in line)
    whatsapp_line = next(line for line in lines if f"Port {whatsapp_taken} was taken: the demo WhatsApp" in line)
    kommo_port = int(kommo_line.rsplit(" ", 1)[1].rstrip("."))
    whatsapp_port = int(whatsapp_line.rsplit(" ", 1)[1].rstrip("."))
    # then each fake listens on the port the banner names, held by the very process the supervisor started
    assert listener_owner(stack.pid("fake-kommo"), kommo_port) == "ours"
    assert listener_owner(stack.pid("fake-whatsapp"), whatsapp_port) == "ours"
    # and the demo connections stored in the database point there, not at somebody else's server
    assert stack.value("SELECT base_url FROM crm_kommoaccount") == f"http://127.0.0.1:{kommo_port}"
    assert stack.value("SELECT base_url FROM whatsapp_whatsappnumber") == f"http://127.0.0.1:{whatsapp_port}"


@pytest.mark.faults
def test_killed_worker_and_scheduler_are_restarted_while_the_web_server_keeps_answering(stack):
    # given the running stack
    worker, scheduler, web = stack.pid("worker"), stack.pid("scheduler"), stack.pid("web")
    # when the worker and the scheduler are killed with SIGKILL
    os.kill(worker, signal.SIGKILL)
    os.kill(scheduler, signal.SIGKILL)
    # then both are restarted, each with one line on the terminal, while the web server answers throughout
    answers: list[int] = []

    def restarted() -> bool:
        answers.append(httpx.get(f"{stack.base}/healthz", timeout=5).status_code)
        return current_pid(stack.log, "worker") not in {None, worker} and current_pid(
            stack.log, "scheduler") not in {None, scheduler}

    wait_for(restarted, timeout=60, what="the restarts", on_timeout=stack.context)
    assert set(answers) == {200}
    assert stack.pid("web") == web and stack.proc.poll() is None
    terminal = stack.terminal()
    assert "centralita: worker exited (code 137, SIGKILL), restarting in" in terminal
    assert "centralita: scheduler exited (code 137, SIGKILL), restarting in" in terminal
    assert "worker exited (code 137, SIGKILL)" in stack.log.read_text()
    # and the new pair works: a due job is enqueued by the new scheduler and run by the new worker
    before = stack.heartbeat("queue")
    force_due(stack, "queue_probe")
    wait_for(lambda: stack.heartbeat("queue") != before, timeout=60, what="the queue probe job",
             on_timeout=stack.context)


@pytest.mark.faults
def test_worker_and_scheduler_survive_the_database_locked_past_the_busy_timeout(stack):
    # given the running worker and scheduler
    worker, scheduler = stack.pid("worker"), stack.pid("scheduler")
    worker_log, scheduler_log = stack.data / "worker.log", stack.data / "scheduler.log"
    warned = (worker_log.read_text().count("worker: database unavailable"),
              scheduler_log.read_text().count("scheduler: database or queue unavailable"))
    before = stack.heartbeat("queue")
    # when another process (a long import) holds SQLite's write lock for longer than the busy timeout
    lock = stack.db()
    try:
        lock.execute("BEGIN IMMEDIATE")
        force_due(stack, "queue_probe", lock)  # due as soon as the lock is released
        wait_for(lambda: worker_log.read_text().count("worker: database unavailable") > warned[0]
                 and scheduler_log.read_text().count("scheduler: database or queue unavailable") > warned[1],
                 timeout=60, what="both to hit the lock", on_timeout=stack.context)
    finally:
        lock.execute("COMMIT")
        lock.close()
    # then neither was restarted, and once the lock is gone the scheduler enqueues the due job and the worker runs it
    wait_for(lambda: stack.heartbeat("queue") != before, timeout=60, what="the queue probe job",
             on_timeout=stack.context)
    assert (current_pid(stack.log, "worker"), current_pid(stack.log, "scheduler")) == (worker, scheduler)
    assert "exited" not in stack.log.read_text().split(f"worker started (pid {worker})")[-1]


def test_ctrl_c_stops_every_process_of_make_run(stack):
    """Last in this module on purpose: it stops the module's stack (pytest runs a module's tests in file order)."""
    # given the running stack: two fakes, worker, scheduler, web
    tree = descendants(stack.proc.pid)
    assert {stack.pid(name) for name in ("fake-kommo", "fake-whatsapp", "worker", "scheduler", "web")} <= tree
    # when the user presses Ctrl-C
    stack.proc.send_signal(signal.SIGINT)
    # then make run stops cleanly and leaves no process behind
    assert stack.proc.wait(60) == 0
    assert stack.terminal().rstrip().endswith("centralita: stopped.")
    wait_for(lambda: not any(alive(pid) for pid in tree), timeout=30, what="every process to end",
             on_timeout=lambda: str([pid for pid in tree if alive(pid)]))
