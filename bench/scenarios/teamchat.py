"""Team chat (issue 19) at 1,000,000 messages: a message to a channel of 200 connected members until the 200th
websocket has it (target p95 < 150 ms), a channel's history page at random depths by keyset (p95 < 40 ms), and one
reader's unread counts in 50 channels in one query (< 10 ms). Targets are PostgreSQL's.

Data set (`ensure_chat(size)`, size = messages, 1,000,000 by default; `--size 20000` for a quick check), loaded fast:
PostgreSQL COPY, SQLite executemany, explicit ids (bench.scenarios.inbox's `_Loader`); the search schema (the stored
tsvector column and its GIN index / the FTS5 table and its triggers) is dropped before the load and rebuilt after
it, as a restore would; PostgreSQL then gets VACUUM ANALYZE of the chat's tables (autovacuum would).
* 200 agents `chat001`…`chat200` (distinct users, one session each for the websockets); `chat001` is the reader whose
  unread counts and history pages are measured (and has an API token), `chat002` posts the fan-out's messages.
* 60 channels: #General (public, all 200 members, 30 % of the messages: ~300,000 at 1,000,000), 47 named channels
  (public, one in four private; 5-60 members; the reader is in 37 of them) and 12 direct messages between the reader
  and one colleague each: the reader is in 50 channels.
* size messages over the last 365 days, ids in time order: each message goes to a channel by its weight (named
  channels 0.4-2.5, direct messages 0.05-0.4, #General 30 % of the total), its author one of the channel's members;
  Spanish sentences from a pool (Markdown-lite bold, code, links), 5 % with an @mention of a member, 0.5 % with
  @canal; 3 % of the top-level messages open a thread of 1-6 replies (rows of their own, outside the history's
  partial index); 0.4 % deleted (empty text, `deleted_at`); 1 % with 1-4 reactions.
* Read marks: the other members have read up to their channel's latest message (70 %) or lag 1-300 messages behind;
  the reader has read 24 of their channels fully, has 10-400 unread in 20, 1-9 in 5, and ~5,000 in #General.
"""

from __future__ import annotations

import bisect
import json
import random
import re
import sys
import time
from collections import deque
from datetime import datetime, timedelta
from itertools import cycle
from typing import Any

from bench import harness
from bench.harness import Sample, Samples, Scenario, timed_requests

SIZE = 1_000_000
MEMBER_COUNT = 200
NAMED_CHANNELS = 47  # besides #General
READER_NAMED = 37  # of them, the reader is in these
DIRECT_CHANNELS = 12  # the reader's direct messages
BUSY_SHARE = 0.30  # #General's share of the messages
READER_THOUSANDS = 5000  # the reader's unread in #General
DEPTH = READER_THOUSANDS + 1000  # each channel's latest top-level ids kept while loading (read marks)
CHUNK = 20_000
HISTORY_PATHS = 200  # distinct random depths the history scenarios rotate over
READER = "chat001"
POSTER = "chat002"

FIRST = ["Valentina", "Santiago", "Camila", "Mateo", "Lucía", "Juan Pablo", "Ximena", "Diego", "Mariana", "Andrés",
         "Guadalupe", "Renzo", "Fiorella", "Óscar", "Ángela", "Jhon Jairo", "Begoña", "Iñaki", "Rocío", "Emiliano",
         "María José", "Sebastián", "Daniela", "Nicolás", "Paola", "Julián", "Luz Marina", "Wílmer", "Yésica", "Hernán"]
LAST = ["Peña", "Muñoz", "Quispe", "Hernández", "Ospina", "Zúñiga", "Castaño", "Núñez", "Flores", "Ibáñez",
        "Villaseñor", "Rojas", "Salazar", "Mamani", "Londoño", "Ávila", "Echeverría", "Cárdenas", "Gómez", "Pérez"]
AREAS = ["Ventas", "Marketing", "Soporte", "Logística", "Cobranzas", "Facturación", "Producto", "Compras",
         "Calidad", "Recursos Humanos", "Tecnología", "Gerencia"]
