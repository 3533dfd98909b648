"""A one-machine copy of docs/deployment.md's scale mode, against real parts, for the scale-out proof and its bench.

    with Cluster() as cluster:                     # fresh PostgreSQL database, own Redis, fake Kommo, 5 processes
        cluster.post_webhook(body, web=0)          # a Kommo webhook on web process 0, as Kommo sends it
        cluster.kill_worker(0)                     # SIGKILL; the harness restarts it after RESTART_SEC (see below)
        cluster.redis.stop(); cluster.redis.start()   # a Redis outage on the same port
        cluster.readyz_latencies()                 # what the background /readyz prober saw

What runs (each its own process, logging to `<tmp>/logs/<name>.log`; the tails are printed on failure):

* migrate: `manage.py migrate --noinput` once, before anything else (the release step);
* web x2: `manage.py serve --port <free> --processes 1` (two "machines" behind a load balancer: the harness
  alternates between them as one would);
* worker x2: `worker_command` (default `manage.py run_worker`, which runs a resilient RQ worker when REDIS_URL is
  set; `RQWORKER_COMMAND` is the guide's command before that change);
* scheduler x1: `manage.py run_scheduler`.

Parts that are real: PostgreSQL (a fresh database `scaleout_<random>` on the machine's server, created and dropped
here), Redis (`GuideRedis`, a `fakes.services.TempRedis` with the compose file's append-only persistence: a real
redis-server on a free port whose `.stop()`/`.start()` give an outage on the same port; `redis_loses_data=True`
makes the outage a crash that loses Redis's contents), daphne, RQ. Kommo is `fakes.kommo.FakeKommoServer` (the
real wire contract) on a thread in this process; the account is connected to it exactly as `kommo_connect` does
(`crm.actions.check_connect_kommo`, run through `manage.py shell -c` so that this process need not be a Django
process of the same database).

Supervision. The issue asks for workers "alive (or restarted by our own supervision)". The guide's supervisor is
systemd (`Restart=always`, deploy/systemd/) or compose (`restart: unless-stopped`); `run_worker` does not supervise
itself. So the harness plays systemd for the one fault it injects: a worker it SIGKILLs is started again after
RESTART_SEC seconds (systemd's RestartSec). A process that exits on its own (a worker or the scheduler quitting on
a Redis outage) is NOT restarted: it is recorded in `unexpected_exits`, because the issue requires workers and the
scheduler to ride out an outage by themselves.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from fakes.kommo import FORM_URLENCODED, STATUS_INCOMING, FakeKommoServer, encode_webhook
from fakes.mailservers import free_port, wait_for_port
from fakes.services import REDIS_SERVER, TempRedis

REPO_ROOT = Path(__file__).resolve().parents[2]
PG_SERVER_URL = os.environ.get("SCALEOUT_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
RUN_WORKER_COMMAND: tuple[str, ...] = ("manage.py", "run_worker")
# The worker line of docs/deployment.md and the Procfile before issue 13 (exits on a Redis outage).
RQWORKER_COMMAND: tuple[str, ...] = ("manage.py", "rqworker", "default", "crm", "messaging", "--job-class",
                                     "django_tasks_rq.Job", "--worker-class", "rq.worker.SimpleWorker",
                                     "--with-scheduler")
KOMMO_TOKEN = "scaleout-kommo-token"
RESTART_SEC = 3.0  # systemd's RestartSec for a killed worker
STARTUP_DEADLINE = 90.0
READYZ_EVERY = 0.5
READYZ_TIMEOUT = 10.0  # the prober waits this long, so that a slow answer is measured rather than cut off
# Inherited variables that would pick another backend than the guide's scale mode (bench workers set them).
_DROPPED_ENV = ("TASK_BACKEND", "CHANNEL_LAYER", "DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE",
                "ACCESS_LOG_FILE", "WEB_PROCESSES", "PORT")


class GuideRedis(TempRedis):
    """`fakes.services.TempRedis` configured as deploy/compose.yaml runs Redis: append-only file on (in `dir`), so a
    restart keeps the queues as the guide's Redis does. `stop()` is a graceful stop (SIGTERM: Redis flushes its
    AOF, as `docker restart`/`systemctl restart` do) and `start()` reloads it on the same port; `stop(crash=True)`
    is SIGKILL with `lose_data` — everything queued or started is gone (a failover to an empty replica, a Redis
    without persistence), the worst case, which only the database-side safety nets can recover from."""

    def __init__(self, dir: Path, *, lose_data: bool = False) -> None:
        super().__init__()
        self.dir = dir
        self.lose_data = lose_data
        dir.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        persistence = ["--save", "", "--appendonly", "no"] if self.lose_data else \
            ["--save", "", "--appendonly", "yes", "--appendfsync", "everysec"]
        self._proc = subprocess.Popen(  # our fixed arguments, no shell
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), *persistence],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self, *, crash: bool | None = None) -> None:
        if self._proc is None:
            return
        if crash if crash is not None else self.lose_data:
            self._proc.kill()
        else:
            self._proc.terminate()
        self._proc.wait(30)
        self._proc = None


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _db_url(server_url: str, dbname: str) -> str:
    parts = urllib.parse.urlsplit(server_url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{dbname}"))


def _pg_admin(server_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement.encode())


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Proc:
    """One process of a kind (`web`, `worker`, `scheduler`) in a slot; `generation` counts restarts."""

    kind: str
    slot: int
    command: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    generation: int = 0
    port: int | None = None
    killed_by_harness: bool = False  # an exit we caused (SIGKILL) and will restart, not a failure

    @property
    def name(self) -> str:
        return f"{self.kind}{self.slot}"

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class Probe:
    """One /readyz answer (or its absence) as the load balancer would see it."""

    at: float  # seconds since the cluster started (the clock of the run's other events)
    web: int
    status: int | None
    seconds: float
    error: str = ""


@dataclass
class Exit:
    name: str
    at: float  # seconds since the cluster started
    returncode: int | None
    generation: int


@dataclass
class PostResult:
    status: int | None
    seconds: float
    web: int
    error: str = ""
    attempts: int = 1


@dataclass
class _ProberState:
    probes: list[Probe] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)


class Cluster:
    """Scale mode on one machine. A context manager: everything it starts is stopped and dropped on exit."""

    def __init__(self, *, web: int = 2, workers: int = 2, schedulers: int = 1,
                 worker_command: Sequence[str] = RUN_WORKER_COMMAND, pg_server_url: str = PG_SERVER_URL,
                 kommo_rate_limit: int | None = None, redis_loses_data: bool = False, keep_logs: bool = False,
                 verbose: bool = True) -> None:
        self.web_count, self.worker_count, self.scheduler_count = web, workers, schedulers
        self.worker_command = list(worker_command)
        self.pg_server_url = pg_server_url
        self.dbname = f"scaleout_{secrets.token_hex(4)}"
        self.database_url = _db_url(pg_server_url, self.dbname)
        self.kommo_rate_limit = kommo_rate_limit  # the real Kommo allows 7 rps; None measures us, not Kommo
        self.keep_logs = keep_logs
        self.verbose = verbose
        self.dir = Path(tempfile.mkdtemp(prefix="centralita-scaleout-"))
        self.logs = self.dir / "logs"
        self.logs.mkdir()
        (self.dir / "data" / "static").mkdir(parents=True)
        self.redis = GuideRedis(self.dir / "redis", lose_data=redis_loses_data)
        self.kommo: FakeKommoServer | None = None
        self.webhook_secret = ""
        self.procs: list[Proc] = []
        self.unexpected_exits: list[Exit] = []
        self.restarts: list[Exit] = []
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._prober = _ProberState()
        self._db_created = False
        self.env = self._environment()

    # --- environment ---------------------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
        env.update({
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url,  # → TASK_BACKEND rq, CHANNEL_LAYER redis, Redis cache (config/settings.py)
            "SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEY": _fernet_key(),
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # plain HTTP on loopback: the guide's "trial on plain HTTP" settings
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "DATA_DIR": str(self.dir / "data"),
            "CENTRALITA_BOOTSTRAP": "0",
            "LOG_LEVEL": os.environ.get("SCALEOUT_LOG_LEVEL", "INFO"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        return env

    def say(self, message: str) -> None:
        if self.verbose:
            print(f"[scaleout {self.elapsed():6.1f}s] {message}", flush=True)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    # --- lifecycle -----------------------------------------------------------------------------------------

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.print_tails()
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.print_tails()
        self.close()

    def start(self) -> None:
        self.started = time.monotonic()
        _pg_admin(self.pg_server_url, f'CREATE DATABASE "{self.dbname}"')
        self._db_created = True
        self.redis.start()
        self.say(f"database {self.dbname}, redis :{self.redis.port}; migrating…")
        self._run_once("migrate", [sys.executable, "manage.py", "migrate", "--noinput"])
        self.kommo = FakeKommoServer(subdomain="demo", token=KOMMO_TOKEN, rate_limit=self.kommo_rate_limit)
        self.kommo.start()
        self.webhook_secret = self._connect_kommo(self.kommo.base_url)
        self.say(f"fake Kommo on {self.kommo.base_url}, account connected; starting processes…")
        for slot in range(self.web_count):
            port = free_port()
            proc = Proc("web", slot, [sys.executable, "manage.py", "serve", "--bind", "127.0.0.1", "--port",
                                      str(port), "--processes", "1"], self.logs / f"web{slot}.log", port=port)
            self.procs.append(proc)
        for slot in range(self.worker_count):
            self.procs.append(Proc("worker", slot, [sys.executable, *self.worker_command],
                                   self.logs / f"worker{slot}.log"))
        for slot in range(self.scheduler_count):
            self.procs.append(Proc("scheduler", slot, [sys.executable, "manage.py", "run_scheduler"],
                                   self.logs / f"scheduler{slot}.log"))
        for proc in self.procs:
            self._spawn(proc)
        self._wait_healthy()
        self._watcher = threading.Thread(target=self._watch, name="scaleout-watch", daemon=True)
        self._watcher.start()
        self.say("cluster up: " + ", ".join(f"{p.name}(pid {p.popen.pid if p.popen else '-'})" for p in self.procs))

    def close(self) -> None:
        self._stopping.set()
        self.stop_prober()
        for proc in self.procs:
            self._terminate(proc)
        if self.kommo is not None:
            with contextlib.suppress(Exception):
                self.kommo.stop()
        self.redis.stop()
        if self._db_created:
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
            try:
                _pg_admin(self.pg_server_url, f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
            except Exception as exc:
                print(f"[scaleout] could not drop {self.dbname}: {exc}", file=sys.stderr)
            self._db_created = False
        if self.keep_logs:
            print(f"[scaleout] logs kept in {self.logs}", flush=True)
        else:
            import shutil

            shutil.rmtree(self.dir, ignore_errors=True)

    def _run_once(self, name: str, command: list[str], *, timeout: float = 600.0) -> str:
        log = self.logs / f"{name}.log"
        with log.open("w") as out:
            done = subprocess.run(command, cwd=REPO_ROOT, env=self.env, stdout=subprocess.PIPE,
                                  stderr=out, timeout=timeout, check=False, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{_tail(log)}")
        return done.stdout

    def _connect_kommo(self, base_url: str) -> str:
        """Connects the account exactly as `kommo_connect` does (conftest's `kommo_account`); returns the secret
        of its webhook URL."""
        code = (
            "from crm.actions import check_connect_kommo\n"
            f"r = check_connect_kommo(None, subdomain='demo', token={KOMMO_TOKEN!r}, base_url={base_url!r}, "
            "to_call_stage='Para Llamar', confirmed_stage='Venta Confirmada')\n"
            "print('SECRET=' + r.account.webhook_secret)\n"
        )
        out = self._run_once("kommo_connect", [sys.executable, "manage.py", "shell", "-c", code])
        for line in out.splitlines():
            if line.startswith("SECRET="):
                return line.removeprefix("SECRET=").strip()
        raise RuntimeError(f"kommo_connect printed no secret:\n{out[-2000:]}")

    def _spawn(self, proc: Proc) -> None:
        with proc.log.open("a") as out:
            out.write(f"\n--- {proc.name} generation {proc.generation} at {self.elapsed():.1f}s: "
                      f"{' '.join(proc.command[1:])}\n")
            out.flush()
            # Our own interpreter and fixed arguments; a session of its own so that stopping it stops its children
            proc.popen = subprocess.Popen(proc.command, cwd=REPO_ROOT, env=self.env, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        proc.killed_by_harness = False

    def _terminate(self, proc: Proc, grace: float = 15.0) -> None:
        popen = proc.popen
        if popen is None or popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGTERM)
        try:
            popen.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(10)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_DEADLINE
        pending = [p for p in self.procs if p.kind == "web"]
        while pending:
            for proc in self.procs:
                if not proc.alive():
                    code = proc.popen.returncode if proc.popen else None
                    raise RuntimeError(f"{proc.name} exited with {code} while starting:\n{_tail(proc.log)}")
            still = []
            for proc in pending:
                try:
                    ok = httpx.get(f"{self.web_url(proc.slot)}/healthz", timeout=2).status_code == 200
                except httpx.HTTPError:
                    ok = False
                if not ok:
                    still.append(proc)
            pending = still
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"{', '.join(p.name for p in pending)} did not answer /healthz in "
                                   f"{STARTUP_DEADLINE:.0f} s")
            if pending:
                time.sleep(0.2)

    # --- supervision ---------------------------------------------------------------------------------------

    def _watch(self) -> None:
        """Records every exit; restarts (after RESTART_SEC, as systemd would) only the workers the harness killed."""
        seen: set[tuple[str, int]] = set()
        while not self._stopping.is_set():
            for proc in list(self.procs):
                popen = proc.popen
                if popen is None or popen.poll() is None or (proc.name, proc.generation) in seen:
                    continue
                seen.add((proc.name, proc.generation))
                exit_ = Exit(proc.name, round(self.elapsed(), 1), popen.returncode, proc.generation)
                if proc.killed_by_harness:
                    self.restarts.append(exit_)
                    threading.Thread(target=self._restart_later, args=(proc,), daemon=True).start()
                else:
                    with self._lock:
                        self.unexpected_exits.append(exit_)
                    self.say(f"{proc.name} exited on its own with {popen.returncode}:\n{_tail(proc.log, 8)}")
            self._stopping.wait(0.2)

    def _restart_later(self, proc: Proc) -> None:
        if self._stopping.wait(RESTART_SEC):
            return
        with self._lock:
            proc.generation += 1
            self._spawn(proc)
        self.say(f"{proc.name} restarted by the harness (systemd Restart=always, RestartSec={RESTART_SEC:g})")

    def kill_worker(self, slot: int = 0) -> None:
        """SIGKILL a worker (a crash, an OOM kill); the harness restarts it after RESTART_SEC."""
        proc = next(p for p in self.procs if p.kind == "worker" and p.slot == slot)
        if proc.popen is None or proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} is not running")
        proc.killed_by_harness = True
        proc.popen.send_signal(signal.SIGKILL)
        self.say(f"{proc.name} (pid {proc.popen.pid}) killed with SIGKILL")

    def processes(self, kind: str | None = None) -> list[Proc]:
        return [p for p in self.procs if kind is None or p.kind == kind]

    # --- web -----------------------------------------------------------------------------------------------

    def web_url(self, slot: int) -> str:
        port = next(p.port for p in self.procs if p.kind == "web" and p.slot == slot)
        return f"http://127.0.0.1:{port}"

    @property
    def webhook_path(self) -> str:
        return f"/integrations/kommo/webhook/{self.webhook_secret}/"

    def kommo_state(self) -> Any:
        if self.kommo is None:
            raise RuntimeError("cluster not started")
        return self.kommo.state

    def lead_bodies(self, lead_id: int) -> tuple[str, str]:
        """The two form-encoded bodies Kommo POSTs for a lead created in "Para Llamar": `leads[add]` and
        `leads[status]` (old status: the pipeline's first stage), as fakes.kommo builds them."""
        state = self.kommo_state()
        account = state.account_block()
        add = encode_webhook("leads", "add", [state.lead_webhook_item(lead_id, "add")], account)
        status = encode_webhook("leads", "status", [state.lead_webhook_item(lead_id, "status",
                                                                            old_status_id=STATUS_INCOMING)],
                                account)
        return add, status

    def create_leads(self, count: int, prefix: str = "Scaleout") -> list[tuple[int, int]]:
        """`count` leads in "Para Llamar", each with a contact of its own, without webhooks (the harness posts
        them); returns (lead id, contact id) pairs."""
        state = self.kommo_state()
        created = []
        for i in range(count):
            lead = state.create_lead(f"{prefix} {i}", emit=False,
                                     contact={"name": f"Cliente {prefix} {i}", "phones": [f"+5730055{i:05d}"]})
            contact_id = lead["_embedded"]["contacts"][0]["id"]
            created.append((int(lead["id"]), int(contact_id)))
        return created

    def post_webhook(self, client: httpx.Client, body: str, web: int, *, retries: int = 0,
                     retry_every: float = 2.0) -> PostResult:
        """POST one webhook as Kommo does (2 s is Kommo's own timeout; we wait longer to measure). A non-2xx answer
        or a connection error is retried `retries` times, as Kommo retries an undelivered webhook later."""
        attempts = 0
        while True:
            attempts += 1
            started = time.perf_counter()
            try:
                response = client.post(f"{self.web_url(web)}{self.webhook_path}", content=body,
                                       headers={"Content-Type": FORM_URLENCODED}, timeout=30)
                result = PostResult(response.status_code, time.perf_counter() - started, web, attempts=attempts)
            except httpx.HTTPError as exc:
                result = PostResult(None, time.perf_counter() - started, web, error=repr(exc), attempts=attempts)
            if (result.status is not None and 200 <= result.status < 300) or attempts > retries:
                return result
            time.sleep(retry_every)

    # --- readiness prober ----------------------------------------------------------------------------------

    def start_prober(self, every: float = READYZ_EVERY) -> None:
        """Polls /readyz on every web process every `every` seconds, as a load balancer does, in the background."""
        state = self._prober
        state.stop.clear()

        def probe(web: int) -> None:
            with httpx.Client() as client:
                while not state.stop.is_set():
                    t0 = time.perf_counter()
                    at = self.elapsed()
                    try:
                        status: int | None = client.get(f"{self.web_url(web)}/readyz", timeout=READYZ_TIMEOUT) \
                            .status_code
                        error = ""
                    except httpx.HTTPError as exc:
                        status, error = None, repr(exc)
                    seconds = time.perf_counter() - t0
                    with self._lock:
                        state.probes.append(Probe(round(at, 2), web, status, seconds, error))
                    state.stop.wait(max(0.0, every - seconds))

        threads = [threading.Thread(target=probe, args=(web,), daemon=True, name=f"readyz{web}")
                   for web in range(self.web_count)]
        for thread in threads:
            thread.start()
        state.threads = threads

    def stop_prober(self) -> None:
        self._prober.stop.set()
        for thread in self._prober.threads:
            thread.join(READYZ_TIMEOUT + 2)

    def probes(self) -> list[Probe]:
        with self._lock:
            return list(self._prober.probes)

    # --- reporting -----------------------------------------------------------------------------------------

    def print_tails(self, lines: int = 30) -> None:
        for log in sorted(self.logs.glob("*.log")):
            print(f"\n===== {log.name} (last {lines} lines) =====\n{_tail(log, lines)}", flush=True)


def wait_until(condition: Callable[[], Any], deadline_seconds: float, every: float = 0.5) -> tuple[bool, float]:
    """Polls `condition()` until truthy or the deadline; returns (met, seconds waited). Never sleep-and-measure:
    the deadline is generous and a met condition returns at once."""
    started = time.monotonic()
    while True:
        if condition():
            return True, time.monotonic() - started
        if time.monotonic() - started > deadline_seconds:
            return False, time.monotonic() - started
        time.sleep(every)
