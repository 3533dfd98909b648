"""`make run`'s process supervisor: starts the stack in order, then keeps every long-running process alive.

scripts/run.sh builds the list of units and execs `python -m core.supervisor run … UNIT ; UNIT ; …`:

* `service NAME [options] -- COMMAND…` runs until stopped. At start-up the supervisor waits until it is ready
  (`--listen PORT`: the port is held by this very process, not by another program; `--ready URL`: the URL answers
  2xx); a service that cannot start stops the whole start-up with one line naming it and its log. Once running, a
  service that exits for any reason (crash, `kill -9`, "database is locked") is restarted after 1 s, 2 s, 4 s …
  (at most 30 s; back to 1 s once it has stayed up 60 s). Every exit and restart is one line on the terminal and
  in `--log`; the other services keep running.
* `task NAME [options] -- COMMAND…` runs once, in order, and must succeed (migrations, demo data).

Ctrl-C or SIGTERM stops every child: SIGTERM to its process group, SIGKILL after `--grace` seconds. Children run
in sessions of their own, so the terminal's Ctrl-C reaches the supervisor only and the shutdown is orderly; they
also get SIGTERM if the supervisor itself is killed (Linux parent-death signal), so nothing is orphaned.

Standard library only, and no Django: it must run before the database exists and survive when settings are broken.
It is Python rather than bash because per-process backoff, process groups and "is that port held by our child"
are a few lines here and brittle in a shell (the bash version stopped everything on the first `wait -n`).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from django.db import connections

PREFIX = "centralita:"
PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.1


@dataclass
class Backoff:
    """Restart delays: `initial`, doubled per consecutive failure up to `cap`; a run of at least `stable_after`
    seconds counts as healthy and starts the sequence again."""

    initial: float = 1.0
    cap: float = 30.0
    stable_after: float = 60.0
    failures: int = 0

    def next_delay(self, uptime: float) -> float:
        if uptime >= self.stable_after:
            self.failures = 0
        delay = min(self.cap, self.initial * 2**self.failures)
        self.failures += 1
        return delay


@dataclass
class Unit:
    kind: str  # "service" | "task"
    name: str
    argv: list[str]
    out: str | None = None  # append stdout to this file (default: the terminal)
    err: str | None = None  # append stderr to this file, or "out" for the same file as stdout (default: terminal)
    env: dict[str, str] = field(default_factory=dict)
    listen: int | None = None
    ready: str | None = None
    ready_timeout: float = 30.0

    @property
    def log_hint(self) -> str:
        return f" (see {self.out})" if self.out else ""


@dataclass
class Running:
    unit: Unit
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    backoff: Backoff = field(default_factory=Backoff)


class StartupError(Exception):
    """A service or task could not start: the message is the one line the user sees."""


def exit_code(returncode: int) -> str:
    """As a shell reports it: 137 for SIGKILL, with the signal's name."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"{128 - returncode}, {name}"
    return str(returncode)


# --- ports ---------------------------------------------------------------------------------------------------


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now (SO_REUSEADDR like daphne and the fakes, so a port in
    TIME_WAIT after the previous run counts as free)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str, preferred: int) -> int:
    """`preferred` when it is free, otherwise a port the kernel picks (free at this instant; the fake then proves
    it holds it through --listen, so a race cannot connect us to somebody else's server)."""
    if preferred and port_is_free(host, preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines, None)
            for line in lines:
                fields = line.split()
                if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def listener_owner(pid: int, port: int) -> str:
    """"ours" if process `pid` holds the socket listening on `port`, "other" if another process does, "none"
    if nobody listens yet. Without /proc (not Linux) a listener counts as ours."""
    inodes = _listening_inodes(port)
    if not inodes:
        if not Path("/proc/net/tcp").exists():
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return "ours"
        return "none"
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return "other"
    for fd in fds:
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return "ours"
    return "other"


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own loopback URLs
            return 200 <= int(response.status) < 300
    except (OSError, urllib.error.URLError, ValueError):
        return False


# --- the supervisor ------------------------------------------------------------------------------------------


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec function asking Linux to SIGTERM the child when the supervisor dies (even by SIGKILL)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:  # the supervisor died between fork and prctl
            os._exit(1)

    return preexec


