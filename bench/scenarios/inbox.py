"""Unified inbox at 1,000,000 conversations: the list filtered by inbox + state + agent (page 1 and page 200 through
the keyset cursor, 20 and 100 rows), full-text search, the conversation page (20 vs 2,000 messages) and the time a
new inbound message takes to reach 200 agents' websockets through a real daphne server.

Data set (`ensure_inbox(size)`, size = conversations, 1,000,000 by default), loaded fast: PostgreSQL COPY, SQLite
executemany, explicit ids; the search indexes (GIN on PostgreSQL, FTS5 tables on SQLite) are dropped before the load
and rebuilt after it, as a restore would do. PostgreSQL gets an ANALYZE (autovacuum would); SQLite none.
* 200 agents (`do_create_user`, API tokens) in the Marketing / Ventas / Servicio y Soporte teams, 1 supervisor.
* customers: 60 % as many as conversations (LatAm names, one E.164 phone `+57315…` each, 40 % with an
  email, 5 % with a tag).
* size conversations over the last 365 days (open ones in the last 7): Global 10 %, Marketing 20 %, Ventas 45 %,
  Soporte 25 %; 85 % resolved, the rest nueva / pendiente / en espera / escalada; WhatsApp, email, web chat, API.
  `agente001` (the measured agent) holds 4 % of them, in Ventas: ~34,000 resolved ones at 1,000,000, so page 200
  of 100 rows exists. 5 % carry a conversation tag.
* 3 messages per conversation (customer, reply with delivery status, customer or internal note): Spanish sentences
  from a pool, ~30 % with an order code `PED-<n>` (one conversation each: the rare search terms), "factura" in
  ~4 % of the messages (a common one). Plus one conversation with 20 messages and two with 2,000 (with history
  rows), for the conversation page.
* No history rows (ConversationEvent) for the bulk conversations: the list and search never read them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import harness
from bench.harness import Sample, Samples, Scenario, timed_requests

SIZE = 1_000_000
AGENT_COUNT = 200
CHUNK = 20_000
BENCH_AGENT = "agente001"
SUPERVISOR = "bench-inbox-supervisor"
INBOXES = [("global", 0.10), ("marketing", 0.20), ("ventas", 0.45), ("soporte", 0.25)]
STATES = [("resuelta", 0.85), ("nueva", 0.04), ("pendiente", 0.05), ("en_espera", 0.04), ("escalada", 0.02)]
CHANNELS = [("whatsapp", 0.6), ("email", 0.2), ("webchat", 0.15), ("api", 0.05)]
TAGS = ["vip", "mayorista", "reclamo", "garantia", "recompra", "referido"]
FIRST = ["Valentina", "Santiago", "Camila", "Mateo", "Lucía", "Juan Pablo", "Ximena", "Diego", "Mariana", "Andrés",
         "Guadalupe", "Renzo", "Fiorella", "Óscar", "Ángela", "Jhon Jairo", "Begoña", "Iñaki", "Rocío", "Emiliano",
         "María José", "Sebastián", "Daniela", "Nicolás", "Paola", "Julián", "Luz Marina", "Wílmer", "Yésica", "Hernán"]
LAST = ["Peña", "Muñoz", "Quispe", "Hernández", "Ospina", "Zúñiga", "Castaño", "Núñez", "Flores", "Ibáñez",
        "Villaseñor", "Rojas", "Salazar", "Mamani", "Londoño", "Ávila", "Echeverría", "Cárdenas", "Gómez", "Pérez",
        "Gutiérrez", "Jaramillo", "Montoya", "Cifuentes", "Benítez", "Sáenz", "Álvarez", "Ortiz", "Chávez", "Díaz"]
CITIES = ["Bogotá", "Medellín", "Cali", "Barranquilla", "Bucaramanga", "Pereira", "Lima", "Quito", "Guadalajara"]
PRODUCTS = ["el Plan Hogar", "el Combo Oficina", "el Kit Escolar", "el Seguro Moto", "la Suscripción Premium",
            "el Plan Empresarial", "la Renovación anual", "el router", "la instalación", "el envío"]
INBOUND = ["Hola, quisiera información sobre {p}.", "Buenas tardes, ¿{p} tiene garantía?",
           "¿Cuánto cuesta {p} con envío a {c}?", "Mi pedido {o} no ha llegado a {c}.",
           "Necesito la factura de {p}, por favor.", "¿Hacen envíos a {c}? Me interesa {p}.",
           "El técnico no vino a revisar {p}.", "Quiero cancelar {p}.", "Gracias, quedó todo claro.",
           "¿Tienen descuento por volumen en {p}?", "El pago de {o} aparece rechazado."]
OUTBOUND = ["¡Hola! Con gusto le ayudo con {p}.", "Le confirmo que {p} incluye garantía de un año.",
            "Ya revisamos {o}: sale hoy hacia {c}.", "Le enviamos la factura a su correo.",
            "Un asesor le llamará para coordinar {p}.", "Listo, quedó registrada su solicitud."]
NOTES = ["Cliente pide llamada en la tarde.", "Revisar stock de {p} antes de confirmar.",
         "Escalar si no responde en 24 h.", "Factura pendiente de contabilidad."]

_state: dict[str, Any] = {}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _weighted(rng: random.Random, pairs: list[tuple[str, float]]) -> str:
    roll = rng.random()
    for value, weight in pairs:
        roll -= weight
        if roll < 0:
            return value
    return pairs[-1][0]


# --- fast loading ------------------------------------------------------------------------------------------


class _Loader:
    """Rows as tuples straight into a table: COPY on PostgreSQL, executemany on SQLite. Columns not given get the
    model field's default."""

    def __init__(self) -> None:
        from django.db import connection

        self.connection = connection
        self.postgres = connection.vendor == "postgresql"

    def when(self, moment: datetime) -> Any:
        """A datetime as the database driver wants it (SQLite: Django's UTC text)."""
        return moment if self.postgres else moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ")

    def load(self, model: Any, columns: list[str], rows: Iterable[tuple[Any, ...]]) -> int:
        from django.utils import timezone

        given = set(columns)
        extra = [f for f in model._meta.concrete_fields if f.attname not in given and not f.primary_key]
        defaults: list[Any] = []
        fresh: list[int] = []  # positions of UUID columns: a new value per row (they are unique)
        for field in extra:
            if field.get_internal_type() == "UUIDField":
                fresh.append(len(defaults))
                defaults.append(None)
                continue
            value = field.get_default()
            if field.get_internal_type() == "JSONField":
                value = json.dumps(value)
            elif isinstance(value, datetime) or (value is None and not field.null and "DateTime" in
                                                 field.get_internal_type()):
                value = self.when(value or timezone.now())
            defaults.append(value)
        postgres = self.postgres

        def tail() -> tuple[Any, ...]:
            if not fresh:
                return tuple(defaults)
            values = list(defaults)
            for i in fresh:
                values[i] = uuid.uuid4() if postgres else uuid.uuid4().hex
            return tuple(values)
        names = [model._meta.get_field(c).column if c != "id" else "id" for c in columns] + [f.column for f in extra]
        table = model._meta.db_table
        count = 0
        self.connection.ensure_connection()
        raw = self.connection.connection
        if self.postgres:
            with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row + tail())
                    count += 1
        else:
            def counted() -> Iterator[tuple[Any, ...]]:
                nonlocal count
                for row in rows:
                    count += 1
                    yield row + tail()
            raw.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                            counted())
        return count

    def next_id(self, model: Any) -> int:
        from django.db.models import Max

        return int(model.objects.aggregate(m=Max("id"))["m"] or 0) + 1

    def fix_sequence(self, model: Any) -> None:
        if self.postgres:
            table = model._meta.db_table
            with self.connection.cursor() as cursor:
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT COALESCE(MAX(id), 1) FROM {table}))")


