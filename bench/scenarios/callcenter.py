"""Call-center queue fed by Kommo (issue 3): the queue page and API at 300,000 leads, "Siguiente lead" with
100 agents pressing at once, and the Kommo webhook intake under concurrent deliveries.

Data set (`ensure_leads(size)`, size = leads, 300,000 by default): one customer per lead (LatAm names, one
E.164 phone `+57300…`, ~30% with an email, ~30% with 1-2 of 8 tags, ~half in one of 4 marketing lists),
one lead per customer, all in "Para Llamar", arrived over the last 60 days: ~50% never contacted, ~40%
en_proceso (1-6 notes' worth of denormalised columns: `notes_count`, `last_note_*`, `queue_sort_at`), ~10%
completado (closed). A quarter of the en_proceso leads and every completado lead is held by one of the
100 agents. ~15% of the leads carry a tag of their own. LeadNote / LeadEvent history rows are not generated
(the queue reads only the denormalised columns). PostgreSQL gets an ANALYZE after the load, as autovacuum
would do on a table that grew over time; SQLite gets none (the application never runs ANALYZE).

Live-server scenarios (daphne + httpx threads in the worker process, so client and server share the same
CPUs) verify what they claim: zero double reservations for "Siguiente lead"; for the intake (the fast ASGI route
of crm/intake.py, mounted in config/asgi.py), one WebhookDelivery row per accepted webhook, no duplicate, and
every row in exactly one queued processing task.
"""

from __future__ import annotations

import contextlib
import html
import math
import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bench import harness
from bench.harness import Sample, Samples, Scenario, live_server, timed_requests

SIZE = 300_000
BATCH = 5000
AGENT_COUNT = 100
SUPERVISOR_USERNAME = "bench-supervisor"
QUEUE_DAYS = 60
FILTER_TAG = "caliente"
TAGS = ["caliente", "rellamar", "no-interesado", "sin-respuesta", "dato-erroneo", "vip", "mayorista", "referido"]
LISTS = [("black-friday", "Black Friday 2026"), ("clientes-frecuentes", "Clientes frecuentes"),
         ("referidos", "Referidos"), ("reactivacion", "Reactivación 2026")]
FIRST = ["Valentina", "Santiago", "Camila", "Mateo", "Lucía", "Juan Pablo", "Ximena", "Diego", "Mariana", "Andrés",
         "Guadalupe", "Renzo", "Fiorella", "Óscar", "Ángela", "Jhon Jairo", "Begoña", "Iñaki", "Rocío", "Emiliano",
         "María José", "Sebastián", "Daniela", "Nicolás", "Paola", "Julián", "Luz Marina", "Wílmer", "Yésica", "Hernán"]
LAST = ["Peña", "Muñoz", "Quispe", "Hernández", "Ospina", "Zúñiga", "Castaño", "Núñez", "Flores", "Ibáñez",
        "Villaseñor", "Rojas", "Salazar", "Mamani", "Londoño", "Ávila", "Echeverría", "Cárdenas", "Gómez", "Pérez",
        "Gutiérrez", "Jaramillo", "Montoya", "Cifuentes", "Benítez", "Sáenz", "Álvarez", "Ortiz", "Chávez", "Díaz"]
CITIES = [("Bogotá", "Cundinamarca"), ("Medellín", "Antioquia"), ("Cali", "Valle del Cauca"),
          ("Barranquilla", "Atlántico"), ("Bucaramanga", "Santander"), ("Pereira", "Risaralda"),
          ("Lima", "Lima"), ("Quito", "Pichincha"), ("Guadalajara", "Jalisco")]
PRODUCTS = ["Plan Hogar", "Combo Oficina", "Kit Escolar", "Seguro Moto", "Suscripción Premium", "Pedido web",
            "Plan Empresarial", "Renovación anual"]
NOTE_TEXTS = ["El cliente pidió que lo llamemos más tarde.", "No contestó; dejé mensaje en el buzón de voz.",
              "Interesado; enviar cotización y cerrar en la próxima llamada.", "Pide descuento por volumen.",
              "Confirmó dirección de entrega, espera la factura.", "El cliente no está interesado por ahora."]
OUTCOMES = ["positivo", "negativo", "parcial", "no_clasificado"]

# Kommo account of crm/tests/payloads.py
KOMMO_SUBDOMAIN = "mycompany"
KOMMO_ACCOUNT_ID = 32720107
KOMMO_TO_CALL_STATUS = 67548611
KOMMO_PIPELINE = 8572511
WEBHOOK_SECRET = "bench-webhook-secret-0123456789abcdef"
FORM = "application/x-www-form-urlencoded"
# A throughput figure needs more than a third of a second of traffic: the intake sends at least this many.
INTAKE_MIN_N = 3000
# Redis for TASK_BACKEND=rq: a database the scenario may empty afterwards (it refuses a non-empty one).
DEFAULT_BENCH_REDIS_URL = "redis://127.0.0.1:6379/14"
# "Siguiente lead" at a realistic pace: 100 agents pressing, all together, this many times a second (each agent
# once every 33 s on average: a short call and its note; real calls last minutes).
PACED_RATE = 3.0

# Filled by ensure_leads() / ensure_account(); one worker builds the data set once for every scenario here.
_state: dict[str, Any] = {}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the data set --------------------------------------------------------------------------------------