class Supervisor:
    def __init__(self, units: Sequence[Unit], *, log: str | None = None, banner: str = "", grace: float = 10.0,
                 terminal: IO[str] | None = None) -> None:
        self.units = list(units)
        self.banner = banner
        self.grace = grace
        self.terminal = terminal or sys.stdout
        self.log_file: IO[str] | None = open(log, "a", encoding="utf-8") if log else None  # noqa: SIM115
        self.services: list[Running] = []
        self.task: subprocess.Popen[bytes] | None = None
        self.stop_signal: int | None = None
        self.preexec = _parent_death_signal()

    # -- reporting
    def say(self, text: str) -> None:
        with contextlib.suppress(OSError):  # the terminal is gone (closed window): keep supervising regardless
            print(text, file=self.terminal, flush=True)

    def note(self, message: str, *, terminal: bool = True) -> None:
        if terminal:
            self.say(f"{PREFIX} {message}")
        if self.log_file is not None:
            self.log_file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
            self.log_file.flush()

    # -- processes
    def spawn(self, unit: Unit) -> subprocess.Popen[bytes]:
        with contextlib.ExitStack() as files:
            stdout: IO[bytes] | None = None
            stderr: IO[bytes] | int | None = None
            if unit.out:
                stdout = files.enter_context(open(unit.out, "ab"))
            if unit.err == "out":
                stderr = subprocess.STDOUT if stdout is not None else None
            elif unit.err:
                stderr = files.enter_context(open(unit.err, "ab"))
            # Our own argv from scripts/run.sh, no shell.
            proc = subprocess.Popen(  # noqa: S603
                unit.argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env={**os.environ, **unit.env},
                start_new_session=True, preexec_fn=self.preexec)  # noqa: PLW1509 - the supervisor has no threads
        self.note(f"{unit.name} started (pid {proc.pid})", terminal=False)
        return proc

    def signal_group(self, proc: subprocess.Popen[bytes], signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)  # start_new_session: the child leads its own group (and its own children)

    def on_signal(self, signum: int, _frame: object) -> None:
        if self.stop_signal is not None:  # a second Ctrl-C: no more waiting
            for proc in self.children():
                self.signal_group(proc, signal.SIGKILL)
        self.stop_signal = signum

    def children(self) -> list[subprocess.Popen[bytes]]:
        procs = [s.proc for s in self.services if s.proc is not None and s.proc.poll() is None]
        if self.task is not None and self.task.poll() is None:
            procs.append(self.task)
        return procs

    # -- start-up
    def run_task(self, unit: Unit) -> None:
        self.task = self.spawn(unit)
        while (code := self.task.poll()) is None:
            if self.stop_signal is not None:
                return
            time.sleep(POLL_SECONDS)
        self.task = None
        if code != 0:
            raise StartupError(f"{unit.name} failed (exit code {exit_code(code)}){unit.log_hint}")

    def start_service(self, unit: Unit) -> None:
        running = Running(unit, proc=self.spawn(unit), started_at=time.monotonic())
        self.services.append(running)
        proc = running.proc
        assert proc is not None
        deadline = time.monotonic() + unit.ready_timeout
        while self.stop_signal is None:
            if (code := proc.poll()) is not None:
                taken = f"; port {unit.listen} is in use by another program" if (
                    unit.listen and not port_is_free("127.0.0.1", unit.listen)) else ""
                raise StartupError(f"{unit.name} could not start: it exited with code {exit_code(code)}{taken}"
                                   f"{unit.log_hint}")
            owner = listener_owner(proc.pid, unit.listen) if unit.listen else "ours"
            if owner == "ours" and (unit.ready is None or http_ok(unit.ready)):
                return
            if time.monotonic() > deadline:
                why = (f"port {unit.listen} is held by another program" if owner == "other"
                       else f"no answer on {unit.ready or f'port {unit.listen}'}")
                raise StartupError(f"{unit.name} could not start: {why} after {unit.ready_timeout:g} s"
                                   f"{unit.log_hint}")
            time.sleep(POLL_SECONDS)

    # -- steady state
    def supervise_once(self, now: float) -> None:
        for running in self.services:
            proc = running.proc
            if running.restart_at is not None:
                if now >= running.restart_at:
                    running.restart_at = None
                    running.proc, running.started_at = self.spawn(running.unit), now
                continue
            if proc is None or (code := proc.poll()) is None:
                continue
            self.signal_group(proc, signal.SIGKILL)  # whatever it left behind in its group
            delay = running.backoff.next_delay(now - running.started_at)
            running.restart_at = now + delay
            self.note(f"{running.unit.name} exited (code {exit_code(code)}), restarting in {delay:g} s"
                      f"{running.unit.log_hint}")

    def stop_all(self) -> None:
        procs = self.children()
        for proc in procs:
            self.signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        for proc in procs:
            if proc.poll() is None:
                self.note(f"pid {proc.pid} did not stop within {self.grace:g} s; killing it")
            self.signal_group(proc, signal.SIGKILL)  # also any grandchild left in its group
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)

    def run(self) -> int:
        signal.signal(signal.SIGINT, self.on_signal)
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGHUP, self.on_signal)  # the terminal closed
        status = 0
        try:
            for unit in self.units:
                if self.stop_signal is not None:
                    break
                (self.run_task if unit.kind == "task" else self.start_service)(unit)
            else:
                if self.banner:
                    self.say(self.banner)
                self.note("all services started", terminal=False)
                while self.stop_signal is None:
                    self.supervise_once(time.monotonic())
                    time.sleep(POLL_SECONDS)
        except StartupError as exc:
            self.note(str(exc))
            status = 1
        self.say("")
        self.note("stopping…")
        self.stop_all()
        self.note("stopped.")
        if self.log_file is not None:
            self.log_file.close()
        return status


