"""Orders on live stock (issue 4): order confirmation under 50 concurrent agents at 10,000 and at 1,000,000
existing orders (zero oversells checked against the ledger), and the Kommo outbox drain against the fake Kommo
at its 7 requests/second limit.

Data set (`ensure_orders(size)`, size = existing orders):
- a catalog of 10,000 products (bulk; `search_name` = core.text.fold(name)): 9,980 with a large stock and 20
  "hot" products with a small stock (topped up to HOT_STOCK with a receipt before every concurrent run, so the
  runs compete for their last units); one receipt StockMovement per product, so the ledger matches;
- 50 agents (accounts.actions.do_create_user + do_create_api_token, one token each);
- 20,000 customers with complete delivery data (name, address, city, department, document, one E.164 phone)
  and one lead each (bulk);
- `size` existing orders in state confirmado (bulk), spread over the last two years, 1-2 lines each of regular
  products, each line with its sale StockMovement and the products' stock decremented accordingly, so the
  ledger invariants hold over the whole database. OrderEvent and AuditLog rows of those orders are not generated.
  The set grows: the 1M scenarios add orders to what the 10k ones left. PostgreSQL gets an ANALYZE after each
  load (as autovacuum would); SQLite none (the application never runs ANALYZE).

Kommo is not connected during the confirmation scenarios (no KommoAccount row), so confirmations write no
outbox rows; `orders.outbox_drain` connects it to an in-process fake Kommo, and removes the account afterwards.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bench import harness
from bench.harness import Sample, Samples, Scenario, live_server, percentile

PRODUCT_COUNT = 10_000
HOT_COUNT = 20
HOT_STOCK = 8
REGULAR_STOCK = 1_000_000
AGENT_COUNT = 50
CUSTOMER_COUNT = 20_000
BATCH = 5000
ORDER_CHUNK = 50_000
HISTORY_DAYS = 730
HOT_SHARE = 0.10  # share of the benchmark's orders with a line of a hot product
# A throughput figure needs enough traffic: the concurrent scenarios run at least this many orders.
CONCURRENT_MIN_N = 1000
THREADS = 50
OUTBOX_ORDERS = 200
PACED_RATE = 5.0  # orders/s started by all agents together in the paced scenarios
DRAIN_TIMEOUT = 600.0
KOMMO_TOKEN = "bench-kommo-token"
SERVER_STARTUP_TIMEOUT = 120.0

CATEGORIES = {
    "Hogar": ["Licuadora", "Sartén antiadherente", "Juego de sábanas", "Lámpara de mesa", "Olla a presión"],
    "Tecnología": ["Audífonos inalámbricos", "Cargador rápido", "Parlante Bluetooth", "Reloj inteligente"],
    "Belleza": ["Crema hidratante", "Kit de maquillaje", "Secador de cabello", "Perfume floral"],
    "Deportes": ["Balón de fútbol", "Tapete de yoga", "Mancuernas", "Bicicleta estática"],
    "Moda": ["Camiseta algodón", "Zapatillas running", "Chaqueta impermeable", "Bolso de cuero"],
}
VARIANTS = ["negro", "blanco", "azul", "rojo", "talla S", "talla M", "talla L", "edición 2026", "pack x2", "básico"]
FIRST = ["Valentina", "Santiago", "Camila", "Mateo", "Lucía", "Juan Pablo", "Ximena", "Diego", "Mariana", "Andrés",
         "Guadalupe", "Renzo", "Fiorella", "Óscar", "Ángela", "Begoña", "Rocío", "Emiliano", "María José", "Hernán"]
LAST = ["Peña", "Muñoz", "Quispe", "Hernández", "Ospina", "Zúñiga", "Castaño", "Núñez", "Flores", "Ibáñez",
        "Rojas", "Salazar", "Londoño", "Ávila", "Cárdenas", "Gómez", "Gutiérrez", "Jaramillo", "Benítez", "Díaz"]
CITIES = [("Bogotá", "Cundinamarca"), ("Medellín", "Antioquia"), ("Cali", "Valle del Cauca"),
          ("Barranquilla", "Atlántico"), ("Bucaramanga", "Santander"), ("Pereira", "Risaralda")]
STREETS = ["Calle", "Carrera", "Avenida", "Transversal", "Diagonal"]

# Filled by ensure_base() / ensure_orders(); one worker builds the data set once for every scenario here.
_state: dict[str, Any] = {}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the data set --------------------------------------------------------------------------------------------


def _create_agents() -> None:
    from accounts.actions import do_create_api_token, do_create_user
    from accounts.roles import Role

    rng = random.Random(11)
    agents = []
    for i in range(1, AGENT_COUNT + 1):
        user = do_create_user(username=f"vendedor{i:02d}", password=None, role=Role.AGENTE, acting_user=None,
                              full_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}")
        _, token = do_create_api_token(user, name="bench", acting_user=None)
        agents.append({"id": user.pk, "token": token})
    _state["agents"] = agents


def _create_catalog(rng: random.Random, since: Any) -> None:
    from catalog.models import MovementKind, Product, StockMovement
    from core.text import fold

    products = []
    for i in range(1, PRODUCT_COUNT + 1):
        hot = i <= HOT_COUNT
        category = rng.choice(list(CATEGORIES))
        name = f"{rng.choice(CATEGORIES[category])} {rng.choice(VARIANTS)} {'oferta' if hot else 'ref.'} {i}"
        products.append(Product(sku=f"HOT-{i:02d}" if hot else f"SKU-{i:05d}", name=name,
                                search_name=fold(name)[:200], category=category,
                                price=Decimal(rng.randrange(5_000, 900_000, 100)),
                                stock_on_hand=HOT_STOCK if hot else REGULAR_STOCK, created_at=since))
    Product.objects.bulk_create(products, batch_size=BATCH)
    StockMovement.objects.bulk_create(
        (StockMovement(product_id=p.pk, kind=MovementKind.RECEIPT, on_hand_delta=p.stock_on_hand,
                       on_hand_after=p.stock_on_hand, reason="Stock inicial", created_at=since) for p in products),
        batch_size=BATCH)
    _state["hot"] = [(p.pk, p.sku) for p in products if p.sku.startswith("HOT-")]
    _state["regular"] = [(p.pk, p.sku, p.price, p.name) for p in products if not p.sku.startswith("HOT-")]


def _create_customers(rng: random.Random, since: Any) -> None:
    from core.text import fold
    from customers.models import Customer, CustomerPhone
    from leads.models import Lead

    customers = []
    for i in range(CUSTOMER_COUNT):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {rng.choice(LAST)}"
        city, department = rng.choice(CITIES)
        address = f"{rng.choice(STREETS)} {rng.randint(1, 180)} # {rng.randint(1, 99)}-{rng.randint(1, 99)}"
        customers.append(Customer(name=name, search_name=fold(name)[:200], address=address, city=city,
                                  department=department, document_id=str(10_000_000 + i), created_at=since))
    Customer.objects.bulk_create(customers, batch_size=BATCH)
    CustomerPhone.objects.bulk_create(
        (CustomerPhone(customer_id=c.pk, e164=f"+57310{i:07d}", label="móvil") for i, c in enumerate(customers)),
        batch_size=BATCH)
    leads = []
    for i, c in enumerate(customers):
        name = f"Pedido web - {c.name}"
        leads.append(Lead(kommo_id=50_000_000 + i, name=name, search_name=fold(name)[:250], customer_id=c.pk,
                          pipeline_id=8572511, status_id=67548611, stage_name="Ventas / Para Llamar", in_queue=True,
                          queue_entered_at=since, queue_sort_at=since, created_at=since))
    Lead.objects.bulk_create(leads, batch_size=BATCH)
    # what an existing order copies from its customer: (lead, customer, name, phone, address, city, department, doc)
    _state["customers"] = [(lead.pk, c.pk, c.name, f"+57310{i:07d}", c.address, c.city, c.department, c.document_id)
                           for i, (c, lead) in enumerate(zip(customers, leads, strict=True))]
    _state["lead_ids"] = [lead.pk for lead in leads]


def ensure_base() -> None:
    """Catalog, agents, customers and leads (once per worker)."""
    if _state.get("base"):
        return
    from django.db import transaction
    from django.utils import timezone

    from leads.models import LeadSettings

    started = time.perf_counter()
    rng = random.Random(4)
    since = timezone.now() - timedelta(days=HISTORY_DAYS + 1)
    with transaction.atomic():
        LeadSettings.load()
        _create_agents()
        _create_catalog(rng, since)
        _create_customers(rng, since)
    _state.update(base=True, next_lead=0, lead_lock=threading.Lock())
    _log(f"  orders: catalog of {PRODUCT_COUNT} products ({HOT_COUNT} hot), {AGENT_COUNT} agents, "
         f"{CUSTOMER_COUNT} customers + leads in {time.perf_counter() - started:.1f} s")


def _insert(table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Raw bulk insert (model instances and bulk_create cost ~4x more at a million orders): COPY on
    PostgreSQL, executemany on SQLite. Values must already be database values (see _db_time)."""
    from django.db import connection

    qn = connection.ops.quote_name
    names = ", ".join(qn(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {qn(table)} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(f"INSERT INTO {qn(table)} ({names}) VALUES ({', '.join(['%s'] * len(columns))})",
                               rows)


def _build_orders_chunk(rng: random.Random, first_id: int, count: int, now: Any, stock: dict[int, int]) -> None:
    """`count` confirmed orders with ids from `first_id`, their lines and their sale movements."""
    from django.db import connection

    db_time, db_decimal = connection.ops.adapt_datetimefield_value, connection.ops.adapt_decimalfield_value
    agents = [a["id"] for a in _state["agents"]]
    customers, regular = _state["customers"], _state["regular"]
    orders, lines, movements = [], [], []
    span = HISTORY_DAYS * 86400
    for order_id in range(first_id, first_id + count):
        lead_id, customer_id, name, phone, address, city, department, document = rng.choice(customers)
        agent_id = rng.choice(agents)
        created = now - timedelta(seconds=rng.uniform(600, span))
        confirmed = db_time(created + timedelta(seconds=rng.uniform(30, 600)))
        total = Decimal(0)
        for pk, sku, price, product_name in rng.sample(regular, rng.randint(1, 2)):
            quantity = rng.randint(1, 2)
            total += price * quantity
            stock[pk] -= quantity
            lines.append((order_id, pk, sku, product_name, db_decimal(price), quantity, db_decimal(price * quantity)))
            movements.append((pk, "sale", -quantity, 0, stock[pk], f"P-{order_id:06d}", order_id, agent_id, confirmed))
        orders.append((order_id, lead_id, customer_id, agent_id, "confirmado", "COP", db_decimal(total), name, phone,
                       address, city, department, document, "", db_time(created), confirmed))
    _insert("orders_order", ["id", "lead_id", "customer_id", "agent_id", "state", "currency", "total",
                             "delivery_name", "delivery_phone", "delivery_address", "delivery_city",
                             "delivery_department", "delivery_document", "cancel_reason", "created_at",
                             "confirmed_at"], orders)
    _insert("orders_orderline", ["order_id", "product_id", "sku", "name", "unit_price", "quantity", "line_total"],
            lines)
    _insert("catalog_stockmovement", ["product_id", "kind", "on_hand_delta", "reserved_delta", "on_hand_after",
                                      "reason", "order_id", "user_id", "created_at"], movements)


def ensure_orders(size: int) -> None:
    """The base data set plus at least `size` orders (existing ones, including earlier scenarios', count)."""
    ensure_base()
    from django.core.management.color import no_style
    from django.db import connection, transaction
    from django.utils import timezone

    from catalog.models import Product
    from orders.models import Order

    current = Order.objects.count()
    missing = size - current
    if missing > 0:
        started = time.perf_counter()
        rng = random.Random(size)
        now = timezone.now()
        stock = dict(Product.objects.values_list("pk", "stock_on_hand"))
        before = dict(stock)
        first_id = (Order.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
        built = 0
        while built < missing:
            count = min(ORDER_CHUNK, missing - built)
            with transaction.atomic():
                _build_orders_chunk(rng, first_id + built, count, now, stock)
            built += count
            if built % 200_000 < ORDER_CHUNK and built < missing:
                _log(f"  orders: {current + built} orders ({time.perf_counter() - started:.0f} s)")
        with transaction.atomic():
            changed = [Product(pk=pk, stock_on_hand=value) for pk, value in stock.items() if value != before[pk]]
            Product.objects.bulk_update(changed, ["stock_on_hand"], batch_size=500)
            with connection.cursor() as cursor:  # the next order the application creates gets a fresh id
                for sql in connection.ops.sequence_reset_sql(no_style(), [Order]):
                    cursor.execute(sql)
        build_seconds = time.perf_counter() - started
        analyze_seconds = 0.0
        if connection.vendor == "postgresql":
            t0 = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            analyze_seconds = time.perf_counter() - t0
        _log(f"  orders: built {missing} existing orders (now {current + missing}) in {build_seconds:.1f} s "
             f"(+ ANALYZE {analyze_seconds:.1f} s)")
    _state["existing"] = Order.objects.count()


# --- helpers ---------------------------------------------------------------------------------------------------


def _next_lead() -> int:
    with _state["lead_lock"]:
        index = _state["next_lead"]
        _state["next_lead"] = index + 1
    ids: list[int] = _state["lead_ids"]
    return ids[index % len(ids)]


def _lines(rng: random.Random, *, hot: bool) -> list[dict[str, Any]]:
    """1-3 distinct products, quantities 1-2; with `hot`, one of them a hot product."""
    count = rng.randint(1, 3)
    chosen = [p[1] for p in rng.sample(_state["regular"], count - 1 if hot else count)]
    if hot:
        chosen.insert(rng.randrange(count), rng.choice(_state["hot"])[1])
    return [{"sku": sku, "quantity": rng.randint(1, 2)} for sku in chosen]


def _top_up_hot() -> None:
    """Every hot product back to HOT_STOCK units, through a receipt (the ledger stays exact)."""
    from catalog.actions import do_receive_stock
    from catalog.models import Product

    for pk, stock in Product.objects.filter(pk__in=[p[0] for p in _state["hot"]]).values_list("pk", "stock_on_hand"):
        if stock < HOT_STOCK:
            do_receive_stock(pk, quantity=HOT_STOCK - stock, reason="Reposición benchmark", acting_user=None)


def _verify_stock(label: str) -> None:
    """Zero oversells: no negative stock; for every product the ledger sums to its stock; units sold (sale
    movements) equal the quantities of confirmed orders' lines, product by product."""
    from django.db.models import F, Sum
    from django.db.models.functions import Coalesce

    from catalog.models import MovementKind, Product, StockMovement
    from orders.models import OrderLine

    t0 = time.perf_counter()
    negative = Product.objects.filter(stock_on_hand__lt=0).count()
    off_ledger = list(Product.objects.annotate(ledger=Coalesce(Sum("movements__on_hand_delta"), 0))
                      .exclude(ledger=F("stock_on_hand")).values_list("sku", "stock_on_hand", "ledger")[:5])
    sold = dict(StockMovement.objects.filter(kind=MovementKind.SALE).order_by().values("product_id")
                .annotate(s=Sum("on_hand_delta")).values_list("product_id", "s"))
    ordered = dict(OrderLine.objects.filter(order__state="confirmado").order_by().values("product_id")
                   .annotate(q=Sum("quantity")).values_list("product_id", "q"))
    mismatched = [pk for pk in set(sold) | set(ordered) if -(sold.get(pk) or 0) != (ordered.get(pk) or 0)]
    units = -sum(v or 0 for v in sold.values())
    _log(f"  orders: {label}: stock check in {time.perf_counter() - t0:.1f} s: {negative} products below zero, "
         f"{len(off_ledger)} off the ledger, {len(mismatched)} with sold != confirmed lines "
         f"({units} units sold in total)")
    if negative or off_ledger or mismatched:
        raise RuntimeError(f"oversell or ledger mismatch: negative {negative}, off ledger {off_ledger}, "
                           f"sold != ordered for products {mismatched[:5]}")


@contextlib.contextmanager
def _server() -> Iterator[str]:
    """A live daphne server with DB_CONN_MAX_AGE=0 (BENCH_DB_CONN_MAX_AGE overrides it): under ASGI every request
    runs on a thread of its own, so persistent connections would pile up, one per past request."""
    with harness.environ({"DB_CONN_MAX_AGE": os.environ.get("BENCH_DB_CONN_MAX_AGE", "0")}), \
            live_server(startup_timeout=SERVER_STARTUP_TIMEOUT) as base_url:
        yield base_url


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_pids() -> list[int]:
    """This process's daphne children (the live server)."""
    found = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{os.getpid()}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{os.getpid()}/task/{task}/children") as children:
                for pid in children.read().split():
                    with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                        if b"daphne" in cmdline.read():
                            found.append(int(pid))
    return found


def _machine_busy() -> tuple[float, float]:
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


def _postgres_cpu() -> float:
    """CPU seconds of the local PostgreSQL server: its live processes plus the backends it has reaped (the
    postmaster's children time), so short-lived connections count too. 0 when no server runs here."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            with open(f"/proc/{entry}/stat") as stat:
                head, _, rest = stat.read().rpartition(")")
            if not head.endswith("(postgres"):
                continue
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / tick
            if fields[1] == "1" or not _is_postgres(int(fields[1])):  # the postmaster: add its reaped children
                total += (int(fields[13]) + int(fields[14])) / tick
    return total


def _is_postgres(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip() == "postgres"
    except OSError:
        return False


class _CpuMeter:
    """CPU of the daphne server, of this process (the httpx clients), of the local PostgreSQL server and of
    everything else (other processes on the machine) during a timed phase, per order."""

    def __init__(self) -> None:
        self.pids = _server_pids()
        self.server0 = sum(_cpu_seconds(pid) for pid in self.pids)
        self.client0 = sum(os.times()[:2])
        self.pg0 = _postgres_cpu()
        self.machine0 = _machine_busy()

    def report(self, label: str, orders: int) -> None:
        server = sum(_cpu_seconds(pid) for pid in self.pids) - self.server0
        client = sum(os.times()[:2]) - self.client0
        pg = _postgres_cpu() - self.pg0
        busy, total = (a - b for a, b in zip(_machine_busy(), self.machine0, strict=True))
        other = max(0.0, busy / os.sysconf("SC_CLK_TCK") - server - client - pg)
        per = max(orders, 1) / 1000
        _log(f"  orders: {label}: CPU per order (create + confirm): daphne {server / per:.1f} ms, "
             f"PostgreSQL {pg / per:.1f} ms, bench clients {client / per:.1f} ms, "
             f"other processes {other / per:.1f} ms; "
             f"machine {busy / total * 100 if total else 0:.0f}% busy")


def _error(response: Any) -> str:
    """Status and, for a DEBUG traceback (the API's 500 answer), its exception line."""
    text = response.text
    if text.startswith("Traceback"):
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith(" ")]
        return f"{response.status_code} {lines[-1][:200] if lines else ''}"
    return f"{response.status_code} {text[:160]!r}"


def _ms(values: list[float], pct: float) -> str:
    return f"{percentile(values, pct) * 1000:.1f}" if values else "-"


# --- confirmation, in-process ------------------------------------------------------------------------------


def run_confirm_inprocess(n: int) -> list[Sample]:
    """One agent in-process (django.test.Client, bearer token): POST /api/v1/orders (untimed), then
    POST /api/v1/orders/{id}/confirm timed with its SQL statements. Regular products only."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(headers={"Authorization": f"Bearer {_state['agents'][0]['token']}"})
    rng = random.Random(n)
    creates: list[tuple[float, int]] = []

    def once() -> tuple[float, int]:
        body = {"lead_id": _next_lead(), "lines": _lines(rng, hot=False)}
        # The DEBUG query log keeps 9,000 entries and CaptureQueriesContext counts by its length: once full,
        # every count would read 0. Nothing else reads it here.
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as queries:
            t0 = time.perf_counter()
            created = client.post("/api/v1/orders", body, content_type="application/json")
            creates.append((time.perf_counter() - t0, len(queries.captured_queries)))
        if created.status_code != 201:
            raise RuntimeError(f"create: HTTP {created.status_code} {created.content[:300]!r}")
        order_id = created.json()["id"]
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as queries:
            t0 = time.perf_counter()
            response = client.post(f"/api/v1/orders/{order_id}/confirm", content_type="application/json")
            elapsed = time.perf_counter() - t0
        if response.status_code != 200 or response.json()["state"] != "confirmado":
            raise RuntimeError(f"confirm: HTTP {response.status_code} {response.content[:300]!r}")
        return elapsed, len(queries.captured_queries)

    for _ in range(harness.WARMUP):
        once()
    creates.clear()
    samples = Samples()
    started = time.perf_counter()
    for _ in range(n):
        samples.append(Sample(*once()))
    samples.wall_seconds = time.perf_counter() - started
    latencies = [c[0] for c in creates]
    _log(f"  orders: in-process at {_state['existing']} existing orders: create median {_ms(latencies, 50)} ms, "
         f"p95 {_ms(latencies, 95)} ms, SQL {sorted({c[1] for c in creates})}")
    _verify_stock("in-process")
    return samples


# --- confirmation, 50 concurrent agents against a live server ------------------------------------------------


class _Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.create: list[float] = []
        self.confirmed: list[float] = []
        self.refused: list[float] = []  # confirm answered 409 (short stock)
        self.statuses: Counter[str] = Counter()
        self.confirmed_ids: set[int] = set()
        self.hot_units = 0

    def add(self, kind: str, latency: float | None = None, bucket: list[float] | None = None) -> None:
        with self.lock:
            self.statuses[kind] += 1
            if bucket is not None and latency is not None:
                bucket.append(latency)


def _order_once(client: Any, rng: random.Random, tally: _Tally, *, timed: bool) -> None:
    lines = _lines(rng, hot=rng.random() < HOT_SHARE)
    t0 = time.perf_counter()
    created = client.post("/api/v1/orders", json={"lead_id": _next_lead(), "lines": lines})
    elapsed = time.perf_counter() - t0
    if created.status_code == 409:  # a hot product already sold out at draft time
        tally.add("create 409", elapsed, tally.create if timed else None)
        return
    if created.status_code != 201:
        tally.add(f"create {_error(created)}")
        return
    tally.add("create 201", elapsed, tally.create if timed else None)
    order_id = int(created.json()["id"])
    t0 = time.perf_counter()
    response = client.post(f"/api/v1/orders/{order_id}/confirm", content_type="application/json")
    elapsed = time.perf_counter() - t0
    if response.status_code == 200:
        tally.add("confirm 200", elapsed, tally.confirmed if timed else None)
        with tally.lock:
            tally.confirmed_ids.add(order_id)
            tally.hot_units += sum(li["quantity"] for li in lines if li["sku"].startswith("HOT-"))
    elif response.status_code == 409:
        tally.add("confirm 409", elapsed, tally.refused if timed else None)
    else:
        tally.add(f"confirm {_error(response)}")


def run_confirm_concurrent(n: int) -> list[Sample]:
    """THREADS agents, each on its own thread, httpx client and token, against one live daphne server, as fast
    as the server answers (closed loop): each iteration creates a draft (1-3 lines; HOT_SHARE of them with a
    hot product) and confirms it. The samples are the confirmations answered 200; throughput = confirmed
    orders / wall time."""
    return _run_agents(max(n, CONCURRENT_MIN_N), None)


def run_confirm_paced(n: int) -> list[Sample]:
    """As run_confirm_concurrent, but orders start at random moments (Poisson arrivals, PACED_RATE a second in
    total), each on the first of the THREADS agents free by then: the latency at a sustainable load."""
    return _run_agents(n, PACED_RATE)


def _run_agents(n: int, rate: float | None) -> list[Sample]:
    import httpx
    from django.db import connections

    from orders.models import Order

    _top_up_hot()
    existing = Order.objects.count()
    before_id = Order.objects.order_by("-id").values_list("id", flat=True).first() or 0
    agents = _state["agents"]
    tally = _Tally()
    remaining = [n]

    # Paced: order i starts at arrivals[i] (Poisson arrivals at `rate`), on the first agent free by then.
    clock = random.Random(n)
    arrivals = [0.0]
    for _ in range(n - 1):
        arrivals.append(arrivals[-1] + clock.expovariate(rate) if rate else 0.0)

    def agent(index: int) -> None:
        rng = random.Random(index * 7919 + n)
        with httpx.Client(base_url=base_url, timeout=120,
                          headers={"Authorization": f"Bearer {agents[index]['token']}"}) as client:
            while True:
                with tally.lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                    due = started + arrivals[n - remaining[0] - 1]
                if rate:
                    time.sleep(max(0.0, due - time.perf_counter()))
                _order_once(client, rng, tally, timed=True)

    label = f"{THREADS} agents at {existing} existing orders, " + (f"paced {rate:g}/s" if rate else "closed loop")
    with _server() as base_url:
        rng = random.Random(0)
        for i in range(harness.WARMUP):
            with httpx.Client(base_url=base_url, timeout=120,
                              headers={"Authorization": f"Bearer {agents[i % len(agents)]['token']}"}) as client:
                _order_once(client, rng, tally, timed=False)
        connections.close_all()  # the bench's own connection is not part of the system under test
        meter = _CpuMeter()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            list(pool.map(agent, range(THREADS)))
        wall = time.perf_counter() - started
        meter.report(label, n)
    s = tally.statuses
    _log(f"  orders: {label}: {n} orders in {wall:.1f} s: {len(tally.confirmed)} confirmed "
         f"({len(tally.confirmed) / wall:.1f}/s), {len(tally.refused)} confirm 409, create 409 (warm-up included) "
         f"{s['create 409']}; hot units sold {tally.hot_units}; responses (warm-up included) {dict(s)}")
    _log(f"  orders: {label}: create median {_ms(tally.create, 50)} ms, p95 {_ms(tally.create, 95)} ms; "
         f"confirm 200 median {_ms(tally.confirmed, 50)} ms, p95 {_ms(tally.confirmed, 95)} ms, "
         f"p99 {_ms(tally.confirmed, 99)} ms; confirm 409 median {_ms(tally.refused, 50)} ms, "
         f"p95 {_ms(tally.refused, 95)} ms")
    failures = {k: v for k, v in s.items() if k not in ("create 201", "create 409", "confirm 200", "confirm 409")}
    if failures:  # server errors are the application's: reported (and not timed), the run goes on
        _log(f"  orders: {label}: {sum(failures.values())} requests FAILED: {failures}")
    in_db = set(Order.objects.filter(pk__gt=before_id, state="confirmado").values_list("pk", flat=True))
    if in_db != tally.confirmed_ids:
        raise RuntimeError(f"{len(tally.confirmed_ids)} confirmations answered 200 but {len(in_db)} orders "
                           f"confirmed in the database")
    _verify_stock(label)
    unexpected = {k: v for k, v in failures.items() if not k.split()[1].startswith("5")}
    if unexpected:
        raise RuntimeError(f"unexpected answers (a benchmark bug?): {unexpected}")
    samples = Samples(Sample(latency, None) for latency in tally.confirmed)
    samples.wall_seconds = wall
    return samples


# --- the Kommo outbox against the fake Kommo -----------------------------------------------------------------


def _orders_for_fake(fake: Any, count: int) -> list[int]:
    """`count` confirmed orders (through orders.actions) whose leads exist in the fake Kommo."""
    from accounts.models import User
    from core.text import fold
    from customers.models import Customer, CustomerPhone
    from fakes.kommo import STATUS_TO_CALL
    from leads.models import Lead
    from orders import actions

    rng = random.Random(count)
    agent = User.objects.get(pk=_state["agents"][0]["id"])
    kommo_ids = []
    for i in range(count):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        remote = fake.state.create_lead(f"Pedido web - {name}", status_id=STATUS_TO_CALL, emit=False,
                                        contact={"name": name, "phones": [f"+57320{i:07d}"]})
        customer = Customer.objects.create(name=name, address="Cra 7 # 45-10", city="Bogotá",
                                           department="Cundinamarca", document_id=str(80_000_000 + i))
        CustomerPhone.objects.create(customer=customer, e164=f"+57320{i:07d}")
        lead = Lead.objects.create(kommo_id=remote["id"], name=f"Pedido web - {name}",
                                   search_name=fold(f"Pedido web - {name}"), customer=customer, in_queue=True,
                                   stage_name="Ventas / Para Llamar")
        lines = [(li["sku"], li["quantity"]) for li in _lines(rng, hot=False)]
        order = actions.check_create_order(agent, lead_id=lead.pk, lines=lines)
        actions.check_confirm_order(agent, order.pk)
        kommo_ids.append(int(remote["id"]))
    return kommo_ids


def run_outbox_drain(_n: int) -> list[Sample]:
    """OUTBOX_ORDERS confirmed orders owe Kommo a stage change + price (PATCH) and a note (POST) each; time
    crm.sync.do_drain_kommo_outbox against the fake Kommo (7 requests/s limiter, 429 beyond) until every row is
    synced. Samples: one per Kommo request, the gap since the previous one (the first: since the drain
    started); throughput = Kommo requests / drain time."""
    from django.utils import timezone

    from crm.actions import check_connect_kommo
    from crm.models import KommoAccount, KommoSync
    from crm.sync import ACTIVE, do_drain_kommo_outbox
    from fakes.kommo import FakeKommoServer

    count = _state.get("outbox_orders", OUTBOX_ORDERS)
    with FakeKommoServer(subdomain="demo", token=KOMMO_TOKEN) as fake:
        try:
            check_connect_kommo(None, subdomain="demo", token=KOMMO_TOKEN, base_url=fake.base_url,
                                to_call_stage="Para Llamar", confirmed_stage="Venta Confirmada")
            before = KommoSync.objects.order_by("-id").values_list("id", flat=True).first() or 0
            t0 = time.perf_counter()
            kommo_ids = _orders_for_fake(fake, count)
            rows = KommoSync.objects.filter(pk__gt=before)
            if rows.filter(state__in=ACTIVE).count() != count:
                raise RuntimeError(f"{count} orders confirmed but {rows.count()} outbox rows pending")
            _log(f"  orders: outbox: {count} confirmed orders with Kommo leads, {count} KommoSync rows "
                 f"({time.perf_counter() - t0:.1f} s)")
            time.sleep(1.1)  # the fake's window forgets the connect calls
            fake.state.clear_requests()
            violations0 = fake.state.rate_limit_violations
            drains = 0
            wall0 = time.time()
            started = time.perf_counter()
            while True:
                result = do_drain_kommo_outbox(limit=10_000)
                drains += 1
                if not KommoSync.objects.filter(state__in=ACTIVE).exists():
                    break
                if time.perf_counter() - started > DRAIN_TIMEOUT:
                    raise RuntimeError(f"outbox not drained after {DRAIN_TIMEOUT:.0f} s")
                if result.retry_at is not None:
                    time.sleep(max(0.0, (result.retry_at - timezone.now()).total_seconds()))
            elapsed = time.perf_counter() - started
            requests = sorted(fake.state.requests, key=lambda r: r["timestamp"])
            violations = fake.state.rate_limit_violations - violations0
            snapshot = fake.state.snapshot()
        finally:
            KommoAccount.objects.filter(pk=1).delete()  # the other scenarios run without Kommo
    _check_outbox(kommo_ids, requests, snapshot, rows)
    stamps = [r["timestamp"] for r in requests]
    busiest = max((sum(1 for t in stamps[i:i + 8] if t - s < 1.0) for i, s in enumerate(stamps)), default=0)
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    statuses = Counter(r["status"] for r in requests)
    _log(f"  orders: outbox: {count} syncs in {elapsed:.1f} s ({drains} drain call(s)): {count / elapsed:.2f} syncs/s, "
         f"{len(requests)} Kommo requests = {len(requests) / elapsed:.2f} requests/s over the drain, "
         f"{steady:.2f}/s first to last; most requests in any 1.0 s: {busiest}; 429s: {violations}; "
         f"statuses {dict(statuses)}")
    samples = Samples()
    previous = wall0
    for stamp in stamps:
        samples.append(Sample(stamp - previous, None))
        previous = stamp
    samples.wall_seconds = elapsed
    return samples


def _check_outbox(kommo_ids: list[int], requests: list[dict[str, Any]], snapshot: dict[str, Any], rows: Any) -> None:
    """Every lead got exactly one successful PATCH and one note; every outbox row is synced."""
    from crm.models import KommoSync

    patches = Counter(int(r["path"].rsplit("/", 1)[1]) for r in requests
                      if r["method"] == "PATCH" and r["status"] and r["status"] < 300)
    notes_posted = Counter(int(r["path"].split("/")[4]) for r in requests
                           if r["method"] == "POST" and r["path"].endswith("/notes") and r["status"]
                           and r["status"] < 300)
    notes = Counter(int(n["entity_id"]) for n in snapshot["notes"])
    wrong = [k for k in kommo_ids if patches[k] != 1 or notes_posted[k] != 1 or notes[k] != 1]
    unsynced = rows.exclude(state=KommoSync.State.SYNCED).count()
    if wrong or unsynced or len(patches) != len(kommo_ids):
        raise RuntimeError(f"outbox: {len(wrong)} leads without exactly one PATCH and one note (e.g. "
                           f"{[(k, patches[k], notes_posted[k], notes[k]) for k in wrong[:5]]}), {unsynced} unsynced")
    _log(f"  orders: outbox: every one of {len(kommo_ids)} leads got exactly 1 PATCH and 1 note; all rows synced")


def setup_outbox(size: int) -> None:
    """The base data set; `size` is the number of confirmed orders the drain delivers."""
    ensure_base()
    _state["outbox_orders"] = size


SCENARIOS = [
    Scenario(
        name="orders.confirm_inprocess_10k",
        description="POST /api/v1/orders/{id}/confirm in-process, one agent, 10,000 existing orders (SQL counted)",
        setup=ensure_orders, run=run_confirm_inprocess, size=10_000,
    ),
    Scenario(
        name="orders.confirm_10k",
        description=f"create + confirm, live server, {THREADS} agents at once, 10,000 existing orders",
        setup=ensure_orders, run=run_confirm_concurrent, size=10_000,
    ),
    Scenario(
        name="orders.confirm_paced_10k",
        description=f"create + confirm, live server, {THREADS} agents starting {PACED_RATE:g} orders/s in total, "
                    "10,000 existing orders",
        setup=ensure_orders, run=run_confirm_paced, size=10_000,
    ),
    Scenario(
        name="orders.confirm_inprocess_1m",
        description="POST /api/v1/orders/{id}/confirm in-process, one agent, 1,000,000 existing orders",
        setup=ensure_orders, run=run_confirm_inprocess, size=1_000_000,
    ),
    Scenario(
        name="orders.confirm_1m",
        description=f"create + confirm, live server, {THREADS} agents at once, 1,000,000 existing orders",
        setup=ensure_orders, run=run_confirm_concurrent, size=1_000_000,
    ),
    Scenario(
        name="orders.confirm_paced_1m",
        description=f"create + confirm, live server, {THREADS} agents starting {PACED_RATE:g} orders/s in total, "
                    "1,000,000 existing orders",
        setup=ensure_orders, run=run_confirm_paced, size=1_000_000,
    ),
    Scenario(
        name="orders.outbox_drain",
        description=f"crm.sync.do_drain_kommo_outbox of {OUTBOX_ORDERS} confirmed orders against the fake Kommo "
                    "(7 requests/s)",
        setup=setup_outbox, run=run_outbox_drain, size=OUTBOX_ORDERS,
    ),
]