def _create_staff() -> None:
    from accounts.actions import do_create_api_token, do_create_user
    from accounts.roles import Role

    rng = random.Random(7)
    agents: list[dict[str, Any]] = []
    for i in range(1, AGENT_COUNT + 1):
        user = do_create_user(username=f"agente{i:03d}", password=None, role=Role.AGENTE, acting_user=None,
                              full_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}")
        _, token = do_create_api_token(user, name="bench", acting_user=None)
        agents.append({"id": user.pk, "username": user.username, "token": token})
    supervisor = do_create_user(username=SUPERVISOR_USERNAME, password=None, role=Role.SUPERVISOR,
                                full_name="Supervisora Benchmark", acting_user=None)
    _, supervisor_token = do_create_api_token(supervisor, name="bench", acting_user=None)
    _state.update(agents=agents, supervisor_id=supervisor.pk, supervisor_token=supervisor_token)


def _build_chunk(rng: random.Random, start: int, count: int, *, now: Any, tag_ids: list[int],
                 list_ids: list[int]) -> None:
    from core.text import fold
    from customers.models import Customer, CustomerEmail, CustomerPhone
    from leads.models import Lead

    agent_ids = [a["id"] for a in _state["agents"]]
    customers = []
    names = []
    for _ in range(count):
        first, last1, last2 = rng.choice(FIRST), rng.choice(LAST), rng.choice(LAST)
        name = f"{first} {last1} {last2}"
        city, department = rng.choice(CITIES)
        customers.append(Customer(name=name, search_name=fold(name)[:200], city=city, department=department,
                                  document_id=str(rng.randint(10_000_000, 1_999_999_999))))
        names.append((first, last1))
    Customer.objects.bulk_create(customers, batch_size=BATCH)

    phones, emails, customer_tags, customer_lists = [], [], [], []
    customer_tag_through, customer_list_through = Customer.tags.through, Customer.marketing_lists.through
    for offset, customer in enumerate(customers):
        number = start + offset
        phones.append(CustomerPhone(customer_id=customer.pk, e164=f"+57300{number:07d}", label="móvil"))
        if rng.random() < 0.3:
            first, last = (fold(part).replace(" ", "") for part in names[offset])
            emails.append(CustomerEmail(customer_id=customer.pk, email=f"{first}.{last}{number}@example.com"))
        if rng.random() < 0.3:
            customer_tags += [customer_tag_through(customer_id=customer.pk, tag_id=t)
                              for t in rng.sample(tag_ids, rng.randint(1, 2))]
        if rng.random() < 0.5:
            customer_lists.append(customer_list_through(customer_id=customer.pk, marketinglist_id=rng.choice(list_ids)))
    CustomerPhone.objects.bulk_create(phones, batch_size=BATCH)
    CustomerEmail.objects.bulk_create(emails, batch_size=BATCH)
    customer_tag_through.objects.bulk_create(customer_tags, batch_size=BATCH)
    customer_list_through.objects.bulk_create(customer_lists, batch_size=BATCH)

    leads = []
    span = QUEUE_DAYS * 86400
    picked = False  # one never-contacted lead per chunk, from its second half: the phone-search targets
    for offset, customer in enumerate(customers):
        number = start + offset
        entered = now - timedelta(seconds=rng.uniform(0, span))
        first, last = names[offset]
        name = f"{rng.choice(PRODUCTS)} - {first} {last}"
        lead = Lead(kommo_id=10_000_000 + number, name=name, search_name=fold(name)[:250], customer_id=customer.pk,
                    price=Decimal(rng.randrange(50_000, 5_000_000, 1000)), pipeline_id=KOMMO_PIPELINE,
                    status_id=KOMMO_TO_CALL_STATUS, stage_name="Ventas / Para Llamar",
                    kommo_updated_at=int(entered.timestamp()), in_queue=True, queue_entered_at=entered,
                    queue_sort_at=entered, created_at=entered)
        roll = rng.random()
        if roll < 0.5:
            if not picked and offset >= count // 2:
                _state.setdefault("open_phone_numbers", []).append(number)
                picked = True
        else:
            first_note = entered + (now - entered) * rng.uniform(0, 0.5)
            last_note = first_note + (now - first_note) * rng.uniform(0, 1)
            lead.contacted, lead.notes_count = True, rng.randint(1, 6)
            lead.first_note_at, lead.last_note_at, lead.queue_sort_at = first_note, last_note, last_note
            lead.last_note_text, lead.last_note_outcome = rng.choice(NOTE_TEXTS), rng.choice(OUTCOMES)
            lead.work_status = "en_proceso"
            if roll >= 0.9:
                lead.work_status, lead.closed_at = "completado", last_note
                lead.closed_by_id = lead.held_by_id = rng.choice(agent_ids)
                lead.held_at = first_note
            elif roll >= 0.8:
                lead.held_by_id, lead.held_at = rng.choice(agent_ids), first_note
        leads.append(lead)
    Lead.objects.bulk_create(leads, batch_size=BATCH)
    lead_tag_through = Lead.tags.through
    lead_tag_through.objects.bulk_create(
        (lead_tag_through(lead_id=lead.pk, tag_id=rng.choice(tag_ids)) for lead in leads if rng.random() < 0.15),
        batch_size=BATCH,
    )


