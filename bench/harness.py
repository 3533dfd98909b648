"""The benchmark runner and the helpers scenarios measure with.

`python -m bench [--db sqlite|postgres|both] [--scenario NAME ...] [--n N] [--json PATH]`

The parent process never imports Django settings: for each database it prepares an empty database
(a temp SQLite file, or a dedicated PostgreSQL database `bench_centralita`), then starts a fresh
`python -m bench --worker …` subprocess with DATABASE_URL and friends set. The worker runs
`migrate`, builds each scenario's data set (`Scenario.setup(size)`), measures (`Scenario.run(n)`)
and writes its summaries as JSON for the parent, which prints one table for every database.

Helpers for scenarios:
- `timed_requests(call, n)`: warm-up, then a timed loop of in-process requests (django.test.Client),
  counting SQL statements per request with CaptureQueriesContext.
- `live_server()` + `concurrent_requests(...)`: K threads of httpx against a real daphne process,
  for scenarios that need concurrency (no SQL counts there).
- `percentile()` / `summarize()`: median, p95, p99, throughput, SQL per request.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/test"
# BENCH_PG_DB: another name, so that two people benchmarking on one server do not drop each other's database.
BENCH_DB_NAME = os.environ.get("BENCH_PG_DB", "bench_centralita")
DEFAULT_N = 300
DEFAULT_WARMUP = 20
DATABASES = ("sqlite", "postgres")

# Set by the worker from --warmup; scenarios normally leave `warmup` to this default.
WARMUP = DEFAULT_WARMUP


# --- samples and statistics ----------------------------------------------------------------------


class Sample(NamedTuple):
    latency: float  # seconds, one request
    sql: int | None  # SQL statements the request ran; None when not observable (live server)


class Samples(list[Sample]):
    """The samples of one run; `wall_seconds` is the loop's wall time (throughput = n / wall).

    A load generator outside Python (wrk) reports its latency distribution, not each request: its run returns
    the distribution's quantiles as samples and sets `requests` to the number of requests really answered, which
    then gives n and the throughput."""

    wall_seconds: float | None = None
    requests: int | None = None


@dataclass(frozen=True)
class Scenario:
    """A named measurement. `setup(size)` builds the data set (idempotent: scenarios of one module
    share it within a worker); `run(n)` returns n samples."""

    name: str
    description: str
    setup: Callable[[int], None]
    run: Callable[[int], list[Sample]]
    size: int = 1000
    databases: tuple[str, ...] = ("sqlite", "postgres")  # where it means something (scale mode: PostgreSQL only)


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (pct in 0..100) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(samples: Sequence[Sample]) -> dict[str, Any]:
    latencies = [s.latency for s in samples]
    if not latencies:
        raise ValueError("no samples")
    wall = getattr(samples, "wall_seconds", None) or sum(latencies)
    sqls = [s.sql for s in samples if s.sql is not None]
    count = getattr(samples, "requests", None) or len(latencies)
    return {
        "n": count,
        "median_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "min_ms": min(latencies) * 1000,
        "max_ms": max(latencies) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "wall_seconds": wall,
        "throughput_rps": count / wall if wall > 0 else 0.0,
        "sql_median": statistics.median(sqls) if sqls else None,
        "sql_min": min(sqls) if sqls else None,
        "sql_max": max(sqls) if sqls else None,
    }


# --- in-process requests (django.test.Client) ----------------------------------------------------


def _check_status(response: Any, expect_status: int | None) -> None:
    status = getattr(response, "status_code", None)
    if expect_status is not None and status != expect_status:
        body = getattr(response, "content", b"")[:300]
        raise RuntimeError(f"expected HTTP {expect_status}, got {status}: {body!r}")


def timed_requests(
    call: Callable[[], Any], n: int, *, warmup: int | None = None, expect_status: int | None = 200
) -> Samples:
    """Run `call` (e.g. `lambda: client.get(path)`) `warmup` times untimed, then n times timed, counting
    the SQL statements of each call on the default connection. Raises on an unexpected status."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARMUP if warmup is None else warmup):
        _check_status(call(), expect_status)
    samples = Samples()
    started = time.perf_counter()
    for _ in range(n):
        with CaptureQueriesContext(connection) as queries:
            t0 = time.perf_counter()
            response = call()
            elapsed = time.perf_counter() - t0
        _check_status(response, expect_status)
        samples.append(Sample(elapsed, len(queries.captured_queries)))
    samples.wall_seconds = time.perf_counter() - started
    return samples