FOCUS = ["Norte", "Sur", "Nivel 2", "Campañas", "Turno tarde", "Mayoristas", "Proyecto Andes", "Black Friday"]
SENTENCES = [
    "Buenos días, equipo: hoy arranca la promoción de televisores.", "¿Alguien sabe si el envío a Medellín sigue en "
    "48 horas?", "Sí, 48 horas hábiles con la transportadora de siempre.", "Revisen el stock antes de confirmar.",
    "El cliente del pedido `PED-{n}` pide factura a nombre de la empresa.", "Listo, ya quedó **resuelto**.",
    "¿Me cubres el almuerzo de 1 a 2?", "La reunión de las 3 se pasa a las 4.",
    "Subí el informe a la carpeta compartida.",
    "Ojo: el sistema de pagos está lento desde las 10.", "Gracias 🙌", "¿Quién tiene el caso del reclamo de garantía?",
    "Les dejo el procedimiento nuevo: https://intranet.example.com/procedimientos/{n}", "Confirmado, los sábados no "
    "despachan.", "Hoy cerramos 42 ventas, ¡bien ahí!", "Recuerden registrar el motivo al cerrar la conversación.",
    "El proveedor confirma entrega el jueves.", "¿Me ayudan con un cliente que no recibe el código?",
]
EMOJIS = ["👍", "🎉", "❤️", "😂", "👀", "✅"]

_state: dict[str, Any] = {}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the data set ------------------------------------------------------------------------------------------------


def _create_users() -> list[int]:
    from accounts.actions import do_create_api_token, do_create_user
    from accounts.roles import Role

    rng = random.Random(19)
    users = []
    for i in range(1, MEMBER_COUNT + 1):
        user = do_create_user(username=f"chat{i:03d}", password=None, role=Role.AGENTE, acting_user=None,
                              full_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}")
        users.append(user.pk)
    _, token = do_create_api_token(_user(users[0]), name="bench", acting_user=None)
    _state["token"] = token
    return users


def _user(pk: int) -> Any:
    from accounts.models import User

    return User.objects.get(pk=pk)


def _channels(rng: random.Random, users: list[int], now: datetime) -> tuple[list[int], list[list[int]], list[float]]:
    """The 60 channels (ORM: few rows); returns their ids, each one's members and its share of the messages."""
    from teamchat.choices import ChannelKind
    from teamchat.models import Channel

    reader = users[0]
    created = now - timedelta(days=400)
    rows = [Channel(kind=ChannelKind.PUBLIC, name="General", topic="Novedades y dudas rápidas de todo el equipo",
                    created_by_id=users[-1], created_at=created)]
    members: list[list[int]] = [list(users)]
    names = [f"{area} {focus}" for focus in FOCUS for area in AREAS]
    for i in range(NAMED_CHANNELS):
        others = rng.sample(users[1:], rng.randint(5, 60))
        people = [reader, *others] if i < READER_NAMED else others
        rows.append(Channel(kind=ChannelKind.PRIVATE if i % 4 == 3 else ChannelKind.PUBLIC, name=names[i],
                            created_by_id=people[0], created_at=created))
        members.append(people)
    for i in range(DIRECT_CHANNELS):
        people = sorted([reader, users[2 + i * 3]])
        rows.append(Channel(kind=ChannelKind.DIRECT, direct_key=":".join(map(str, people)), created_by_id=reader,
                            created_at=created))
        members.append(people)
    channels = Channel.objects.bulk_create(rows)
    weights = [0.0] + [rng.uniform(0.4, 2.5) for _ in range(NAMED_CHANNELS)] + [
        rng.uniform(0.05, 0.4) for _ in range(DIRECT_CHANNELS)]
    rest = sum(weights)
    shares = [BUSY_SHARE] + [w / rest * (1 - BUSY_SHARE) for w in weights[1:]]
    return [c.pk for c in channels], members, shares


_TOKEN = "987654321"
_HTML: dict[tuple[str, str | None, bool], str] = {}


def _body(rng: random.Random, n: int, mention: str | None, everyone: bool) -> tuple[str, str]:
    """A message's body and its stored HTML, as the post action renders it (rendered once per distinct sentence
    combination, the number filled in after)."""
    from teamchat.render import render_chat

    template = " ".join(rng.choice(SENTENCES) for _ in range(rng.choice((1, 1, 1, 2, 2, 3))))
    prefix = "@canal " if everyone else f"@{mention} " if mention else ""
    key = (template, mention, everyone)
    if (html := _HTML.get(key)) is None:
        html = _HTML[key] = str(render_chat(prefix + template.format(n=_TOKEN),
                                            mention_names=[mention] if mention else []))
    return prefix + template.format(n=n), html.replace(_TOKEN, str(n))