# --- the data set ------------------------------------------------------------------------------------------


def _create_staff() -> None:
    from accounts.actions import do_create_api_token, do_create_user
    from accounts.models import Team
    from accounts.roles import Role
    from inbox.models import Inbox

    rng = random.Random(11)
    teams = {}
    for code in ("marketing", "ventas", "soporte"):
        teams[code], _created = Team.objects.get_or_create(code=f"inbox-{code}", defaults={"name": f"Bandeja {code}"})
        inbox = Inbox.objects.get(code=code)
        inbox.teams.add(teams[code])
        inbox.auto_assign = False  # the websocket scenario posts into Global; no automatic assignment needed
        inbox.save(update_fields=["auto_assign"])
    agents = []
    for i in range(1, AGENT_COUNT + 1):
        user = do_create_user(username=f"agente{i:03d}", password=None, role=Role.AGENTE, acting_user=None,
                              full_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}")
        user.teams.add(teams["ventas"] if i == 1 else teams[["marketing", "ventas", "soporte"][i % 3]])
        agents.append(user.pk)
    agent_one = agents[0]
    _, agent_token = do_create_api_token(_user(agent_one), name="bench", acting_user=None)
    supervisor = do_create_user(username=SUPERVISOR, password=None, role=Role.SUPERVISOR,
                                full_name="Supervisora Bandeja", acting_user=None)
    _, supervisor_token = do_create_api_token(supervisor, name="bench", acting_user=None)
    _state.update(agents=agents, agent_token=agent_token, supervisor_id=supervisor.pk,
                  supervisor_token=supervisor_token)