# --- a real server and concurrent clients ------------------------------------------------------


@contextlib.contextmanager
def environ(overrides: dict[str, str | None]) -> Iterator[None]:
    """Environment for live processes started inside (they inherit os.environ; None removes a variable), restored
    after."""
    saved = {key: os.environ.get(key) for key in overrides}
    for key, value in overrides.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def web_processes() -> int:
    """BENCH_WEB_PROCESSES: how many daphne processes serve the live server (default 1)."""
    return max(1, int(os.environ.get("BENCH_WEB_PROCESSES", "1")))


@contextlib.contextmanager
def live_server(*, startup_timeout: float = 30.0, processes: int | None = None) -> Iterator[str]:
    """Daphne serving config.asgi on a free port with this process's environment (so the worker's
    DATABASE_URL); yields its base URL. Commit the data set first: it is another process.

    With several processes (BENCH_WEB_PROCESSES, or `processes`) this process binds the listening socket and
    every daphne adopts it (`--fd`): the kernel hands each connection to one of them, as under systemd socket
    activation — how one host uses all its cores for one port (docs/deployment.md)."""
    import httpx

    count = processes or web_processes()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    listener.set_inheritable(True)
    port = listener.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    stack = contextlib.ExitStack()
    logs = [stack.enter_context(tempfile.TemporaryFile(mode="w+")) for _ in range(count)]  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "daphne", "--fd", str(listener.fileno()), "config.asgi:application"],
            cwd=REPO_ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
            pass_fds=(listener.fileno(),),
        )
        for log in logs
    ]
    try:
        deadline = time.monotonic() + startup_timeout
        ready = False
        while not ready:
            for proc, log in zip(procs, logs, strict=True):
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"daphne exited with {proc.returncode}:\n{log.read()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                ready = httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
            if not ready and time.monotonic() > deadline:
                raise RuntimeError(f"daphne did not answer /healthz within {startup_timeout:.0f} s")
            if not ready:
                time.sleep(0.2)
        if count > 1:
            time.sleep(2.0)  # the other processes finish importing Django before the load starts
        yield base_url
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        listener.close()
        stack.close()


WRK_SCRIPT = """
bodies = {}
counter = 0
init = function(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  stride = tonumber(args[2]); offset = tonumber(args[3])
  wrk.method = "POST"
  wrk.headers["Content-Type"] = args[4]
end
request = function()
  -- each thread walks its own slice of the bodies: every request body is distinct
  local body = bodies[offset + counter * stride + 1]
  counter = counter + 1
  return wrk.format(nil, nil, nil, body)
end
done = function(summary, latency, requests)
  local out = io.open(os.getenv("WRK_RESULT"), "w")
  out:write(string.format("requests %d\\n", summary.requests))
  out:write(string.format("duration_us %d\\n", summary.duration))
  out:write(string.format("errors %d %d %d %d %d\\n", summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout))
  for i = 1, 1000 do out:write(string.format("q %d\\n", latency:percentile(i / 10))) end
  out:close()
end
"""