# --- command line --------------------------------------------------------------------------------------------


def _unit_parser(kind: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"core.supervisor {kind}", exit_on_error=False)
    parser.add_argument("name")
    parser.add_argument("--out")
    parser.add_argument("--err")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    if kind == "service":
        parser.add_argument("--listen", type=int)
        parser.add_argument("--ready")
        parser.add_argument("--ready-timeout", type=float, default=30.0)
    return parser


def parse_units(tokens: Sequence[str]) -> list[Unit]:
    """`service|task NAME [options] -- COMMAND… ;` repeated (the last `;` is optional)."""
    units: list[Unit] = []
    group: list[str] = []
    for word in [*tokens, ";"]:
        if word != ";":
            group.append(word)
            continue
        if not group:
            continue
        kind, rest = group[0], group[1:]
        if kind not in {"service", "task"} or "--" not in rest:
            raise SystemExit(f"{PREFIX} supervisor: expected 'service|task NAME [options] -- COMMAND', got {group}")
        split = rest.index("--")
        opts, argv = _unit_parser(kind).parse_args(rest[:split]), rest[split + 1:]
        if not argv:
            raise SystemExit(f"{PREFIX} supervisor: {opts.name} has no command")
        env = dict(item.split("=", 1) for item in opts.env)
        units.append(Unit(kind, opts.name, argv, out=opts.out, err=opts.err, env=env,
                          listen=getattr(opts, "listen", None), ready=getattr(opts, "ready", None),
                          ready_timeout=getattr(opts, "ready_timeout", 30.0)))
        group = []
    return units


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m core.supervisor")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the units in order and supervise them")
    run.add_argument("--log", help="append every start, exit and restart to this file")
    run.add_argument("--banner", default="", help="printed once every unit has started")
    run.add_argument("--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL on stop")
    port = commands.add_parser("free-port", help="print PORT if free on HOST, else a free port")
    port.add_argument("port", type=int)
    port.add_argument("--host", default="127.0.0.1")
    check = commands.add_parser("port-check", help="exit 0 if PORT is free on HOST, 1 if taken")
    check.add_argument("port", type=int)
    check.add_argument("--host", default="127.0.0.1")
    head = args
    if args and args[0] == "run":
        first_unit = next((i for i, t in enumerate(args) if t in {"service", "task"}), len(args))
        head, tail = args[:first_unit], args[first_unit:]
    options = parser.parse_args(head)
    if options.command == "free-port":
        print(free_port(options.host, options.port))
        return 0
    if options.command == "port-check":
        return 0 if port_is_free(options.host, options.port) else 1
    return Supervisor(parse_units(tail), log=options.log, banner=options.banner, grace=options.grace).run()


if __name__ == "__main__":
    sys.exit(main())


def reset_connections() -> None:
    """After a database error in a long-running process (worker, scheduler): drops every connection and, on
    PostgreSQL, the whole psycopg pool — after a server restart the pool still holds, and hands out, connections
    the server has cut, and a worker that kept it was seen polling forever without finding its waiting tasks."""

    for connection in connections.all(initialized_only=True):
        connection.close()
        close_pool = getattr(connection, "close_pool", None)
        if close_pool is not None:
            close_pool()