def _messages(loader: Any, rng: random.Random, size: int, *, channels: list[int], members: list[list[int]],
              shares: list[float], usernames: dict[int, str], now: datetime) -> list[deque[int]]:
    """size messages in id (= time) order; returns each channel's latest DEPTH top-level ids."""
    from teamchat.models import Message, Reaction

    cum, total = [], 0.0
    for share in shares:
        total += share
        cum.append(total)
    start = now - timedelta(days=365)
    step = timedelta(days=365) / size
    message_cols = ["id", "channel_id", "author_id", "parent_id", "body", "html", "created_at", "reply_count",
                    "last_reply_at", "deleted_at", "mentions", "mentions_channel"]
    reaction_cols = ["id", "message_id", "user_id", "emoji", "created_at"]
    first_id = next_id = loader.next_id(Message)
    reaction_id = loader.next_id(Reaction)
    recent: list[deque[int]] = [deque(maxlen=DEPTH) for _ in channels]
    last_at: dict[int, datetime] = {}
    rows: list[tuple[Any, ...]] = []
    reactions: list[tuple[Any, ...]] = []
    no_mentions = json.dumps([])
    produced = 0
    started = time.perf_counter()
    while produced < size:
        index = rng.choices(range(len(channels)), cum_weights=cum)[0]
        channel, people = channels[index], members[index]
        at = start + step * produced
        roll = rng.random()
        everyone = roll < 0.005
        mentioned = rng.choice(people) if 0.005 <= roll < 0.055 else None
        body, html = _body(rng, next_id, usernames[mentioned] if mentioned else None, everyone)
        deleted = rng.random() < 0.004
        replies = rng.randint(1, 6) if rng.random() < 0.03 and produced + 7 <= size else 0
        root = next_id
        reply_step = step / (replies + 1)
        rows.append((root, channel, rng.choice(people), None, "" if deleted else body, "" if deleted else html,
                     loader.when(at), replies,
                     loader.when(at + reply_step * replies) if replies else None,
                     loader.when(at) if deleted else None,
                     json.dumps([mentioned]) if mentioned and not deleted else no_mentions, everyone and not deleted))
        recent[index].append(root)
        last_at[index] = at
        next_id += 1
        for r in range(1, replies + 1):
            rows.append((next_id, channel, rng.choice(people), root, *_body(rng, next_id, None, False),
                         loader.when(at + reply_step * r), 0, None, None, no_mentions, False))
            next_id += 1
        produced += 1 + replies
        if not deleted and rng.random() < 0.01:
            for user in rng.sample(people, min(len(people), rng.randint(1, 4))):
                reactions.append((reaction_id, root, user, rng.choice(EMOJIS), loader.when(at + step / 2)))
                reaction_id += 1
        if len(rows) >= CHUNK:
            loader.load(Message, message_cols, rows)
            rows = []
            if (next_id - first_id) % 200_000 < CHUNK:
                _log(f"  teamchat: {next_id - first_id} messages ({time.perf_counter() - started:.0f} s)")
    loader.load(Message, message_cols, rows)
    loader.load(Reaction, reaction_cols, reactions)
    loader.fix_sequence(Message)
    loader.fix_sequence(Reaction)
    from teamchat.models import Channel

    for index, at in last_at.items():
        Channel.objects.filter(pk=channels[index]).update(last_message_at=at)
    _state["reactions"] = len(reactions)
    return recent


def _mark(recent: deque[int], unread: int) -> int:
    """The read mark that leaves the latest `unread` top-level messages after it (everything, if fewer)."""
    if not recent:
        return 0
    if unread <= 0:
        return recent[-1]
    return recent[-unread - 1] if len(recent) > unread else 0


def _memberships(rng: random.Random, *, channels: list[int], members: list[list[int]], recent: list[deque[int]],
                 reader: int, now: datetime) -> dict[int, int]:
    """Every membership with its read mark; returns the reader's marks by channel id."""
    from teamchat.choices import MemberRole
    from teamchat.models import Membership

    reader_channels = [i for i, people in enumerate(members) if reader in people and i != 0]
    rng.shuffle(reader_channels)
    planned = {0: READER_THOUSANDS}
    for position, index in enumerate(reader_channels):
        planned[index] = 0 if position < 24 else (rng.randint(10, 400) if position < 44 else rng.randint(1, 9))
    rows, marks = [], {}
    joined = now - timedelta(days=400)
    for index, people in enumerate(members):
        for position, user in enumerate(people):
            if user == reader:
                mark = _mark(recent[index], planned[index])
                marks[channels[index]] = mark
            else:
                mark = _mark(recent[index], 0 if rng.random() < 0.7 else rng.randint(1, 300))
            owner = position == 0 and index != 0 and len(people) > 2
            rows.append(Membership(channel_id=channels[index], user_id=user, last_read_id=mark, joined_at=joined,
                                   role=MemberRole.OWNER if owner else MemberRole.MEMBER))
    Membership.objects.bulk_create(rows, batch_size=2000)
    return marks