def ensure_leads(size: int) -> None:
    if _state.get("size") == size:
        return
    if "size" in _state:
        raise RuntimeError(f"callcenter data set already built with {_state['size']} leads, not {size}")
    from django.db import connection, transaction
    from django.utils import timezone

    from customers.models import MarketingList, Tag
    from leads.models import Lead, LeadSettings

    rng = random.Random(3)
    started = time.perf_counter()
    now = timezone.now()
    with transaction.atomic():
        _create_staff()
        LeadSettings.load()  # the singleton exists, as on any installation that opened the queue once
        Tag.objects.bulk_create(Tag(name=name) for name in TAGS)
        MarketingList.objects.bulk_create(MarketingList(code=code, name=name) for code, name in LISTS)
        tag_ids = list(Tag.objects.values_list("pk", flat=True))
        list_ids = list(MarketingList.objects.values_list("pk", flat=True))
        for start in range(0, size, BATCH):
            _build_chunk(rng, start, min(BATCH, size - start), now=now, tag_ids=tag_ids, list_ids=list_ids)
            if start and start % 50_000 == 0:
                _log(f"  callcenter: {start} leads ({time.perf_counter() - started:.0f} s)")
    build_seconds = time.perf_counter() - started
    analyze_seconds = 0.0
    if connection.vendor == "postgresql":
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        analyze_seconds = time.perf_counter() - t0
    assert Lead.objects.count() == size
    counts = {status: Lead.objects.filter(work_status=status).count() for status in ("ninguno", "en_proceso",
                                                                                     "completado")}
    held = Lead.objects.filter(held_by__isnull=False).count()
    _log(f"  callcenter: built {size} leads in {build_seconds:.1f} s (+ ANALYZE {analyze_seconds:.1f} s); "
         f"{counts}, held {held}")
    number = _state["open_phone_numbers"][len(_state["open_phone_numbers"]) // 2]
    _state.update(size=size, build_seconds=build_seconds, phone_number=number)


def ensure_account() -> None:
    """The connected Kommo account of crm/tests/payloads.py (pk=1), with a known webhook secret."""
    if _state.get("account"):
        return
    from crm.models import KommoAccount

    KommoAccount.objects.update_or_create(pk=1, defaults={
        "subdomain": KOMMO_SUBDOMAIN, "account_id": KOMMO_ACCOUNT_ID, "long_lived_token": "bench",
        "base_url": "http://127.0.0.1:9", "to_call_pipeline_id": KOMMO_PIPELINE,
        "to_call_status_id": KOMMO_TO_CALL_STATUS, "webhook_secret": WEBHOOK_SECRET,
        "stage_names": {str(KOMMO_TO_CALL_STATUS): "Para Llamar"}, "connected_at": None, "is_active": True,
    })
    _state["account"] = True


# --- in-process requests: the queue page and API ----------------------------------------------------------


def _agent_session() -> Any:
    from django.test import Client

    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(pk=_state["agents"][0]["id"]))
    return client


def _rows(response: Any) -> int:
    # each lead row carries data-lead-id="<pk>"; the hidden row template carries data-lead-id=""
    return response.content.count(b'data-lead-id="') - response.content.count(b'data-lead-id=""')


def _run_page(path: str, n: int, check: Callable[[Any], None]) -> list[Sample]:
    client = _agent_session()
    check(client.get(path))
    return timed_requests(lambda: client.get(path), n)


def run_queue_page(n: int) -> list[Sample]:
    def check(response: Any) -> None:
        if response.status_code != 200 or _rows(response) != 50 or b"queue-next-page" not in response.content:
            raise RuntimeError(f"queue page: HTTP {response.status_code}, {_rows(response)} rows")

    return _run_page("/call-center-queue", n, check)


def run_queue_filtered(n: int) -> list[Sample]:
    def check(response: Any) -> None:
        if response.status_code != 200 or _rows(response) != 50:
            raise RuntimeError(f"filtered queue: HTTP {response.status_code}, {_rows(response)} rows")

    return _run_page(f"/call-center-queue?status=en_proceso&tag={FILTER_TAG}", n, check)


def _phone_query() -> tuple[str, str]:
    digits = f"{_state['phone_number']:07d}"
    return f"300-{digits[:3]}-{digits[3:]}", f"+57300{digits}"


def run_queue_phone_search(n: int) -> list[Sample]:
    from customers.models import CustomerPhone
    from leads.models import Lead

    query, e164 = _phone_query()
    lead = Lead.objects.get(customer__phones__e164=e164)

    def check(response: Any) -> None:
        if response.status_code != 200 or _rows(response) != 1 or f'data-lead-id="{lead.pk}"'.encode() not in \
                response.content:
            raise RuntimeError(f"phone search {query}: HTTP {response.status_code}, {_rows(response)} rows")

    assert CustomerPhone.objects.filter(e164=e164).exists()
    return _run_page(f"/call-center-queue?q={query}", n, check)


def run_queue_api(n: int) -> list[Sample]:
    from django.test import Client

    client = Client(headers={"Authorization": f"Bearer {_state['agents'][0]['token']}"})
    data = client.get("/api/v1/leads/queue", {"page_size": "50"}).json()
    if len(data["results"]) != 50 or not data["next"] or not all(r["customer"]["phones"] for r in data["results"]):
        raise RuntimeError(f"queue API: {len(data.get('results', []))} results")
    return timed_requests(lambda: client.get("/api/v1/leads/queue", {"page_size": "50"}), n)


# --- live server helpers -------------------------------------------------------------------------------

SERVER_STARTUP_TIMEOUT = 120.0  # daphne's first start on a loaded 2-vCPU machine can exceed the default 30 s