def _user(pk: int) -> Any:
    from accounts.models import User

    return User.objects.get(pk=pk)


def _customers(loader: _Loader, rng: random.Random, count: int, now: datetime) -> tuple[int, int]:
    from core.text import fold
    from customers.models import Customer, CustomerEmail, CustomerPhone, Tag

    first_id = loader.next_id(Customer)
    tag_ids = [Tag.objects.get_or_create(name=name)[0].pk for name in TAGS]
    names: list[tuple[str, str]] = []

    def customers() -> Iterator[tuple[Any, ...]]:
        for offset in range(count):
            first, last1, last2 = rng.choice(FIRST), rng.choice(LAST), rng.choice(LAST)
            names.append((first, last1))
            name = f"{first} {last1} {last2}"
            created = loader.when(now - timedelta(days=rng.uniform(0, 400)))
            yield first_id + offset, name, fold(name)[:200], rng.choice(CITIES), created, created

    loader.load(Customer, ["id", "name", "search_name", "city", "created_at", "updated_at"], customers())
    phone_id, email_id = loader.next_id(CustomerPhone), loader.next_id(CustomerEmail)
    loader.load(CustomerPhone, ["id", "customer_id", "e164", "label"],
                ((phone_id + o, first_id + o, f"+57315{o:07d}", "móvil") for o in range(count)))
    emails: list[tuple[int, int, str]] = []
    for o in range(count):
        if rng.random() < 0.4:
            first, last = (fold(part).replace(" ", "") for part in names[o])
            emails.append((email_id + len(emails), first_id + o, f"{first}.{last}{o}@example.com"))
    loader.load(CustomerEmail, ["id", "customer_id", "email"], emails)
    through = Customer.tags.through
    tag_row = loader.next_id(through)
    tagged = [first_id + o for o in range(count) if rng.random() < 0.05]
    loader.load(through, ["id", "customer_id", "tag_id"],
                ((tag_row + i, cid, rng.choice(tag_ids)) for i, cid in enumerate(tagged)))
    for model in (Customer, CustomerPhone, CustomerEmail, through):
        loader.fix_sequence(model)
    _state["emails"] = [e[2] for e in emails[:: max(1, len(emails) // 200)]]
    return first_id, count


def _text(rng: random.Random, pool: list[str], order: str) -> str:
    return rng.choice(pool).format(p=rng.choice(PRODUCTS), c=rng.choice(CITIES), o=order)


def _conversations(loader: _Loader, rng: random.Random, size: int, customers: tuple[int, int], now: datetime) -> None:
    from customers.models import Tag
    from inbox.models import Conversation, Inbox, Message

    inbox_ids = dict(Inbox.objects.values_list("code", "pk"))
    agents = _state["agents"]
    agent_one = agents[0]
    first_customer, customer_count = customers
    first_conversation, first_message = loader.next_id(Conversation), loader.next_id(Message)
    tag_ids = [Tag.objects.get(name=name).pk for name in TAGS]
    year = 365 * 86400
    conv_cols = ["id", "customer_id", "channel", "inbox_id", "assignee_id", "priority", "state", "cycle",
                 "created_at", "first_response_at", "last_customer_message_at", "last_agent_message_at",
                 "last_activity_at", "closed_at", "close_reason", "last_message_preview", "awaiting_reply"]
    msg_cols = ["id", "conversation_id", "cycle", "kind", "author_id", "body", "delivery_status", "created_at"]
    tagged: list[tuple[int, int]] = []
    orders: list[str] = []
    next_message = first_message
    started = time.perf_counter()
    for chunk_start in range(0, size, CHUNK):
        conversations, messages = [], []
        for offset in range(chunk_start, min(size, chunk_start + CHUNK)):
            cid = first_conversation + offset
            mine = rng.random() < 0.04
            inbox = "ventas" if mine else _weighted(rng, INBOXES)
            state = _weighted(rng, STATES)
            ago = rng.uniform(0, 7 * 86400) if state != "resuelta" else rng.uniform(0, year)
            last = now - timedelta(seconds=ago)
            created = last - timedelta(seconds=rng.uniform(120, 3 * 86400))
            assignee = agent_one if mine else (None if inbox == "global" and state == "nueva" else rng.choice(agents))
            order = f"PED-{cid}" if rng.random() < 0.3 else "su pedido"
            if order != "su pedido" and len(orders) < 2000:
                orders.append(order)
            t1 = created
            t2 = created + (last - created) * 0.3
            body1 = _text(rng, INBOUND, order)
            body2 = _text(rng, OUTBOUND, order)
            third_is_note = rng.random() < 0.3
            body3 = _text(rng, NOTES if third_is_note else INBOUND, order)
            messages += [
                (next_message, cid, 1, "inbound", None, body1, "", loader.when(t1)),
                (next_message + 1, cid, 1, "outbound", assignee or agent_one, body2,
                 rng.choice(["sent", "delivered", "read"]), loader.when(t2)),
                (next_message + 2, cid, 1, "note" if third_is_note else "inbound",
                 (assignee or agent_one) if third_is_note else None, body3, "", loader.when(last)),
            ]
            next_message += 3
            preview = body2 if third_is_note else body3
            conversations.append((
                cid, first_customer + rng.randrange(customer_count), _weighted(rng, CHANNELS), inbox_ids[inbox],
                assignee, "alta" if rng.random() < 0.05 else "normal", state, 1, loader.when(created),
                loader.when(t2), loader.when(last), loader.when(t2), loader.when(last),
                loader.when(last) if state == "resuelta" else None, "answered" if state == "resuelta" else "",
                preview[:200], not third_is_note))
            if rng.random() < 0.05:
                tagged.append((cid, rng.choice(tag_ids)))
        loader.load(Conversation, conv_cols, conversations)
        loader.load(Message, msg_cols, messages)
        done = chunk_start + len(conversations)
        if done % 200_000 == 0 or done == size:
            _log(f"  inbox: {done} conversations, {next_message - first_message} messages "
                 f"({time.perf_counter() - started:.0f} s)")
    through = Conversation.tags.through
    first_tag = loader.next_id(through)
    loader.load(through, ["id", "conversation_id", "tag_id"],
                ((first_tag + i, cid, tag) for i, (cid, tag) in enumerate(tagged)))
    for model in (Conversation, Message, through):
        loader.fix_sequence(model)
    _state["orders"] = orders


def _long_conversations(rng: random.Random, now: datetime) -> None:
    """One conversation with 20 messages and two with 2,000, through the ORM, with history rows."""
    from customers.models import Customer
    from inbox.models import Conversation, ConversationEvent, Inbox, Message

    ventas = Inbox.objects.get(code="ventas")
    agent = _state["agents"][0]
    made = {}
    for label, count in (("short", 20), ("long", 2000), ("long2", 2000)):
        customer = Customer.objects.create(name=f"Cliente {label} Largo")
        start = now - timedelta(days=30)
        c = Conversation.objects.create(customer=customer, channel="api", inbox=ventas, assignee_id=agent,
                                        state="pendiente", created_at=start, last_activity_at=now)
        step = timedelta(days=30) / count
        Message.objects.bulk_create([
            Message(conversation=c, kind=["inbound", "outbound", "note"][i % 3], body=_text(rng, INBOUND, "—"),
                    author_id=None if i % 3 == 0 else agent, delivery_status="read" if i % 3 == 1 else "",
                    created_at=start + step * i) for i in range(count)], batch_size=1000)
        ConversationEvent.objects.bulk_create([
            ConversationEvent(conversation=c, kind="state", data={"from": "en_espera", "to": "pendiente",
                                                                  "reason": "customer_replied"},
                              created_at=start + step * (i * 10 + 1)) for i in range(count // 10)], batch_size=1000)
        made[label] = c.pk
    _state["long_conversations"] = made


def ensure_inbox(size: int) -> None:
    if _state.get("size") == size:
        return
    if "size" in _state:
        raise RuntimeError(f"inbox data set already built with {_state['size']} conversations, not {size}")
    from django.db import connection, transaction
    from django.utils import timezone

    from inbox import search

    rng = random.Random(5)
    loader = _Loader()
    now = timezone.now()
    started = time.perf_counter()
    search.drop_search_schema()  # rebuilt after the load (GIN / FTS5 in bulk), as a restore would
    with transaction.atomic():
        _create_staff()
        customers = _customers(loader, rng, max(1, size * 6 // 10), now)
        _log(f"  inbox: {customers[1]} customers ({time.perf_counter() - started:.0f} s)")
        _conversations(loader, rng, size, customers, now)
        _long_conversations(rng, now)
    load_seconds = time.perf_counter() - started
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET maintenance_work_mem = '512MB'")
    with transaction.atomic():  # plain CREATE INDEX (not CONCURRENTLY) in a transaction: the fastest build
        search.ensure_search_schema()
    index_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    analyze_seconds = time.perf_counter() - t0
    from inbox.models import Conversation, Message

    _log(f"  inbox: loaded {Conversation.objects.count()} conversations and {Message.objects.count()} messages in "
         f"{load_seconds:.0f} s, search indexes {index_seconds:.0f} s, ANALYZE {analyze_seconds:.0f} s")
    _state.update(size=size)


# --- list, search, conversation page (in-process) -----------------------------------------------------------

LIST_FILTER = {"inbox": "ventas", "state": "resuelta", "agent": "me"}


def _cursor_for_page(page_number: int, size: int) -> tuple[str, int]:
    """The `after` cursor that opens page `page_number` (or the last full page there is) of the filtered list."""
    from inbox.selectors import InboxFilters, encode_cursor, filtered

    qs = filtered(_user(_state["agents"][0]), InboxFilters(**LIST_FILTER)).order_by("-last_activity_at", "-id")
    total = qs.count()
    page_number = min(page_number, max(1, total // size))
    if page_number == 1:
        return "", 1
    return encode_cursor(qs[(page_number - 1) * size - 1]), page_number


def _run_list_api(n: int, page_number: int, size: int) -> list[Sample]:
    from django.test import Client

    after, actual = _cursor_for_page(page_number, size)
    if actual != page_number:
        _log(f"  inbox: only {actual} pages of {size}: measuring page {actual}")
    client = Client(headers={"Authorization": f"Bearer {_state['agent_token']}"})
    params = {**LIST_FILTER, "page_size": str(size), **({"after": after} if after else {})}
    data = client.get("/api/v1/conversations", params).json()
    if len(data["results"]) != size:
        raise RuntimeError(f"list API page {actual}: {len(data['results'])} rows, not {size}")
    return timed_requests(lambda: client.get("/api/v1/conversations", params), n)


def _session(user_pk: int) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(_user(user_pk))
    return client


def _run_list_open(n: int, who: str) -> list[Sample]:
    """The workspace's default view: open conversations, the customer who waited longest first."""
    user = _state["agents"][0] if who == "agent" else _state["supervisor_id"]
    client = _session(user)
    response = client.get("/inbox/")
    rows = response.content.count(b'<li class="ws-row')
    if response.status_code != 200 or rows == 0:
        raise RuntimeError(f"inbox open list ({who}): HTTP {response.status_code}, {rows} rows")
    return timed_requests(lambda: client.get("/inbox/"), n)


def _run_list_page(n: int, page_number: int) -> list[Sample]:
    after, actual = _cursor_for_page(page_number, 50)
    client = _session(_state["agents"][0])
    params = {**LIST_FILTER, **({"after": after} if after else {})}
    response = client.get("/inbox/", params)
    rows = response.content.count(b'<li class="ws-row')
    if response.status_code != 200 or rows != 50:
        raise RuntimeError(f"inbox list page {actual}: HTTP {response.status_code}, {rows} rows")
    return timed_requests(lambda: client.get("/inbox/", params), n)


def _queries(kind: str) -> list[str]:
    from customers.models import CustomerPhone

    rng = random.Random(kind)
    if kind == "order":  # a code that appears in one conversation's messages
        return rng.sample(_state["orders"], min(100, len(_state["orders"])))
    if kind == "word":  # a word in ~4 % of the messages, and a two-word phrase
        return ["factura", "garantía", "descuento volumen", "técnico"]
    if kind == "name":  # a customer's first name and surname, as agents type them
        return [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(50)]
    if kind == "phone":  # the last 7 digits of a customer's phone
        phones = list(CustomerPhone.objects.filter(e164__startswith="+57315").values_list("e164", flat=True)[:5000])
        return [p[-7:] for p in rng.sample(phones, min(50, len(phones)))]
    if kind == "email":
        return list(_state["emails"][:50])
    raise ValueError(kind)


def _run_search(n: int, kind: str) -> list[Sample]:
    from django.test import Client

    queries = _queries(kind)
    client = Client(headers={"Authorization": f"Bearer {_state['supervisor_token']}"})
    found = [len(client.get("/api/v1/conversations", {"q": q, "page_size": "50"}).json()["results"])
             for q in queries[:10]]
    if not any(found):
        raise RuntimeError(f"search {kind}: nothing found for {queries[:10]}")
    _log(f"  inbox: search {kind}: e.g. {queries[0]!r}, first-page rows for the first queries: {found}")
    position = [0]

    def call() -> Any:
        q = queries[position[0] % len(queries)]
        position[0] += 1
        return client.get("/api/v1/conversations", {"q": q, "page_size": "50"})

    return timed_requests(call, n)


def _run_conversation_page(n: int, label: str) -> list[Sample]:
    conversation_id = _state["long_conversations"][label]
    client = _session(_state["supervisor_id"])
    path = f"/inbox/{conversation_id}/"
    response = client.get(path)
    items = response.content.count(b'data-item="')
    if response.status_code != 200 or items < 20:
        raise RuntimeError(f"conversation page {label}: HTTP {response.status_code}, {items} items")
    return timed_requests(lambda: client.get(path), n)


# --- a new inbound message reaching 200 agents' websockets (live daphne) -------------------------------------


class _Sockets:
    """AGENT_COUNT authenticated websockets on one asyncio loop (its own thread); records when each one receives
    the event of the message carrying the current marker."""

    def __init__(self, url: str, origin: str, session_keys: list[str]) -> None:
        self.url, self.origin, self.keys = url, origin, session_keys
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.lock = threading.Lock()
        self.marker = b""
        self.times: list[float] = []
        self.seen: set[int] = set()
        self.duplicates = 0
        self.all_in = threading.Event()
        self.sockets: list[Any] = []

    async def _one(self, key: str) -> Any:
        from websockets.asyncio.client import connect

        socket = await connect(self.url, origin=self.origin, additional_headers={"Cookie": f"sessionid={key}"},
                               max_queue=None, open_timeout=60)
        hello = json.loads(await socket.recv())
        if hello.get("type") != "hello":
            raise RuntimeError(f"websocket: unexpected first message {hello}")
        return socket

    async def _reader(self, index: int, socket: Any) -> None:
        with contextlib.suppress(Exception):
            async for raw in socket:
                now = time.perf_counter()
                data = raw.encode() if isinstance(raw, str) else raw
                with self.lock:
                    if not self.marker or self.marker not in data:
                        continue
                    if index in self.seen:  # the same event twice on one socket: counted, not timed
                        self.duplicates += 1
                        continue
                    self.seen.add(index)
                    self.times.append(now)
                    if len(self.times) == len(self.sockets):
                        self.all_in.set()

    async def _open_all(self) -> None:
        for start in range(0, len(self.keys), 20):
            self.sockets += await asyncio.gather(*(self._one(k) for k in self.keys[start:start + 20]))
        for index, socket in enumerate(self.sockets):
            self.loop.create_task(self._reader(index, socket))

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._open_all(), self.loop).result(timeout=300)

    def expect(self, marker: str) -> None:
        with self.lock:
            self.marker, self.times, self.seen = marker.encode(), [], set()
            self.all_in.clear()

    def close(self) -> None:
        async def close_all() -> None:
            await asyncio.gather(*(s.close() for s in self.sockets), return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def _run_ws_fanout(n: int, overrides: dict[str, str | None], label: str) -> list[Sample]:
    """Each sample: from just before `POST /api/v1/conversations` (a customer's new message, through the API
    channel, continuing one of 20 Global conversations) until the 200th agent websocket has received its event.
    One message at a time, 0.2 s apart; the per-socket delivery times are logged too."""
    import httpx
    from django.db import connections

    from bench.scenarios.callcenter import _CpuMeter, _server

    keys = [_session(pk).cookies["sessionid"].value for pk in _state["agents"]]
    connections.close_all()
    per_socket: list[float] = []
    posts: list[float] = []
    samples = Samples()
    failures = 0
    with _server(overrides) as base_url:
        sockets = _Sockets(base_url.replace("http://", "ws://") + "/ws/events/", base_url, keys)
        sockets.start()
        _log(f"  inbox: {label}: {len(sockets.sockets)} agent websockets connected")
        try:
            with httpx.Client(base_url=base_url, timeout=60,
                              headers={"Authorization": f"Bearer {_state['supervisor_token']}"}) as client:
                meter = None
                started = 0.0
                for i in range(harness.WARMUP + n):
                    if i == harness.WARMUP:
                        meter, started = _CpuMeter(), time.perf_counter()
                    marker = f"bench-ws-{i:06d}"
                    sockets.expect(marker)
                    t0 = time.perf_counter()
                    response = client.post("/api/v1/conversations", json={
                        "customer": {"name": f"Cliente Tiempo Real {i % 20}", "phone": f"+57316{i % 20:07d}"},
                        "message": f"Hola, ¿me ayudan? {marker}", "channel": "whatsapp"})
                    posted = time.perf_counter() - t0
                    if response.status_code not in (200, 201):
                        raise RuntimeError(f"POST /api/v1/conversations: HTTP {response.status_code} "
                                           f"{response.text[:200]}")
                    if not sockets.all_in.wait(30):
                        failures += 1
                        continue
                    with sockets.lock:
                        times = sorted(sockets.times)
                    if i >= harness.WARMUP:
                        samples.append(Sample(times[-1] - t0, None))
                        per_socket += [t - t0 for t in times]
                        posts.append(posted)
                    time.sleep(0.2)
                samples.wall_seconds = time.perf_counter() - started
                if meter is not None:
                    meter.report(label, n)
        finally:
            sockets.close()
    if per_socket:
        firsts = [min(per_socket[i:i + AGENT_COUNT]) for i in range(0, len(per_socket), AGENT_COUNT)]
        _log(f"  inbox: {label}: per-socket delivery median {harness.percentile(per_socket, 50) * 1000:.1f} ms, "
             f"p95 {harness.percentile(per_socket, 95) * 1000:.1f} ms, first socket median "
             f"{harness.percentile(firsts, 50) * 1000:.1f} ms "
             f"over {len(per_socket)} deliveries; the POST answered in {harness.percentile(posts, 50) * 1000:.1f} ms "
             f"(median); {sockets.duplicates} duplicate deliveries; {failures} messages did not reach all sockets "
             "within 30 s")
    if failures:
        raise RuntimeError(f"{failures} messages did not reach all {AGENT_COUNT} websockets")
    return samples


def _scenario(name: str, description: str, run: Any) -> Scenario:
    return Scenario(name=f"inbox.{name}", description=description, setup=ensure_inbox, run=run, size=SIZE)


SCENARIOS = [
    _scenario("list_api_p1_20", "GET /api/v1/conversations?inbox=ventas&state=resuelta&agent=me, page 1 of 20",
              lambda n: _run_list_api(n, 1, 20)),
    _scenario("list_api_p200_20", "the same, page 200 of 20 (keyset cursor)", lambda n: _run_list_api(n, 200, 20)),
    _scenario("list_api_p1_100", "the same, page 1 of 100", lambda n: _run_list_api(n, 1, 100)),
    _scenario("list_api_p200_100", "the same, page 200 of 100 (keyset cursor)", lambda n: _run_list_api(n, 200, 100)),
    _scenario("list_page_p1", "GET /inbox/?inbox=ventas&state=resuelta&agent=me (HTML, 50 rows), page 1",
              lambda n: _run_list_page(n, 1)),
    _scenario("list_page_p200", "the same HTML list, page 200 (keyset cursor)", lambda n: _run_list_page(n, 200)),
    _scenario("list_open_waiting_agent", "GET /inbox/ as an agent: open conversations, longest wait first (HTML)",
              lambda n: _run_list_open(n, "agent")),
    _scenario("list_open_waiting_supervisor", "GET /inbox/ as a supervisor: every open conversation, longest "
              "wait first (HTML)", lambda n: _run_list_open(n, "supervisor")),
    _scenario("search_order", "GET /api/v1/conversations?q=PED-<n> (a code in one conversation's messages)",
              lambda n: _run_search(n, "order")),
    _scenario("search_word", "?q=factura | garantía | 'descuento volumen' | técnico (common words)",
              lambda n: _run_search(n, "word")),
    _scenario("search_name", "?q=<first name> <surname> (hundreds of customers match)",
              lambda n: _run_search(n, "name")),
    _scenario("search_phone", "?q=<last 7 digits of a phone>", lambda n: _run_search(n, "phone")),
    _scenario("search_email", "?q=<an email address>", lambda n: _run_search(n, "email")),
    _scenario("conversation_20", "GET /inbox/<id>/, a conversation with 20 messages",
              lambda n: _run_conversation_page(n, "short")),
    _scenario("conversation_2000", "GET /inbox/<id>/, a conversation with 2,000 messages",
              lambda n: _run_conversation_page(n, "long")),
    _scenario("ws_fanout_200", "new inbound message (POST, live daphne) until 200 agent websockets have it, "
              "in-memory channel layer", lambda n: _run_ws_fanout(n, {}, "ws fan-out, in-memory layer")),
    _scenario("ws_fanout_200_layer", "the same with the default channel layer (channels-lite / channels-postgres)",
              lambda n: _run_ws_fanout(n, {"CHANNEL_LAYER": None}, "ws fan-out, default layer")),
]