def ensure_chat(size: int) -> None:
    if _state.get("size") == size:
        return
    if "size" in _state:
        raise RuntimeError(f"teamchat data set already built with {_state['size']} messages, not {size}")
    from django.db import connection, transaction
    from django.utils import timezone

    from bench.scenarios.inbox import _Loader
    from teamchat import search
    from teamchat.models import Membership, Message

    rng = random.Random(1919)
    loader = _Loader()
    now = timezone.now()
    started = time.perf_counter()
    search.drop_search_schema()  # rebuilt after the load (GIN / FTS5 in bulk), as a restore would
    with transaction.atomic():
        users = _create_users()
        usernames = {pk: f"chat{i:03d}" for i, pk in enumerate(users, start=1)}
        channels, members, shares = _channels(rng, users, now)
        recent = _messages(loader, rng, size, channels=channels, members=members, shares=shares, usernames=usernames,
                           now=now)
        marks = _memberships(rng, channels=channels, members=members, recent=recent, reader=users[0], now=now)
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
            cursor.execute("VACUUM ANALYZE teamchat_message, teamchat_membership, teamchat_channel, teamchat_reaction")
    vacuum_seconds = time.perf_counter() - t0
    general = channels[0]
    roots = Message.objects.filter(channel_id=general, parent__isnull=True).count()
    _log(f"  teamchat: loaded {Message.objects.count()} messages ({roots} top-level in #General), "
         f"{_state['reactions']} reactions, {Membership.objects.count()} memberships in {load_seconds:.0f} s, "
         f"search schema {index_seconds:.0f} s, VACUUM ANALYZE {vacuum_seconds:.0f} s")
    _state.update(size=size, users=users, reader=users[0], poster=users[1], general=general, marks=marks)


# --- history, unread (in-process) ------------------------------------------------------------------------------


def _session(user_pk: int) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(_user(user_pk))
    return client


def _history_befores() -> list[int]:
    """HISTORY_PATHS `before` ids at random depths of #General (each with a full page of 50 before it)."""
    if "befores" not in _state:
        from teamchat.models import Message
        from teamchat.selectors import PAGE_SIZE

        ids = list(Message.objects.filter(channel_id=_state["general"], parent__isnull=True).order_by("id")
                   .values_list("id", flat=True))
        rng = random.Random(1900)
        picks = [ids[rng.randrange(PAGE_SIZE, len(ids))] for _ in range(HISTORY_PATHS)]
        depths = sorted(len(ids) - bisect.bisect_left(ids, p) for p in picks)
        _log(f"  teamchat: history pages before random ids of #General ({len(ids)} top-level messages): depth "
             f"(messages newer than `before`) from {depths[0]} to {depths[-1]}, e.g. {depths[len(depths) // 2]}")
        _state["befores"] = picks
    befores: list[int] = _state["befores"]
    return befores


ROW = b'data-testid="chat-message"'


def _rotating(client: Any, paths: list[str], check: Any) -> Any:
    for path in paths:  # every page answers a full page: a broken keyset fails the run instead of measuring it
        response = client.get(path)
        if response.status_code != 200 or not check(response):
            raise RuntimeError(f"{path}: HTTP {response.status_code}, not a full page: {response.content[:300]!r}")
    paths_cycle = cycle(paths)
    return lambda: client.get(next(paths_cycle))


def _explain_history(before: int) -> None:
    """PostgreSQL's plan and time for one keyset page of #General (the query teamchat.selectors.history runs)."""
    from django.db import connection

    from teamchat.models import Message
    from teamchat.selectors import PAGE_SIZE

    if connection.vendor != "postgresql":
        return
    qs = (Message.objects.filter(channel_id=_state["general"], parent__isnull=True, id__lt=before)
          .select_related("author").order_by("-id")[:PAGE_SIZE])
    plan = qs.explain(analyze=True, buffers=True).splitlines()
    _log("  teamchat: history page, EXPLAIN ANALYZE: " + "; ".join(
        line.strip() for line in plan if "Execution Time" in line or "Planning Time" in line)
        + "; plan: " + " | ".join(line.strip() for line in plan[:5]))