@contextlib.contextmanager
def _server(overrides: dict[str, str | None] | None = None, *, django_views: bool = True) -> Iterator[str]:
    """A live daphne server. For scenarios served by Django views, DB_CONN_MAX_AGE is 0 unless
    BENCH_DB_CONN_MAX_AGE says otherwise: under ASGI every request runs on a new thread with its own connection,
    so the default 60 leaves one open PostgreSQL connection per recent request until max_connections is
    exhausted (HTTP 500, see docs/benchmarks.md, "Call-center queue"). The Kommo intake's fast route stores
    from one long-lived thread, so it runs with the application's default."""
    env: dict[str, str | None] = {}
    if django_views or "BENCH_DB_CONN_MAX_AGE" in os.environ:
        env["DB_CONN_MAX_AGE"] = os.environ.get("BENCH_DB_CONN_MAX_AGE", "0")
    env.update(overrides or {})
    with harness.environ(env), live_server(startup_timeout=SERVER_STARTUP_TIMEOUT) as base_url:
        yield base_url


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _daphne_pids() -> list[int]:
    me = os.getpid()
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{me}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{me}/task/{task}/children") as children:
                pids += [int(pid) for pid in children.read().split()]
    found = []
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            if b"daphne" in cmdline.read():
                found.append(pid)
    return found


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class _CpuMeter:
    """Where the CPU went during a timed phase: the daphne process, this process (the httpx clients) and the
    whole machine (PostgreSQL, other processes). Logged per request, to explain a throughput ceiling."""

    def __init__(self) -> None:
        self.pids = _daphne_pids()
        self.server0 = sum(_cpu_seconds(pid) for pid in self.pids)
        self.client0 = sum(os.times()[:2])
        self.machine0 = _machine_busy()
        self.t0 = time.perf_counter()

    def report(self, label: str, requests: int) -> None:
        wall = time.perf_counter() - self.t0
        server = sum(_cpu_seconds(pid) for pid in self.pids) - self.server0
        client = sum(os.times()[:2]) - self.client0
        busy, total = (a - b for a, b in zip(_machine_busy(), self.machine0, strict=True))
        cpus = os.cpu_count() or 1
        _log(f"  callcenter: {label}: CPU per request: daphne {server / requests * 1000:.2f} ms, "
             f"bench clients {client / requests * 1000:.2f} ms, other processes (database…) "
             f"{max(0.0, busy / os.sysconf('SC_CLK_TCK') - server - client) / requests * 1000:.2f} ms; "
             f"machine {busy / total * 100 if total else 0:.0f}% busy over {wall:.1f} s on {cpus} CPUs")


def _error_summary(response: Any) -> str:
    """HTTP status and, for a DEBUG 500 page, the exception line (the server's log is not at hand)."""
    text = response.text
    if text.startswith("Traceback"):  # DEBUG API errors: a plain-text traceback, the exception last
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith(" ")]
        return f"HTTP {response.status_code} {lines[-1][:300] if lines else ''}"
    match = re.search(r'<pre class="exception_value">(.*?)</pre>', text, re.S)
    title = re.search(r"<title>(.*?)</title>", text, re.S)
    if match or title:
        detail = " ".join(html.unescape((title.group(1) if title else "") + ": " + (match.group(1) if match else ""))
                          .split())
        return f"HTTP {response.status_code} {detail[:300]}"
    return f"HTTP {response.status_code} {text[:200]}"


def _release_bench_connection() -> None:
    """The bench process's own database connection is not part of the system under test: close it before a
    load phase so that it does not count against PostgreSQL's max_connections."""
    from django.db import connections

    connections.close_all()


def _in_threads[T](count: int, target: Callable[[int], T]) -> list[T]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(target, range(count)))


# --- "Siguiente lead" ------------------------------------------------------------------------------------


def _note(lead_id: int) -> dict[str, str]:
    return {"text": f"Llamada de prueba al lead {lead_id}: no contestó.", "outcome": "no_clasificado"}