def wrk_post(url: str, bodies: Sequence[str], *, connections: int, seconds: float, content_type: str,
             threads: int = 1) -> tuple[Samples, dict[str, int]]:
    """POSTs distinct bodies to `url` with wrk (C, event loop: the load generator takes a fraction of a core,
    where Python clients took one). Each wrk thread gets its own slice of the bodies, so no body is sent twice
    while there are enough of them. Returns the latency quantiles (0.1 % steps) as samples with the number of
    requests answered, and wrk's error counters."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        script, data, result = Path(tmp, "post.lua"), Path(tmp, "bodies.txt"), Path(tmp, "result.txt")
        script.write_text(WRK_SCRIPT)
        data.write_text("\n".join(bodies) + "\n")
        # one wrk process per slice (wrk's threads share one Lua init): the simplest way to give each its own
        runs = [subprocess.Popen(
            [wrk, "-t1", f"-c{max(1, connections // threads)}", f"-d{seconds:g}s", "--timeout", "10s",
             "-s", str(script), url, "--", str(data), str(threads), str(offset), content_type],
            env={**os.environ, "WRK_RESULT": f"{result}.{offset}"}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True) for offset in range(threads)]
        outputs = [run.communicate()[0] for run in runs]
        samples = Samples()
        errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
        requests = 0
        duration = 0.0
        for offset, output in enumerate(outputs):
            path = Path(f"{result}.{offset}")
            if not path.exists():
                raise RuntimeError(f"wrk failed:\n{output[-2000:]}")
            for line in path.read_text().splitlines():
                key, *values = line.split()
                if key == "requests":
                    requests += int(values[0])
                elif key == "duration_us":
                    duration = max(duration, int(values[0]) / 1e6)
                elif key == "errors":
                    for name, value in zip(errors, values, strict=True):
                        errors[name] += int(value)
                elif key == "q":
                    samples.append(Sample(int(values[0]) / 1e6, None))
        samples.requests = requests
        samples.wall_seconds = duration
        return samples, errors


def concurrent_requests(
    base_url: str,
    path: str,
    *,
    n: int,
    threads: int,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: Any = None,
    warmup: int | None = None,
    expect_status: int | None = 200,
) -> Samples:
    """n requests spread over `threads` threads (one httpx client each) against a live server.
    `body` is sent as JSON. Samples carry latency only; wall_seconds gives the aggregate throughput."""
    import httpx

    def one(client: httpx.Client) -> float:
        t0 = time.perf_counter()
        response = client.request(method, path, json=body)
        elapsed = time.perf_counter() - t0
        _check_status(response, expect_status)
        return elapsed

    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        for _ in range(WARMUP if warmup is None else warmup):
            one(client)

    lock = threading.Lock()
    remaining = [n]

    def worker() -> list[float]:
        latencies: list[float] = []
        with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
            while True:
                with lock:
                    if remaining[0] <= 0:
                        return latencies
                    remaining[0] -= 1
                latencies.append(one(client))

    samples = Samples()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(worker) for _ in range(threads)]
        for future in futures:
            samples.extend(Sample(latency, None) for latency in future.result())
    samples.wall_seconds = time.perf_counter() - started
    return samples


# --- machine and database preparation (parent) ---------------------------------------------------


def machine_info() -> dict[str, Any]:
    import django

    cpu_model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "cpu_count": usable,
        "cpu_model": cpu_model or platform.processor(),
        "mem_gib": mem_gib,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "django": django.get_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }


def _pg_url_with_db(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def pg_reachable(url: str) -> str | None:
    """The server version if `url` accepts connections, else None."""
    try:
        import psycopg
    except ImportError:
        return None
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "?"
    except psycopg.Error:
        return None


def _pg_drop(conn: Any, dbname: str) -> None:
    from psycopg import errors, sql

    try:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
    except errors.SyntaxError:  # PostgreSQL < 13
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(dbname)))


def create_pg_database(url: str, dbname: str = BENCH_DB_NAME) -> str:
    """(Re)create `dbname` on the server of `url`; returns the URL pointing at it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        _pg_drop(conn, dbname)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    return _pg_url_with_db(url, dbname)


def drop_pg_database(url: str, dbname: str = BENCH_DB_NAME) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        _pg_drop(conn, dbname)


# --- the worker (one per database) ----------------------------------------------------------------


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _profiled(name: str, run: Callable[[int], Any], n: int) -> Any:
    """BENCH_PROFILE=DIR writes a cProfile of each scenario's measured part to DIR/<scenario>.prof (in-process
    scenarios only: a live server is another process)."""
    folder = os.environ.get("BENCH_PROFILE")
    if not folder:
        return run(n)
    import cProfile

    profile = cProfile.Profile()
    try:
        return profile.runcall(run, n)
    finally:
        Path(folder).mkdir(parents=True, exist_ok=True)
        profile.dump_stats(str(Path(folder) / f"{name}.prof"))