def run_history(n: int, *, latest: bool = False) -> list[Sample]:
    """GET /chat/c/<General>/mensajes?before=<id> (the fragment the page loads when scrolling up), the reader."""
    from teamchat.selectors import PAGE_SIZE

    base = f"/chat/c/{_state['general']}/mensajes"
    paths = [base] if latest else [f"{base}?before={b}" for b in _history_befores()]
    if not latest:
        _explain_history(_history_befores()[0])
    call = _rotating(_session(_state["reader"]), paths, lambda r: r.content.count(ROW) == PAGE_SIZE)
    return timed_requests(call, n)


def run_history_api(n: int) -> list[Sample]:
    """GET /api/v1/chat/channels/<General>/messages?before=<id>, the reader's API token."""
    from django.test import Client

    from teamchat.selectors import PAGE_SIZE

    client = Client(headers={"Authorization": f"Bearer {_state['token']}"})
    paths = [f"/api/v1/chat/channels/{_state['general']}/messages?before={b}" for b in _history_befores()]
    call = _rotating(client, paths, lambda r: len(r.json()["results"]) == PAGE_SIZE)
    return timed_requests(call, n)


def run_channel_page(n: int) -> list[Sample]:
    """GET /chat/c/<General>/: the whole chat page (sidebar with the unread counts, 200 members, latest 50)."""
    path = f"/chat/c/{_state['general']}/"
    call = _rotating(_session(_state["reader"]), [path], lambda r: r.content.count(ROW) >= 50)
    return timed_requests(call, n)


def _explain(sql: str) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        plan = [row[0] for row in cursor.fetchall()]
    timing = [line.strip() for line in plan if "Execution Time" in line or "Planning Time" in line]
    _log(f"  teamchat: unread counts, EXPLAIN ANALYZE: {'; '.join(timing)}; plan's first lines: "
         + " | ".join(line.strip() for line in plan[:6]))


def run_unread(n: int) -> list[Sample]:
    """teamchat.selectors.unread_counts(reader): 50 channels, one statement."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from teamchat.models import Membership, Message
    from teamchat.selectors import unread_counts

    reader = _user(_state["reader"])
    with CaptureQueriesContext(connection) as queries:
        counts = unread_counts(reader)
    # Checked against a plain count per channel: the same rule, another query shape.
    expected = {}
    for channel_id, mark in Membership.objects.filter(user=reader).values_list("channel_id", "last_read_id"):
        expected[channel_id] = (Message.objects.filter(channel_id=channel_id, parent__isnull=True, id__gt=mark,
                                                       deleted_at__isnull=True).exclude(author_id=reader.pk).count())
    if counts != expected or len(counts) != 50:
        raise RuntimeError(f"unread counts {counts} differ from the plain counts {expected} (or not 50 channels)")
    values = sorted(counts.values())
    _log(f"  teamchat: unread counts of {reader.username}: {len(counts)} channels, {values.count(0)} fully read, "
         f"{sum(1 for v in values if 0 < v < 1000)} with 1–999 unread, max {values[-1]} (#General "
         f"{counts[_state['general']]}), total {sum(values)}")
    _explain(queries.captured_queries[0]["sql"])
    samples = timed_requests(lambda: unread_counts(reader), n, expect_status=None)
    statements = {s.sql for s in samples}
    if statements != {1}:
        raise RuntimeError(f"unread_counts ran {statements} statements, not 1")
    return samples


# --- a message in #General reaching its 200 members' websockets (live daphne) ------------------------------------


def _csrf(client: Any, channel_id: int) -> str:
    """The chat page as the browser opens it: its CSRF cookie and the token the page's htmx sends."""
    response = client.get(f"/chat/c/{channel_id}/")
    match = re.search(r'"X-CSRFToken": "([^"]+)"', response.text)
    if response.status_code != 200 or match is None or "csrftoken" not in client.cookies:
        raise RuntimeError(f"chat page: HTTP {response.status_code}, no CSRF token")
    return match.group(1)