def run_next_lead(n: int) -> list[Sample]:
    """One agent in-process: POST /api/v1/leads/next timed (with its SQL), then a note (untimed) so that the
    next press claims a fresh lead."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    agent = _state["agents"][0]
    client = Client(headers={"Authorization": f"Bearer {agent['token']}"})
    claims = _Claims()

    def claim() -> tuple[float, int]:
        with CaptureQueriesContext(connection) as queries:
            t0 = time.perf_counter()
            response = client.post("/api/v1/leads/next")
            elapsed = time.perf_counter() - t0
        sql = len(queries.captured_queries)  # now: the next request resets the query log
        if response.status_code != 200:
            raise RuntimeError(f"next lead: HTTP {response.status_code} {response.content[:200]!r}")
        lead_id = int(response.json()["id"])
        claims.add(lead_id, 0)
        noted = client.post(f"/api/v1/leads/{lead_id}/notes", _note(lead_id), content_type="application/json")
        if noted.status_code != 201:
            raise RuntimeError(f"note on {lead_id}: HTTP {noted.status_code} {noted.content[:200]!r}")
        return elapsed, sql

    for _ in range(harness.WARMUP):
        claim()
    samples = Samples()
    started = time.perf_counter()
    for _ in range(n):
        elapsed, sql = claim()
        samples.append(Sample(elapsed, sql))
    samples.wall_seconds = time.perf_counter() - started
    claims.verify()
    return samples


class _Claims:
    """Leads returned by /api/v1/leads/next, per agent, across a scenario (warm-up included), and the
    requests the server failed (5xx: counted and reported, not timed)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_lead: dict[int, list[int]] = {}
        self.failures: list[str] = []
        self.unnoted: set[int] = set()  # claimed, but the note failed: the agent's next press returns it again

    def add(self, lead_id: int, agent_index: int) -> None:
        with self.lock:
            self.by_lead.setdefault(lead_id, []).append(agent_index)

    def fail(self, message: str, unnoted: int | None = None) -> None:
        with self.lock:
            self.failures.append(message)
            if unnoted is not None:
                self.unnoted.add(unnoted)

    def report_failures(self, label: str) -> None:
        if self.failures:
            kinds: dict[str, int] = {}
            for message in self.failures:
                kinds[message] = kinds.get(message, 0) + 1
            _log(f"  callcenter: {label}: {len(self.failures)} requests FAILED (not timed): "
                 + "; ".join(f"{count}x {message}" for message, count in kinds.items()))

    def verify(self) -> None:
        """Zero double reservations: no lead given to two agents (nor twice to one, unless its note failed),
        every claimed lead held in the database by the agent it was given to, and at most one `held via next`
        event per lead."""
        from django.db.models import Count

        from leads.models import Lead, LeadEvent

        doubles = {lead: given for lead, given in self.by_lead.items() if len(set(given)) > 1}
        if doubles:
            raise RuntimeError(f"double reservations: {len(doubles)} leads given to two agents, "
                               f"e.g. {list(doubles.items())[:5]}")
        repeats = [lead for lead, given in self.by_lead.items() if len(given) > 1 and lead not in self.unnoted]
        if repeats:
            raise RuntimeError(f"{len(repeats)} noted leads given again to the same agent, e.g. {repeats[:5]}")
        agents = _state["agents"]
        expected = {lead: agents[given[0]]["id"] for lead, given in self.by_lead.items()}
        held = dict(Lead.objects.filter(pk__in=expected).values_list("pk", "held_by_id"))
        wrong = {lead: (owner, held.get(lead)) for lead, owner in expected.items() if held.get(lead) != owner}
        if wrong:
            raise RuntimeError(f"{len(wrong)} claimed leads not held by their agent, e.g. {list(wrong.items())[:5]}")
        twice = (LeadEvent.objects.filter(kind="held", data__via="next").values("lead_id")
                 .annotate(n=Count("id")).filter(n__gt=1).count())
        if twice:
            raise RuntimeError(f"{twice} leads have more than one 'held via next' event")
        _log(f"  callcenter: {len(expected)} leads claimed by {len(set(expected.values()))} agents, "
             "0 double reservations (responses and database)")


def _agent_client(base_url: str, agent: dict[str, Any]) -> Any:
    import httpx

    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {agent['token']}"}, timeout=120)


def _claim_and_note(client: Any, claims: _Claims, agent_index: int) -> float | None:
    """POST /leads/next (timed) then a note on the lead (untimed); returns the /next latency, or None when
    the server failed the claim (5xx, recorded in `claims`)."""
    t0 = time.perf_counter()
    response = client.post("/api/v1/leads/next")
    elapsed = time.perf_counter() - t0
    if response.status_code >= 500:
        claims.fail(f"next: {_error_summary(response)}")
        return None
    if response.status_code != 200:
        raise RuntimeError(f"next lead: {_error_summary(response)}")
    lead_id = int(response.json()["id"])
    claims.add(lead_id, agent_index)
    noted = client.post(f"/api/v1/leads/{lead_id}/notes", json=_note(lead_id))
    if noted.status_code >= 500:
        claims.fail(f"note: {_error_summary(noted)}", unnoted=lead_id)
    elif noted.status_code != 201:
        raise RuntimeError(f"note on {lead_id}: {_error_summary(noted)}")
    return elapsed


def _run_agents(n: int, agent_loop: Callable[[str, int, _Claims], list[float]], label: str,
                overrides: dict[str, str | None] | None = None) -> list[Sample]:
    """Every agent on its own thread and token against one live server; then the double-reservation check."""
    agents = _state["agents"]
    claims = _Claims()
    with _server(overrides) as base_url:
        for i in range(harness.WARMUP):  # sequential warm-up claims (checked with the rest)
            with _agent_client(base_url, agents[i % len(agents)]) as client:
                _claim_and_note(client, claims, i % len(agents))
        _release_bench_connection()
        meter = _CpuMeter()
        samples = Samples()
        started = time.perf_counter()
        for latencies in _in_threads(len(agents), lambda index: agent_loop(base_url, index, claims)):
            samples.extend(Sample(latency, None) for latency in latencies)
        samples.wall_seconds = time.perf_counter() - started
        meter.report(label, len(samples) * 2)  # a claim and a note per sample
    claims.report_failures(label)
    claims.verify()
    return samples


def run_next_lead_burst(n: int) -> list[Sample]:
    """100 agents (own token each) against a live server, in rounds: in every round all of them press
    "Siguiente lead" at the same instant (a barrier), then each notes the lead it got."""
    agents = _state["agents"]
    rounds = max(1, math.ceil(n / len(agents)))
    barrier = threading.Barrier(len(agents))

    def agent(base_url: str, index: int, claims: _Claims) -> list[float]:
        latencies = []
        try:
            with _agent_client(base_url, agents[index]) as client:
                for _ in range(rounds):
                    barrier.wait(timeout=600)
                    elapsed = _claim_and_note(client, claims, index)
                    if elapsed is not None:
                        latencies.append(elapsed)
        except BaseException:
            barrier.abort()
            raise
        return latencies

    return _run_agents(n, agent, "next lead, bursts of 100 (per claim + note)")


