"""core.supervisor with real processes: restarts after SIGKILL, start-up failures, Ctrl-C without orphans.

These run tiny Python children (no Django) so they take seconds; tests/ops/test_make_run.py runs the real stack.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from core.supervisor import Backoff, free_port, listener_owner, port_is_free
from tests.ops.helpers import alive, current_pid, descendants, kill_all, occupied_port, started_pids, wait_for

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
# A service with a child of its own (like a worker forking a job): Ctrl-C must reach the grandchild too.
PARENT_OF_SLEEPER = [sys.executable, "-c",
                     "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
                     "'import time; time.sleep(600)']); time.sleep(600)"]


class Run:
    def __init__(self, tmp_path: Path, *units: list[str], grace: float = 5.0) -> None:
        self.log = tmp_path / "supervisor.log"
        self.out = tmp_path / "terminal.txt"
        argv = [sys.executable, "-m", "core.supervisor", "run", "--log", str(self.log), "--grace", str(grace),
                "--banner", "READY"]
        for unit in units:
            argv += [*unit, ";"]
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen(argv, cwd=settings.BASE_DIR, stdout=out, stderr=subprocess.STDOUT)

    def terminal(self) -> str:
        return self.out.read_text()

    def context(self) -> str:
        return f"terminal:\n{self.terminal()}\nsupervisor.log:\n{self.log.read_text() if self.log.exists() else ''}"

    def wait_ready(self) -> None:
        wait_for(lambda: "READY" in self.terminal(), timeout=20, what="the banner", on_timeout=self.context)


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:  # nothing outlives a test, even a failed one
        kill_all(descendants(run.proc.pid))
        run.proc.kill()
        run.proc.wait(10)


def test_backoff_doubles_up_to_the_cap_and_starts_again_after_a_stable_run():
    backoff = Backoff(initial=1.0, cap=30.0, stable_after=60.0)
    # crashing at once, again and again: 1, 2, 4 … capped at 30 s
    assert [backoff.next_delay(uptime=0.5) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    # after a run of a minute or more, the next crash waits 1 s again
    assert backoff.next_delay(uptime=60.0) == 1
    assert backoff.next_delay(uptime=3.0) == 2


@pytest.mark.faults
def test_a_killed_worker_is_restarted_and_its_neighbours_keep_running(tmp_path, runs):
    # given a supervised "worker" and "web"
    run = Run(tmp_path, ["service", "worker", "--", *SLEEPER], ["service", "web", "--", *SLEEPER])
    runs.append(run)
    run.wait_ready()
    worker, web = current_pid(run.log, "worker"), current_pid(run.log, "web")
    assert worker and web
    # when the worker is killed with SIGKILL
    subprocess.run(["kill", "-9", str(worker)], check=True)
    # then it is restarted (a new pid), the terminal and the log say so in one line each, and web was not touched
    restarted = wait_for(lambda: current_pid(run.log, "worker") not in {None, worker} and current_pid(
        run.log, "worker"), what="the worker's restart", on_timeout=run.context)
    assert restarted != worker
    line = "worker exited (code 137, SIGKILL), restarting in 1 s"
    assert f"centralita: {line}" in run.terminal().splitlines()
    assert line in run.log.read_text()
    assert current_pid(run.log, "web") == web and run.proc.poll() is None
    # and a second crash soon after waits longer
    subprocess.run(["kill", "-9", str(restarted)], check=True)
    wait_for(lambda: "worker exited (code 137, SIGKILL), restarting in 2 s" in run.terminal(), what="backoff",
             on_timeout=run.context)


def test_ctrl_c_stops_every_child_and_grandchild(tmp_path, runs):
    # given services, one of which has a child of its own
    run = Run(tmp_path, ["service", "worker", "--", *PARENT_OF_SLEEPER], ["service", "web", "--", *SLEEPER])
    runs.append(run)
    run.wait_ready()
    tree = wait_for(lambda: d if len(d := descendants(run.proc.pid)) >= 3 else None, what="the process tree")
    # when the user presses Ctrl-C
    run.proc.send_signal(signal.SIGINT)
    # then the supervisor stops cleanly and nothing it started is left running
    assert run.proc.wait(20) == 0
    assert run.terminal().rstrip().endswith("centralita: stopped.")
    wait_for(lambda: not any(alive(pid) for pid in tree), timeout=10, what="every child to end")


def test_a_killed_supervisor_takes_its_children_with_it(tmp_path, runs):
    # given a running stack
    run = Run(tmp_path, ["service", "worker", "--", *SLEEPER], ["service", "web", "--", *SLEEPER])
    runs.append(run)
    run.wait_ready()
    children = descendants(run.proc.pid)
    assert len(children) == 2
    # when the supervisor itself is killed with SIGKILL (no chance to clean up)
    run.proc.kill()
    run.proc.wait(10)
    # then its children end too (Linux parent-death signal): no orphans keep the ports or the database
    wait_for(lambda: not any(alive(pid) for pid in children), timeout=10, what="the orphans to end")


def test_a_helper_that_cannot_start_stops_start_up_with_one_clear_line(tmp_path, runs):
    # given a port somebody else already listens on, and a helper that should listen there but never does
    holder = occupied_port()
    port = holder.getsockname()[1]
    try:
        run = Run(tmp_path, ["service", "first", "--", *SLEEPER],
                  ["service", "fake-kommo", "--listen", str(port), "--ready-timeout", "1", "--", *SLEEPER],
                  ["service", "web", "--", *SLEEPER])
        runs.append(run)
        # when the supervisor starts them in order
        code = run.proc.wait(20)
    finally:
        holder.close()
    # then start-up fails with one line naming the helper and the reason, and the helper started first is stopped
    assert code == 1
    assert f"centralita: fake-kommo could not start: port {port} is held by another program after 1 s" in (
        run.terminal().splitlines())
    assert "READY" not in run.terminal() and started_pids(run.log, "web") == []
    assert not alive(started_pids(run.log, "first")[0])


def test_a_failing_setup_task_stops_start_up(tmp_path, runs):
    run = Run(tmp_path, ["service", "first", "--", *SLEEPER],
              ["task", "migrate", "--out", str(tmp_path / "migrate.log"), "--", sys.executable, "-c",
               "raise SystemExit(3)"],
              ["service", "web", "--", *SLEEPER])
    runs.append(run)
    assert run.proc.wait(20) == 1
    assert f"centralita: migrate failed (exit code 3) (see {tmp_path / 'migrate.log'})" in run.terminal().splitlines()
    assert started_pids(run.log, "web") == [] and not alive(started_pids(run.log, "first")[0])


def test_free_port_keeps_a_free_default_and_moves_off_a_taken_one():
    holder = occupied_port()
    taken = holder.getsockname()[1]
    try:
        assert not port_is_free("127.0.0.1", taken)
        moved = free_port("127.0.0.1", taken)
        assert moved != taken and port_is_free("127.0.0.1", moved)
        assert free_port("127.0.0.1", moved) == moved
    finally:
        holder.close()


def test_listener_owner_tells_our_server_from_somebody_elses():
    holder = occupied_port()
    port = holder.getsockname()[1]
    try:
        sleeper = subprocess.Popen(SLEEPER)
        try:
            assert listener_owner(sleeper.pid, port) == "other"
        finally:
            sleeper.kill()
            sleeper.wait()
        import os

        assert listener_owner(os.getpid(), port) == "ours"
    finally:
        holder.close()
    assert listener_owner(sleeper.pid, port) == "none"