def run_fanout(n: int, label: str, overrides: dict[str, str | None] | None = None) -> list[Sample]:
    """Each sample: from just before `POST /chat/c/<General>/enviar` (form field `body`, the poster's session and
    CSRF token, as the page's composer sends it) until the 200th member's websocket has the `chat`/`message` event
    carrying the message's marker. One message at a time, 0.2 s apart; per-socket times are logged too."""
    import httpx
    from django.db import connections

    from bench.scenarios.callcenter import _CpuMeter, _server
    from bench.scenarios.inbox import _Sockets

    users: list[int] = _state["users"]
    keys = [_session(pk).cookies["sessionid"].value for pk in users]
    poster_key = keys[users.index(_state["poster"])]
    general = _state["general"]
    connections.close_all()
    per_socket: list[float] = []
    posts: list[float] = []
    samples = Samples()
    failures = 0
    with _server(overrides) as base_url:
        sockets = _Sockets(base_url.replace("http://", "ws://") + "/ws/events/", base_url, keys)
        sockets.start()
        _log(f"  teamchat: {label}: {len(sockets.sockets)} member websockets connected")
        try:
            with httpx.Client(base_url=base_url, timeout=60, cookies={"sessionid": poster_key}) as client:
                token = _csrf(client, general)
                meter = None
                started = 0.0
                for i in range(harness.WARMUP + n):
                    if i == harness.WARMUP:
                        meter, started = _CpuMeter(), time.perf_counter()
                    marker = f"bench-chat-{i:06d}"
                    sockets.expect(marker)
                    t0 = time.perf_counter()
                    response = client.post(f"/chat/c/{general}/enviar", headers={"X-CSRFToken": token},
                                           data={"body": f"Aviso para todo el equipo {marker}"})
                    posted = time.perf_counter() - t0
                    if response.status_code != 200 or marker not in response.text:
                        raise RuntimeError(f"POST /chat/c/{general}/enviar: HTTP {response.status_code} "
                                           f"{response.text[:300]}")
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
        count = len(users)
        firsts = [min(per_socket[i:i + count]) for i in range(0, len(per_socket), count)]
        _log(f"  teamchat: {label}: per-socket delivery median {harness.percentile(per_socket, 50) * 1000:.1f} ms, "
             f"p95 {harness.percentile(per_socket, 95) * 1000:.1f} ms, first socket median "
             f"{harness.percentile(firsts, 50) * 1000:.1f} ms over {len(per_socket)} deliveries; the POST answered "
             f"in {harness.percentile(posts, 50) * 1000:.1f} ms (median); {sockets.duplicates} duplicate deliveries; "
             f"{failures} messages did not reach all sockets within 30 s")
    if failures:
        raise RuntimeError(f"{failures} messages did not reach all {len(users)} websockets")
    return samples


def _fanout_redis(n: int) -> list[Sample]:
    import redis

    from bench.scenarios.callcenter import _redis_for_rq

    url = _redis_for_rq()
    try:
        return run_fanout(n, "fan-out, Redis layer", {"CHANNEL_LAYER": "redis", "REDIS_URL": url})
    finally:
        redis.Redis.from_url(url).flushdb()  # it was empty before (_redis_for_rq)


def _scenario(name: str, description: str, run: Any) -> Scenario:
    return Scenario(name=f"teamchat.{name}", description=description, setup=ensure_chat, run=run, size=SIZE)


SCENARIOS = [
    _scenario("chat_history_1m", "GET /chat/c/<General>/mensajes?before=<random id> (keyset page of 50), "
              "1,000,000 messages", run_history),
    _scenario("chat_history_1m_latest", "GET /chat/c/<General>/mensajes (the latest 50)",
              lambda n: run_history(n, latest=True)),
    _scenario("chat_history_1m_api", "GET /api/v1/chat/channels/<General>/messages?before=<random id>",
              run_history_api),
    _scenario("chat_channel_page_1m", "GET /chat/c/<General>/ (the whole chat page: sidebar, members, latest 50)",
              run_channel_page),
    _scenario("chat_unread_50", "teamchat.selectors.unread_counts(reader): 50 channels in one query",
              run_unread),
    _scenario("chat_fanout_200", "POST /chat/c/<General>/enviar (live daphne) until 200 member websockets have "
              "it, in-memory channel layer", lambda n: run_fanout(n, "fan-out, in-memory layer")),
    _scenario("chat_fanout_200_default", "chat_fanout_200 with the installation's own channel layer (channels-lite "
              "on SQLite, channels-postgres on PostgreSQL)",
              lambda n: run_fanout(n, "fan-out, default layer", {"CHANNEL_LAYER": None})),
    _scenario("chat_fanout_200_redis", "chat_fanout_200 with the Redis channel layer (BENCH_REDIS_URL, an empty "
              "database)", _fanout_redis),
]