def _paced(n: int, overrides: dict[str, str | None] | None, label: str) -> list[Sample]:
    """Open loop: n presses at Poisson-distributed moments, PACED_RATE a second in total, dealt round-robin
    to the agents (an agent still busy with its previous lead presses as soon as it is done)."""
    agents = _state["agents"]
    rng = random.Random(5)
    moments, moment = [], 0.0
    for _ in range(max(n, len(agents))):
        moment += rng.expovariate(PACED_RATE)
        moments.append(moment)
    origin: list[float] = []
    lock = threading.Lock()

    def agent(base_url: str, index: int, claims: _Claims) -> list[float]:
        with lock:
            if not origin:
                origin.append(time.perf_counter())
        latencies = []
        with _agent_client(base_url, agents[index]) as client:
            for due in moments[index::len(agents)]:
                time.sleep(max(0.0, origin[0] + due - time.perf_counter()))
                elapsed = _claim_and_note(client, claims, index)
                if elapsed is not None:
                    latencies.append(elapsed)
        return latencies

    return _run_agents(n, agent, label, overrides)


def run_next_lead_paced(n: int) -> list[Sample]:
    """100 agents (own token each) against a live server, pressing at random moments, PACED_RATE times a second
    all together; each notes the lead it got (untimed)."""
    return _paced(n, None, f"next lead paced {PACED_RATE:g}/s, in-memory channel layer (per claim + note)")


def run_next_lead_paced_layer(n: int) -> list[Sample]:
    """As next_lead_paced, with the channel layer the installation would really use (CHANNEL_LAYER unset:
    channels-lite on SQLite, channels-postgres on PostgreSQL): every claim and note is broadcast to the
    101 users who can see the queue."""
    return _paced(n, {"CHANNEL_LAYER": None},
                  f"next lead paced {PACED_RATE:g}/s, default channel layer (per claim + note)")


# --- Kommo webhook intake ------------------------------------------------------------------------------


_next_kommo_lead = [60_000_000]


def _webhook_bodies(count: int) -> list[str]:
    from crm.tests.payloads import body, lead_item

    rng = random.Random(_next_kommo_lead[0])
    bodies = []
    for _ in range(count):
        lead_id = _next_kommo_lead[0]
        _next_kommo_lead[0] += 1
        action = rng.choice(["add", "status", "update"])
        name = f"{rng.choice(PRODUCTS)} - {rng.choice(FIRST)} {rng.choice(LAST)}"
        bodies.append(body(lead_item(action, 0, lead_id=lead_id, status_id=KOMMO_TO_CALL_STATUS, name=name,
                                     updated_at=1726572758 + lead_id % 100_000, tags=rng.sample(TAGS, 1),
                                     old_status_id=67548600 if action == "status" else None)))
    return bodies


def _redis_for_rq() -> str:
    import redis

    url = os.environ.get("BENCH_REDIS_URL", DEFAULT_BENCH_REDIS_URL)
    try:
        size = redis.Redis.from_url(url, socket_connect_timeout=2).dbsize()
    except redis.RedisError as exc:
        raise RuntimeError(f"Redis is not reachable at {url} (set BENCH_REDIS_URL): {exc}") from exc
    if size:
        raise RuntimeError(f"Redis database {url} holds {size} keys; the benchmark needs an empty one")
    return url


def _queued_delivery_ids(backend: str, redis_url: str | None) -> list[int] | None:
    """The delivery ids that the queued Kommo tasks will process, one entry per (task, delivery): the intake
    queues one `process_kommo_webhooks` task per group-committed batch (a list of ids), the Django view one
    `process_kommo_webhook` per delivery. None for the dummy backend (it keeps tasks in the server's memory)."""
    arguments: list[Any] = []
    if backend == "db":
        from django_tasks_db.models import DBTaskResult

        arguments = [row["args"][0] for row in DBTaskResult.objects.filter(task_path__contains="process_kommo_webhook")
                     .values_list("args_kwargs", flat=True) if row.get("args")]
    elif backend == "rq" and redis_url:
        import redis
        from rq.job import Job

        conn = redis.Redis.from_url(redis_url)
        for job_id in conn.lrange("rq:queue:crm", 0, -1):
            job = Job.fetch(job_id.decode(), connection=conn)
            if "process_kommo_webhook" in (job.func_name or "") and job.args:
                arguments.append(job.args[0])
    else:
        return None
    _log(f"  callcenter: {len(arguments)} Kommo processing tasks queued in all")
    ids: list[int] = []
    for argument in arguments:
        ids += [int(i) for i in argument] if isinstance(argument, list) else [int(argument)]
    return ids