def worker_main(args: argparse.Namespace) -> int:
    global WARMUP  # noqa: PLW0603 — set once, before any scenario runs
    WARMUP = args.warmup
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bench.scenarios import SCENARIOS

    t0 = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    version = (
        sqlite3.sqlite_version if connection.vendor == "sqlite"
        else ".".join(str(p) for p in divmod(getattr(connection, "pg_version", 0), 10000))
    )
    _log(f"[{args.db}] migrate: {time.perf_counter() - t0:.1f} s ({connection.vendor} {version})")
    results = []
    for name in args.scenario:
        scenario = SCENARIOS[name]
        size = args.size or scenario.size
        if connection.vendor not in [("postgresql" if d == "postgres" else d) for d in scenario.databases]:
            _log(f"[{args.db}] {name}: skipped (runs on {', '.join(scenario.databases)} only)")
            continue
        try:
            t0 = time.perf_counter()
            scenario.setup(size)
            setup_seconds = time.perf_counter() - t0
            _log(f"[{args.db}] {name}: data set ready ({size} rows, {setup_seconds:.1f} s), measuring n={args.n}…")
            summary = summarize(_profiled(scenario.name, scenario.run, args.n))
        except Exception as exc:  # one broken scenario must not hide the others' figures
            traceback.print_exc()
            results.append({"scenario": name, "database": args.db, "size": size, "error": repr(exc)})
            continue
        _log(f"[{args.db}] {name}: median {summary['median_ms']:.2f} ms, p95 {summary['p95_ms']:.2f} ms")
        results.append({
            "scenario": name, "database": args.db, "db_version": version, "size": size,
            "setup_seconds": round(setup_seconds, 2), **summary,
        })
    Path(args.worker_out).write_text(json.dumps(results, indent=2))
    return 1 if any("error" in r for r in results) else 0


# --- the parent --------------------------------------------------------------------------------------


