"""WhatsApp Business Cloud API (issue: WhatsApp connector): signed webhook intake throughput and the time from a
webhook to the event on the assigned agent's websocket.

Data set (`ensure_number`): one connected number (its app secret signs every body), an inbox "whatsapp" with
auto-assignment, one team and one available agent in it (plus a session cookie for the websocket), and CUSTOMERS
distinct customers who write (wa_ids +57 300 …).

Webhook bodies are realistic (`fakes.whatsapp` builders, the contract's shapes): 90 % a text message from one of the
customers (Spanish text, profile name, a unique wamid), 10 % a status update (sent / delivered / read), about 600
bytes each, compact JSON signed with X-Hub-Signature-256 over the exact bytes.

The load generator is a small asyncio HTTP/1.1 client with keep-alive connections (one per simulated Meta sender),
not httpx threads: on this 2-vCPU machine the client shares the cores with the server, and httpx costs 1-2 ms of
CPU per request (see "Call-center queue" in docs/benchmarks.md) against ~0.06 ms here, so the figures measure the
server. Each request's latency is from writing the request to reading the whole answer.

Verified after every intake run: one WebhookDelivery row per 200 answer, state `received`, no duplicate body, no
rejection, and (task backends db and rq) every stored row in exactly one queued processing task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from bench import harness
from bench.harness import REPO_ROOT, Sample, Samples, Scenario, live_server

PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
APP_SECRET = "bench-whatsapp-app-secret"
PATH = f"/integrations/whatsapp/webhook/{PHONE_NUMBER_ID}/"
CUSTOMERS = 1000
INTAKE_MIN_N = 6000  # several seconds of traffic at the target rate
CLIENTS = 32  # concurrent connections, as Meta delivers in parallel
PACED_RATE = 5.0  # webhooks/s in the inbound-to-visible scenario: 18,000 an hour, a very busy number (not a flood)
VISIBLE_TIMEOUT = 10.0
SERVER_STARTUP_TIMEOUT = 120.0
DEFAULT_BENCH_REDIS_URL = "redis://127.0.0.1:6379/13"
FIRST = ["Valentina", "Santiago", "Camila", "Mateo", "Lucía", "Juan Pablo", "Ximena", "Diego", "Mariana", "Andrés",
         "Guadalupe", "Renzo", "Fiorella", "Óscar", "Ángela", "Jhon Jairo", "Rocío", "Emiliano", "María José"]
LAST = ["Peña", "Muñoz", "Quispe", "Hernández", "Ospina", "Zúñiga", "Castaño", "Núñez", "Flores", "Ibáñez"]
TEXTS = ["Hola, ¿dónde está mi pedido 1042? Me dijeron que llegaba ayer y todavía nada.",
         "Buenas tardes, quiero saber si tienen envíos a Medellín y cuánto cuesta el domicilio.",
         "¿Me pueden enviar la factura electrónica al correo? Gracias.",
         "Necesito cambiar la dirección de entrega, ahora es Cra. 43A #1-50, apto 502.",
         "¿Aceptan pago contra entrega o solo transferencia? 🙏",
         "El producto llegó con la caja rota, les envío foto en un momento."]

_state: dict[str, Any] = {}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the data set -------------------------------------------------------------------------------------------


def ensure_number(_size: int) -> None:
    if _state.get("ready"):
        return
    from django.db import transaction
    from django.test import Client

    from accounts.actions import do_create_user
    from accounts.models import Team
    from accounts.roles import Role
    from connectors.whatsapp.models import WhatsappNumber
    from inbox.models import Inbox

    with transaction.atomic():  # all or nothing: a failed setup must not leave half a data set behind
        team = Team.objects.create(code="wa-bench", name="WhatsApp bench")
        inbox = Inbox.objects.create(name="WhatsApp", code="whatsapp", auto_assign=True)
        inbox.teams.add(team)
        agent = do_create_user(username="wa-agente", password=None, role=Role.AGENTE, acting_user=None,
                               full_name="Agente WhatsApp")
        agent.teams.add(team)
        type(agent).objects.filter(pk=agent.pk).update(availability="disponible", capacity=30_000)
        # base_url on the discard port: the scenarios send text only, nothing ever calls the Graph API
        WhatsappNumber.objects.create(phone_number_id=PHONE_NUMBER_ID, waba_id=WABA_ID,
                                      display_phone_number="15550783881", verified_name="Centralita Bench",
                                      access_token="bench", app_secret=APP_SECRET,
                                      verify_token="bench", inbox=inbox, base_url="http://127.0.0.1:9")
    client = Client()
    client.force_login(agent)
    _state.update(ready=True, agent_id=agent.pk, session=client.cookies["sessionid"].value, seq=0)


def _bodies(count: int, *, status_share: float = 0.1) -> list[tuple[bytes, str, str]]:
    """(body, signature header, marker) triples; the marker is unique text inside the body."""
    from fakes import whatsapp as fw

    rng = random.Random(_state["seq"])
    out = []
    now = int(time.time())
    for _ in range(count):
        _state["seq"] += 1
        seq = _state["seq"]
        customer = rng.randrange(CUSTOMERS)
        wa_id = f"57300{customer:07d}"
        marker = f"[b{seq}]"
        if rng.random() < status_share:
            item = fw.status_item(f"wamid.bench{seq}", rng.choice(["sent", "delivered", "read"]), wa_id)
            payload = fw.status_payload([item], phone_number_id=PHONE_NUMBER_ID, waba_id=WABA_ID)
        else:
            name = f"{FIRST[customer % len(FIRST)]} {LAST[customer % len(LAST)]}"
            message = fw.text_message(wa_id, f"{rng.choice(TEXTS)} {marker}", wamid=f"wamid.bench{seq}",
                                      timestamp=now)
            payload = fw.inbound_payload([message], name=name, wa_id=wa_id, phone_number_id=PHONE_NUMBER_ID,
                                         waba_id=WABA_ID)
        body = fw.encode(payload)
        out.append((body, fw.sign(body, APP_SECRET), marker))
    return out


# --- a lean HTTP/1.1 load generator ------------------------------------------------------------------------------


def _request(host: str, port: int, body: bytes, signature: str) -> bytes:
    return (f"POST {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"User-Agent: facebookexternalua\r\nX-Hub-Signature-256: {signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("server closed the connection")
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _blast(targets: list[tuple[str, int]], bodies: list[tuple[bytes, str, str]], clients: int
                 ) -> tuple[list[float], Counter[int], float]:
    """`clients` keep-alive connections (spread over the targets, as a load balancer would) send the bodies as
    fast as the server answers. Returns latencies of 200 answers, status counts and the wall time."""
    pending = iter(bodies)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    async def connection(index: int) -> None:
        host, port = targets[index % len(targets)]
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for body, signature, _marker in pending:
                t0 = time.perf_counter()
                status = await _exchange(reader, writer, _request(host, port, body, signature))
                elapsed = time.perf_counter() - t0
                statuses[status] += 1
                if status == 200:
                    latencies.append(elapsed)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection(i) for i in range(clients)))
    return latencies, statuses, time.perf_counter() - started


# --- live processes ----------------------------------------------------------------------------------------------



@contextlib.contextmanager
def _servers(count: int, overrides: dict[str, str | None]) -> Iterator[list[tuple[str, int]]]:
    """`count` independent daphne processes (what `web` scaled to N processes is), each on its own port."""
    with contextlib.ExitStack() as stack, harness.environ(overrides):
        urls = [stack.enter_context(live_server(startup_timeout=SERVER_STARTUP_TIMEOUT)) for _ in range(count)]
        yield [("127.0.0.1", int(url.rsplit(":", 1)[1])) for url in urls]


@contextlib.contextmanager
def _worker(overrides: dict[str, str | None], backend: str, worker_class: str = "") -> Iterator[None]:
    """The real background worker for queue "messaging": db_worker, or rqworker as in the Procfile (RQ's default
    worker forks a work horse per job; `worker_class` rq.worker.SimpleWorker runs jobs in the worker itself)."""
    interval = os.environ.get("BENCH_DB_WORKER_INTERVAL", "0.1")
    cmd = ([sys.executable, "manage.py", "rqworker", "messaging", "--job-class", "django_tasks_rq.Job",
            "--with-scheduler", *(["--worker-class", worker_class] if worker_class else [])] if backend == "rq" else
           [sys.executable, "manage.py", "db_worker", "--queue-name", "messaging", "--interval", interval,
            "--no-reload", "--no-startup-delay"])
    with harness.environ(overrides), tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT)
        try:
            time.sleep(2.0)
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"worker exited with {proc.returncode}:\n{log.read()[-2000:]}")
            try:
                yield
            except Exception:
                log.seek(0)
                _log(f"  whatsapp: worker log (tail):\n{log.read()[-3000:]}")
                raise
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _release_connection() -> None:
    from django.db import connections

    connections.close_all()


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process on this machine (other databases included: a shared server)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{pid}/comm") as comm:
                if comm.read().strip().startswith("postgres"):
                    total += _cpu_seconds(int(pid))
    return total


def _children(name: bytes) -> list[int]:
    found = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{os.getpid()}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{os.getpid()}/task/{task}/children") as children:
                for pid in children.read().split():
                    with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                        if name in cmdline.read():
                            found.append(int(pid))
    return found


class _CpuMeter:
    """CPU per request of the daphne processes, of this process (the load generator) and of everything else."""

    def __init__(self) -> None:
        self.pids = _children(b"daphne")
        self.workers = _children(b"worker")
        self.server0 = sum(_cpu_seconds(p) for p in self.pids)
        self.worker0 = sum(_cpu_seconds(p) for p in self.workers)
        self.client0 = sum(os.times()[:2])
        self.postgres0 = _postgres_cpu()
        with open("/proc/stat") as stat:
            self.machine0 = [int(v) for v in stat.readline().split()[1:]]

    def report(self, label: str, requests: int, wall: float) -> None:
        server = sum(_cpu_seconds(p) for p in self.pids) - self.server0
        worker = sum(_cpu_seconds(p) for p in self.workers) - self.worker0
        client = sum(os.times()[:2]) - self.client0
        postgres = _postgres_cpu() - self.postgres0
        with open("/proc/stat") as stat:
            now = [int(v) for v in stat.readline().split()[1:]]
        delta = [a - b for a, b in zip(now, self.machine0, strict=True)]
        busy = (sum(delta) - delta[3] - delta[4]) / os.sysconf("SC_CLK_TCK")
        _log(f"  whatsapp: {label}: CPU per webhook: daphne {server / requests * 1000:.2f} ms, "
             + (f"worker {worker / requests * 1000:.2f} ms, " if self.workers else "")
             + f"load generator {client / requests * 1000:.2f} ms, PostgreSQL (whole server) "
             f"{postgres / requests * 1000:.2f} ms, everything else (other engineers' work) "
             f"{max(0.0, busy - server - worker - client - postgres) / requests * 1000:.2f} ms; machine "
             f"{busy / wall / (os.cpu_count() or 1) * 100:.0f}% busy over {wall:.1f} s")


def _redis_url() -> str:
    import redis

    url = os.environ.get("BENCH_WA_REDIS_URL", DEFAULT_BENCH_REDIS_URL)
    try:
        size = redis.Redis.from_url(url, socket_connect_timeout=2).dbsize()
    except redis.RedisError as exc:
        raise RuntimeError(f"Redis is not reachable at {url} (set BENCH_WA_REDIS_URL): {exc}") from exc
    if size:
        raise RuntimeError(f"Redis database {url} holds {size} keys; the benchmark needs an empty one")
    return url


# --- intake throughput -------------------------------------------------------------------------------------------


def _queued_batches(backend: str, redis_url: str | None) -> list[list[int]] | None:
    """The id lists of the queued process_whatsapp_webhooks tasks (None for a backend we cannot read)."""
    if backend == "db":
        from django_tasks_db.models import DBTaskResult

        return [row["args"][0] for row in DBTaskResult.objects.filter(
            task_path__endswith="process_whatsapp_webhooks").values_list("args_kwargs", flat=True)]
    if backend == "rq" and redis_url:
        import redis
        from rq.job import Job

        conn = redis.Redis.from_url(redis_url)
        jobs = [Job.fetch(job_id.decode(), connection=conn) for job_id in conn.lrange("rq:queue:messaging", 0, -1)]
        return [list(job.args[0]) for job in jobs if "process_whatsapp_webhooks" in (job.func_name or "")]
    return None


def _check_intake(before_id: int, accepted: int, expected: int, queued_args: list[list[int]] | None,
                  label: str) -> None:
    from django.db.models import Count

    from connectors.whatsapp.models import WebhookDelivery

    rows = WebhookDelivery.objects.filter(pk__gt=before_id)
    stored = rows.filter(state="received").count()
    others = rows.exclude(state="received").count()
    duplicates = rows.values("body").annotate(c=Count("id")).filter(c__gt=1).count()
    problems = []
    queued_text = "tasks in the server's memory"
    if queued_args is not None:
        queued: Counter[int] = Counter()
        for argument in queued_args:
            queued.update(int(i) for i in argument if int(i) > before_id)
        tasks = len(queued_args)
        ids = set(rows.values_list("pk", flat=True))
        missing, twice = len(ids - set(queued)), sum(1 for c in queued.values() if c > 1)
        queued_text = f"{len(queued)} queued in {tasks} tasks ({missing} missing, {twice} twice)"
        if missing or twice:
            problems.append(queued_text)
    _log(f"  whatsapp: {label}: {accepted} accepted (200), {stored} stored, {others} other rows, {duplicates} "
         f"duplicate bodies, {queued_text}")
    if accepted != expected or stored != accepted or others or duplicates:
        problems.append(f"{accepted}/{expected} accepted, {stored} stored, {others} other, {duplicates} duplicates")
    if problems:
        raise RuntimeError("whatsapp intake: " + "; ".join(problems))


def _run_intake(n: int, *, processes: int, clients: int, backend: str) -> list[Sample]:
    from django.db.models import Max

    from connectors.whatsapp.models import WebhookDelivery

    n = max(n, INTAKE_MIN_N)
    overrides: dict[str, str | None] = {"TASK_BACKEND": backend}
    redis_url = _redis_url() if backend == "rq" else None
    if redis_url:
        overrides["REDIS_URL"] = redis_url
    if backend == "db":
        from django_tasks_db.models import DBTaskResult

        DBTaskResult.objects.all().delete()
    before_id = WebhookDelivery.objects.aggregate(m=Max("id"))["m"] or 0
    warmup = _bodies(harness.WARMUP * processes)
    bodies = _bodies(n)
    label = f"{processes} daphne process(es), {clients} clients, TASK_BACKEND={backend}"
    try:
        with _servers(processes, overrides) as targets:
            asyncio.run(_blast(targets, warmup, processes))  # each process reads the secret, opens its connection
            _release_connection()
            meter = _CpuMeter()
            latencies, statuses, wall = asyncio.run(_blast(targets, bodies, clients))
            meter.report(label, n, wall)
        queued_args = _queued_batches(backend, redis_url)
    finally:
        if redis_url:
            import redis

            redis.Redis.from_url(redis_url).flushdb()  # it was empty before (_redis_url)
    if set(statuses) != {200}:
        raise RuntimeError(f"whatsapp intake: answers {dict(statuses)}")
    _check_intake(before_id, statuses[200] + len(warmup), len(bodies) + len(warmup), queued_args, label)
    samples = Samples(Sample(latency, None) for latency in latencies)
    samples.wall_seconds = wall
    _log(f"  whatsapp: {label}: {len(latencies) / wall:.0f} webhooks/s accepted, p99 "
         f"{harness.percentile(latencies, 99) * 1000:.1f} ms")
    return samples


# --- inbound to visible --------------------------------------------------------------------------------------------


async def _visible(target: tuple[str, int], bodies: list[tuple[bytes, str, str]], session: str) -> list[float]:
    """Paced webhooks (PACED_RATE/s); each latency is from sending the webhook to the agent's websocket
    receiving the conversation event that carries its text."""
    from websockets.asyncio.client import connect

    host, port = target
    arrived: dict[str, float] = {}
    waiting: dict[str, asyncio.Event] = {}
    async with connect(f"ws://{host}:{port}/ws/events/", origin=f"http://{host}:{port}",
                       additional_headers={"Cookie": f"sessionid={session}"}) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if hello.get("type") != "hello":
            raise RuntimeError(f"websocket: unexpected first message {hello}")

        async def listen() -> None:
            async for raw in ws:
                text = raw if isinstance(raw, str) else raw.decode()
                for marker, event in waiting.items():
                    if marker in text and marker not in arrived:
                        arrived[marker] = time.perf_counter()
                        event.set()

        listener = asyncio.create_task(listen())
        reader, writer = await asyncio.open_connection(host, port)
        latencies = []
        try:
            origin = time.perf_counter()
            for index, (body, signature, marker) in enumerate(bodies):
                await asyncio.sleep(max(0.0, origin + index / PACED_RATE - time.perf_counter()))
                waiting[marker] = asyncio.Event()
                t0 = time.perf_counter()
                status = await _exchange(reader, writer, _request(host, port, body, signature))
                if status != 200:
                    raise RuntimeError(f"webhook answered {status}")
                latencies.append((marker, t0))
            deadline = time.perf_counter() + VISIBLE_TIMEOUT
            for marker, _t0 in latencies:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiting[marker].wait(), max(0.01, deadline - time.perf_counter()))
        finally:
            listener.cancel()
            writer.close()
        lost = [m for m, _t in latencies if m not in arrived]
        if lost:
            raise RuntimeError(f"{len(lost)} of {len(latencies)} messages never reached the agent's websocket "
                               f"within {VISIBLE_TIMEOUT:.0f} s, e.g. {lost[:3]}")
        return [arrived[m] - t0 for m, t0 in latencies]


def _discard_intake_backlog() -> None:
    """The intake scenarios leave thousands of stored, never-processed deliveries (and their queued tasks on the
    database queue): a worker started now would work through that backlog before our messages. They are bench
    traffic, not part of this measurement: mark them done and drop their tasks."""
    from django_tasks_db.models import DBTaskResult

    from connectors.whatsapp.models import WebhookDelivery

    DBTaskResult.objects.filter(task_path__endswith="process_whatsapp_webhooks").delete()
    skipped = WebhookDelivery.objects.filter(state="received").update(state="processed",
                                                                      error="bench: intake load, not processed")
    if skipped:
        _log(f"  whatsapp: {skipped} deliveries of the intake scenarios set aside (not processed)")


def _run_visible(n: int, backend: str, worker_class: str = "") -> list[Sample]:
    # The installation's own channel layer (CHANNEL_LAYER unset: channels-lite on SQLite, channels-postgres on
    # PostgreSQL, Redis with REDIS_URL): the event travels worker → layer → daphne → websocket.
    overrides: dict[str, str | None] = {"TASK_BACKEND": backend, "CHANNEL_LAYER": None}
    redis_url = _redis_url() if backend == "rq" else None
    if redis_url:
        overrides["REDIS_URL"] = redis_url
    _discard_intake_backlog()
    bodies = _bodies(n, status_share=0.0)
    warmup = _bodies(harness.WARMUP, status_share=0.0)
    label = (f"inbound to visible, TASK_BACKEND={backend}{f' ({worker_class})' if worker_class else ''}, "
             f"{PACED_RATE:g} webhooks/s")
    try:
        with _servers(1, overrides) as targets, _worker(overrides, backend, worker_class):
            _release_connection()
            asyncio.run(_visible(targets[0], warmup, _state["session"]))
            meter = _CpuMeter()
            started = time.perf_counter()
            latencies = asyncio.run(_visible(targets[0], bodies, _state["session"]))
            wall = time.perf_counter() - started
            meter.report(label, n, wall)
    finally:
        if redis_url:
            import redis

            redis.Redis.from_url(redis_url).flushdb()
    from inbox.models import Conversation

    assigned = Conversation.objects.filter(channel="whatsapp", assignee_id=_state["agent_id"]).count()
    _log(f"  whatsapp: {label}: {len(latencies)} messages seen on the agent's websocket; {assigned} conversations "
         "assigned to the agent")
    samples = Samples(Sample(latency, None) for latency in latencies)
    samples.wall_seconds = wall
    return samples


SCENARIOS = [
    Scenario(
        name="whatsapp.webhook_intake",
        description=f"POST signed WhatsApp webhooks, 1 daphne process, {CLIENTS} keep-alive clients, db task queue",
        setup=ensure_number, run=lambda n: _run_intake(n, processes=1, clients=CLIENTS, backend="db"), size=0,
    ),
    Scenario(
        name="whatsapp.webhook_intake_2proc",
        description="as webhook_intake with 2 daphne processes (clients spread over both), db task queue",
        setup=ensure_number, run=lambda n: _run_intake(n, processes=2, clients=CLIENTS, backend="db"), size=0,
    ),
    Scenario(
        name="whatsapp.webhook_intake_2proc_rq",
        description="as webhook_intake_2proc with TASK_BACKEND=rq on Redis (BENCH_WA_REDIS_URL), the scale setup",
        setup=ensure_number, run=lambda n: _run_intake(n, processes=2, clients=CLIENTS, backend="rq"), size=0,
    ),
    Scenario(
        name="whatsapp.inbound_to_visible",
        description=f"webhook → worker (db_worker) → agent's websocket event, {PACED_RATE:g}/s, default channel layer",
        setup=ensure_number, run=lambda n: _run_visible(n, "db"), size=0,
    ),
    Scenario(
        name="whatsapp.inbound_to_visible_rq",
        description="as inbound_to_visible with RQ on Redis (Procfile's forking rqworker, channel layer on Redis)",
        setup=ensure_number, run=lambda n: _run_visible(n, "rq"), size=0,
    ),
    Scenario(
        name="whatsapp.inbound_to_visible_rq_simple",
        description="as inbound_to_visible_rq with rqworker --worker-class rq.worker.SimpleWorker (no fork per job)",
        setup=ensure_number, run=lambda n: _run_visible(n, "rq", "rq.worker.SimpleWorker"), size=0,
    ),
]


def _run_visible_with_rules(n: int) -> list[Sample]:
    """inbound_to_visible with the automation bench's 200 active rules on message.received (two apply to every
    message: a tag and an internal note), evaluated by the same db_worker after each message's intake."""
    from bench.scenarios.automation import _set_rules, setup_rules

    setup_rules(0)
    _set_rules(True)
    try:
        return _run_visible(n, "db")
    finally:
        _set_rules(False)


SCENARIOS.append(Scenario(
    name="whatsapp.inbound_to_visible_200_rules",
    description="as inbound_to_visible with 200 active automation rules on message.received (2 apply each time)",
    setup=ensure_number, run=_run_visible_with_rules, size=0,
))