def _check_intake(before_id: int, accepted: int, expected: int, queued: list[int] | None, label: str) -> None:
    """Acceptance means stored (one row per 200, no duplicate body) and queued (every stored delivery in
    exactly one queued task)."""
    from collections import Counter

    from django.db.models import Count

    from crm.models import WebhookDelivery

    rows = WebhookDelivery.objects.filter(pk__gt=before_id)
    stored = rows.count()
    duplicates = rows.values("body").annotate(c=Count("id")).filter(c__gt=1).count()
    not_received = rows.exclude(state=WebhookDelivery.State.RECEIVED).count()
    queued_text = "tasks in the server's memory"
    problems = []
    if queued is not None:
        ids = set(rows.values_list("pk", flat=True))
        counts = Counter(i for i in queued if i > before_id)
        missing, twice = len(ids - set(counts)), sum(1 for c in counts.values() if c > 1)
        queued_text = f"{len(counts)} deliveries queued for processing ({missing} missing, {twice} twice)"
        if missing or twice or set(counts) - ids:
            problems.append(queued_text)
    _log(f"  callcenter: {label}: {accepted} accepted (200), {stored} rows stored, {duplicates} duplicate bodies, "
         f"{queued_text}")
    if stored != accepted or accepted != expected or duplicates or not_received:
        problems.append(f"{accepted}/{expected} accepted but {stored} rows stored ({duplicates} duplicate bodies, "
                        f"{not_received} not 'received')")
    if problems:
        raise RuntimeError("intake: " + "; ".join(problems))


def _run_intake(n: int, threads: int, backend: str) -> list[Sample]:
    """`threads` httpx clients POST distinct Kommo webhooks (form-encoded) to a live server whose task
    backend is `backend`; then checks one WebhookDelivery row per 200 and each row in exactly one queued task."""
    import httpx
    from django.db.models import Max

    from crm.models import WebhookDelivery

    n = max(n, INTAKE_MIN_N)
    overrides: dict[str, str | None] = {"TASK_BACKEND": backend}
    redis_url = _redis_for_rq() if backend == "rq" else None
    if redis_url:
        overrides["REDIS_URL"] = redis_url
    before_id = WebhookDelivery.objects.aggregate(m=Max("id"))["m"] or 0
    bodies = _webhook_bodies(harness.WARMUP + n)
    path = f"/integrations/kommo/webhook/{WEBHOOK_SECRET}/"
    lock = threading.Lock()
    pending = iter(bodies[harness.WARMUP:])
    accepted = [0]
    failures = _Claims()  # only its failure log: a 5xx is not an acceptance (Kommo would redeliver)

    def post(client: httpx.Client, raw: str) -> float | None:
        t0 = time.perf_counter()
        response = client.post(path, content=raw.encode(), headers={"Content-Type": FORM})
        elapsed = time.perf_counter() - t0
        if response.status_code >= 500:
            failures.fail(_error_summary(response))
            return None
        if response.status_code != 200:
            raise RuntimeError(f"webhook: {_error_summary(response)}")
        with lock:
            accepted[0] += 1
        return elapsed

    def worker(base_url: str) -> list[float]:
        latencies: list[float] = []
        with httpx.Client(base_url=base_url, timeout=60) as client:
            while True:
                with lock:
                    raw = next(pending, None)
                if raw is None:
                    return latencies
                elapsed = post(client, raw)
                if elapsed is not None:
                    latencies.append(elapsed)

    label = f"intake TASK_BACKEND={backend}, {threads} threads"
    try:
        with _server(overrides, django_views=False) as base_url:
            with httpx.Client(base_url=base_url, timeout=60) as client:
                for raw in bodies[:harness.WARMUP]:
                    post(client, raw)
            _release_bench_connection()
            meter = _CpuMeter()
            samples = Samples()
            started = time.perf_counter()
            for latencies in _in_threads(threads, lambda _index: worker(base_url)):
                samples.extend(Sample(latency, None) for latency in latencies)
            samples.wall_seconds = time.perf_counter() - started
            meter.report(label, n)
        queued = _queued_delivery_ids(backend, redis_url)
    finally:
        if redis_url:
            import redis

            redis.Redis.from_url(redis_url).flushdb()  # it was empty before (_redis_for_rq)
    failures.report_failures(label)
    _check_intake(before_id, accepted[0], len(bodies) - len(failures.failures), queued, label)
    return samples


WRK_SECONDS = float(os.environ.get("BENCH_WRK_SECONDS", "15"))


def _run_intake_wrk(_n: int, connections: int) -> list[Sample]:
    """Kommo webhooks from wrk (a C load generator: Python clients used a core of their own) for WRK_SECONDS,
    `connections` open connections, against BENCH_WEB_PROCESSES daphne processes sharing one socket (the
    `manage.py serve` model). TASK_BACKEND=db, the embedded default. Checks that every 200 is one stored row and
    that no body was stored twice; requests still in flight when wrk stops may be stored without being counted,
    so stored may exceed answered by at most `connections`."""
    from django.db.models import Max

    from crm.models import WebhookDelivery

    before_id = WebhookDelivery.objects.aggregate(m=Max("id"))["m"] or 0
    bodies = _webhook_bodies(int(WRK_SECONDS * 4000))
    path = f"/integrations/kommo/webhook/{WEBHOOK_SECRET}/"
    processes = harness.web_processes()
    label = f"intake from wrk, {connections} connections, {processes} web process(es), TASK_BACKEND=db"
    with _server({"TASK_BACKEND": "db"}, django_views=False) as base_url:
        warm, _errors = harness.wrk_post(base_url + path, _webhook_bodies(200), connections=4, seconds=1,
                                         content_type=FORM)
        _release_bench_connection()
        meter = _CpuMeter()
        samples, errors = harness.wrk_post(base_url + path, bodies, connections=connections, seconds=WRK_SECONDS,
                                           content_type=FORM)
        meter.report(label, samples.requests or 1)
    rows = WebhookDelivery.objects.filter(pk__gt=before_id)
    stored = rows.count()
    from django.db.models import Count

    duplicates = rows.values("body").annotate(c=Count("id")).filter(c__gt=1).count()
    answered = (warm.requests or 0) + (samples.requests or 0)
    # wrk re-sends a request whose connection closed before the answer, so a body may be stored twice: Kommo
    # redelivers too, and processing is idempotent (one lead, one queue entry; crm tests prove it).
    _log(f"  callcenter: {label}: {samples.requests} answered in {samples.wall_seconds:.1f} s, errors {errors}, "
         f"{stored} rows stored (warm-up included: {answered} answered), {duplicates} bodies stored twice "
         "(client re-sends)")
    if duplicates > connections or any(errors.values()) or not answered <= stored <= answered + connections + 4:
        raise RuntimeError(f"intake: {answered} answered, {stored} stored, {duplicates} duplicates, errors {errors}")
    return samples