def _worker_env(database_url: str, data_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("REDIS_URL", None)  # comparable runs: in-process cache/layers whatever the shell exports
    env.update({
        "DATABASE_URL": database_url,
        "DEBUG": "1",
        "TASK_BACKEND": "dummy",
        "CHANNEL_LAYER": "memory",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATA_DIR": data_dir,
        "LOG_LEVEL": "WARNING",
        # django.test.Client sends Host: testserver
        "ALLOWED_HOSTS": "127.0.0.1,localhost,[::1],testserver",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


def run_database(db: str, names: list[str], args: argparse.Namespace, pg_url: str) -> list[dict[str, Any]]:
    """One fresh worker subprocess on a fresh database; returns its summaries (error rows on failure)."""
    tmpdir = tempfile.mkdtemp(prefix="bench-centralita-", dir="/tmp")
    try:
        Path(tmpdir, "static").mkdir()  # STATIC_ROOT lives under DATA_DIR; whitenoise warns if missing
        database_url = f"sqlite:///{tmpdir}/bench.sqlite3" if db == "sqlite" else create_pg_database(pg_url)
        out = Path(tmpdir, "results.json")
        cmd = [sys.executable, "-m", "bench", "--worker", "--db", db, "--n", str(args.n),
               "--warmup", str(args.warmup), "--worker-out", str(out), "--scenario", *names]
        if args.size:
            cmd += ["--size", str(args.size)]
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=_worker_env(database_url, tmpdir), check=False)
        if not out.exists():
            _log(f"[{db}] worker failed (exit {proc.returncode})")
            return [{"scenario": name, "database": db, "error": f"worker exit {proc.returncode}"} for name in names]
        results: list[dict[str, Any]] = json.loads(out.read_text())
        return results
    finally:
        if db == "postgres":
            with contextlib.suppress(Exception):
                drop_pg_database(pg_url)
        shutil.rmtree(tmpdir, ignore_errors=True)


def _fmt_sql(result: dict[str, Any]) -> str:
    median, low, high = result.get("sql_median"), result.get("sql_min"), result.get("sql_max")
    if median is None:
        return "-"
    text = f"{median:g}"
    return text if low == high else f"{text} ({low}-{high})"


def format_table(results: list[dict[str, Any]]) -> str:
    header = ["scenario", "database", "n", "median ms", "p95 ms", "throughput (req/s)", "SQL/request"]
    rows = [
        [r["scenario"], r["database"], "-", "failed", "-", "-", "-"] if "error" in r else
        [r["scenario"], r["database"], str(r["n"]), f"{r['median_ms']:.2f}", f"{r['p95_ms']:.2f}",
         f"{r['throughput_rps']:.0f}", _fmt_sql(r)]
        for r in results
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    right = {2, 3, 4, 5, 6}

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def format_machine(info: dict[str, Any]) -> str:
    return (
        f"date: {info['date']} · cpus: {info['cpu_count']} ({info['cpu_model']}) · RAM: {info['mem_gib']} GiB · "
        f"load: {' '.join(str(x) for x in info['loadavg'])}\n"
        f"python {info['python']} · django {info['django']} · sqlite {info['sqlite']}"
        + (f" · postgresql {info['postgresql']}" if info.get("postgresql") else "")
    )


def resolve_scenarios(requested: list[str] | None) -> list[str]:
    """Names in registry order; a request matches a full name or a module prefix (`foundation`)."""
    from bench.scenarios import SCENARIOS

    if not requested:
        return list(SCENARIOS)
    chosen: list[str] = []
    for wanted in requested:
        matches = [name for name in SCENARIOS if name == wanted or name.startswith(wanted.rstrip(".") + ".")]
        if not matches:
            raise SystemExit(f"unknown scenario {wanted!r}; available: {', '.join(SCENARIOS)}")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def build_parser() -> argparse.ArgumentParser:
    from bench.scenarios import SCENARIOS

    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Centralita benchmarks: each database runs in a fresh subprocess on a fresh database.",
        epilog="Scenarios: " + ", ".join(SCENARIOS),
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default=None,
                        help="default: both when PostgreSQL is reachable (BENCH_PG_URL, default "
                        f"{DEFAULT_PG_URL}), else sqlite")
    parser.add_argument("--scenario", nargs="+", metavar="NAME",
                        help="scenario names or module prefixes (default: all)")
    parser.add_argument("--n", type=int, default=DEFAULT_N, help=f"measured requests per scenario ({DEFAULT_N})")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP,
                        help=f"untimed requests first ({DEFAULT_WARMUP})")
    parser.add_argument("--size", type=int, default=None, help="override every scenario's data-set size")
    parser.add_argument("--json", metavar="PATH", help="also write machine info and results as JSON")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.n < 1:
        raise SystemExit("--n must be at least 1")
    if args.worker:
        return worker_main(args)

    names = resolve_scenarios(args.scenario)
    pg_url = os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL)
    info = machine_info()
    pg_version = pg_reachable(pg_url) if args.db in (None, "both", "postgres") else None
    if args.db == "postgres" and pg_version is None:
        raise SystemExit(f"PostgreSQL is not reachable at {pg_url} (set BENCH_PG_URL)")
    if args.db in (None, "both") and pg_version is None:
        print(f"note: PostgreSQL is not reachable at {pg_url} (set BENCH_PG_URL); running on SQLite only.")
        databases = ["sqlite"]
    elif args.db in (None, "both"):
        databases = list(DATABASES)
    else:
        databases = [args.db]
    if pg_version:
        info["postgresql"] = pg_version

    print(format_machine(info))
    print(f"scenarios: {', '.join(names)} · databases: {', '.join(databases)} · n={args.n}, warm-up {args.warmup}")
    sys.stdout.flush()
    results: list[dict[str, Any]] = []
    for db in databases:
        results += run_database(db, names, args, pg_url)
    print()
    if results:
        print(format_table(results))
    failed = [f"{r['scenario']} on {r['database']}: {r['error']}" for r in results if "error" in r]
    if failed:
        print("\nfailed (tracebacks above):\n  " + "\n  ".join(failed))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"machine": info, "results": results}, indent=2) + "\n")
        print(f"\nwrote {path}")
    return 1 if failed else 0