def run_healthz_ceiling(n: int) -> list[Sample]:
    """The same live server and client answering GET /healthz (full middleware chain, no database): the
    requests per second this machine gives to any view, whatever the view does."""
    with _server() as base_url:
        for _ in range(harness.WARMUP):
            harness.concurrent_requests(base_url, "/healthz", n=1, threads=1, warmup=0)
        meter = _CpuMeter()
        count = max(n, INTAKE_MIN_N)
        samples = harness.concurrent_requests(base_url, "/healthz", n=count, threads=16, warmup=0)
        meter.report("healthz, 16 threads", count)
    return samples


def _setup_intake(_size: int) -> None:
    ensure_account()


SCENARIOS = [
    Scenario(
        name="callcenter.queue_page",
        description="GET /call-center-queue (agent session), first page of 50, 300,000 leads",
        setup=ensure_leads, run=run_queue_page, size=SIZE,
    ),
    Scenario(
        name="callcenter.queue_filtered",
        description=f"GET /call-center-queue?status=en_proceso&tag={FILTER_TAG}, 300,000 leads",
        setup=ensure_leads, run=run_queue_filtered, size=SIZE,
    ),
    Scenario(
        name="callcenter.queue_phone_search",
        description="GET /call-center-queue?q=300-xxx-xxxx (a customer's phone, not in E.164), 300,000 leads",
        setup=ensure_leads, run=run_queue_phone_search, size=SIZE,
    ),
    Scenario(
        name="callcenter.queue_api",
        description="GET /api/v1/leads/queue?page_size=50 (agent bearer token), 300,000 leads",
        setup=ensure_leads, run=run_queue_api, size=SIZE,
    ),
    Scenario(
        name="callcenter.next_lead",
        description="POST /api/v1/leads/next in-process, one agent (a note after each claim, untimed)",
        setup=ensure_leads, run=run_next_lead, size=SIZE,
    ),
    Scenario(
        name="callcenter.next_lead_concurrent",
        description="POST /api/v1/leads/next, live server, 100 agents pressing at the same instant per round",
        setup=ensure_leads, run=run_next_lead_burst, size=SIZE,
    ),
    Scenario(
        name="callcenter.next_lead_paced",
        description=f"POST /api/v1/leads/next, live server, 100 agents pressing {PACED_RATE:g} times/s in total",
        setup=ensure_leads, run=run_next_lead_paced, size=SIZE,
    ),
    Scenario(
        name="callcenter.next_lead_paced_layer",
        description="next_lead_paced with the default channel layer (channels-lite / channels-postgres)",
        setup=ensure_leads, run=run_next_lead_paced_layer, size=SIZE,
    ),
    Scenario(
        name="callcenter.healthz_ceiling",
        description="GET /healthz, live server, 16 threads: requests/s of daphne + client on this machine",
        setup=_setup_intake, run=run_healthz_ceiling, size=0,
    ),
    Scenario(
        name="callcenter.webhook_intake",
        description="POST Kommo webhooks, live server, 16 threads, TASK_BACKEND=dummy (the bench default)",
        setup=_setup_intake, run=lambda n: _run_intake(n, 16, "dummy"), size=0,
    ),
    Scenario(
        name="callcenter.webhook_intake_64",
        description="POST Kommo webhooks, live server, 64 threads, TASK_BACKEND=dummy",
        setup=_setup_intake, run=lambda n: _run_intake(n, 64, "dummy"), size=0,
    ),
    Scenario(
        name="callcenter.webhook_intake_taskdb",
        description="POST Kommo webhooks, live server, 16 threads, TASK_BACKEND=db (the embedded default)",
        setup=_setup_intake, run=lambda n: _run_intake(n, 16, "db"), size=0,
    ),
    Scenario(
        name="callcenter.webhook_intake_wrk",
        description="POST Kommo webhooks from wrk (64 connections), live server with BENCH_WEB_PROCESSES daphne "
                    "processes on one socket, TASK_BACKEND=db",
        setup=_setup_intake, run=lambda n: _run_intake_wrk(n, 64), size=0,
    ),
    Scenario(
        name="callcenter.webhook_intake_wrk16",
        description="POST Kommo webhooks from wrk (16 connections), live server with BENCH_WEB_PROCESSES daphne "
                    "processes on one socket, TASK_BACKEND=db",
        setup=_setup_intake, run=lambda n: _run_intake_wrk(n, 16), size=0,
    ),
    Scenario(
        name="callcenter.webhook_intake_rq",
        description="POST Kommo webhooks, live server, 16 threads, TASK_BACKEND=rq on Redis (BENCH_REDIS_URL)",
        setup=_setup_intake, run=lambda n: _run_intake(n, 16, "rq"), size=0,
    ),
]
