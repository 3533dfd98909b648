"""The one webhook intake (Kommo, WhatsApp): an ASGI route ahead of Django that checks the caller's secret before
reading the body, reads no further than a cap, stores raw bodies group-committed (each request answered only once
its body is committed) and queues one processing task per batch.

An app plugs in with an `IntakeRoute` subclass (its path prefix and its `handle`: secret or signature check, the
decision, the answer), its store function (one transaction for a batch of its rows, `store_batch_or_each` around
it) and `enqueue_with_rows` for the processing task.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
)
from django.tasks import Task, task_backends
from django_tasks_db.backend import DatabaseBackend

from core.tasks import enqueue_on_commit

logger = logging.getLogger(__name__)
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def store_batch_or_each[T](store: Callable[[list[T]], list[int]], items: Sequence[T], *,
                           what: str) -> list[int | None]:
    """Stores the batch with `store` (one transaction). If that fails for one request's data (IntegrityError,
    DataError), each is stored on its own (None = this one could not be stored; one alone re-raises); a locked or
    lost database re-raises at once for the whole batch."""
    try:
        return list(store(list(items)))
    except (OperationalError, InterfaceError):
        raise  # the database itself (locked, connection lost): one by one would only multiply the waits
    except DatabaseError:
        if len(items) == 1:
            raise
        logger.warning("%s batch of %d not stored at once; storing each on its own", what, len(items))
    ids: list[int | None] = []
    last: IntegrityError | DataError | None = None
    for item in items:
        try:
            ids.extend(store([item]))
        except (OperationalError, InterfaceError):
            raise  # the database went away mid-way: the rest would wait for the same lock or connection
        except (IntegrityError, DataError) as exc:  # this request's own data
            logger.exception("%s not stored", what)
            ids.append(None)
            last = exc
    if last is not None and all(pk is None for pk in ids):
        raise last  # the database itself is in trouble, not one request: the caller resets the connection
    return ids


async def read_capped_body(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                           limit: int) -> tuple[bytes, bool]:
    """The request body of an ASGI HTTP request, and whether it is larger than `limit` bytes.

    An over-size body is refused before it is read: when `Content-Length` announces more than `limit`, nothing is
    read; otherwise reading stops at the chunk that crosses the limit (the rest is never buffered). The caller then
    answers 413 at once; returned is what was read, at most `limit` bytes (kept as evidence on a rejected row)."""
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                announced = int(value)
            except ValueError:
                announced = 0
            if announced > limit:
                return b"", True
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        if size + len(chunk) > limit:
            chunks.append(chunk[:limit - size])
            return b"".join(chunks), True
        size += len(chunk)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks), False


class KeyCache[V]:
    """What a URL's secret (a phone number id, a mailbox token…) opens, or None for nothing, each answer trusted for
    `ttl` seconds per process: a hot route costs no query per request, and after an admin rotates a secret or
    disables the target, every process follows within `ttl` seconds (their own process at once, with `forget`)."""

    def __init__(self, loader: Callable[[str], V | None], *, ttl: float) -> None:
        self.loader, self.ttl = loader, ttl
        self._entries: dict[str, tuple[float, V | None]] = {}

    def cached(self, key: str) -> tuple[bool, V | None]:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def load(self, key: str) -> V | None:
        value = self.loader(key)
        if len(self._entries) > 10_000:  # random keys probing the URL must not grow the cache without bound
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, value)
        return value

    def lookup(self, key: str) -> V | None:
        hit, value = self.cached(key)
        return value if hit else self.load(key)

    def forget(self, key: str | None = None) -> None:
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)


def enqueue_with_rows(task: Task[..., Any], ids: list[int]) -> None:
    """Queues the processing task for rows just stored, inside their transaction: on the database queue the task
    row commits with the bodies (one commit, and never a stored body without its task); on Redis (RQ) it is sent
    only after the commit, or a worker could look for rows not yet visible."""
    if isinstance(task_backends[task.backend], DatabaseBackend):
        task.enqueue(ids)
    else:
        enqueue_on_commit(task, ids)


def keeping_connection[T](store: Callable[[list[T]], list[int | None]]) -> Callable[[list[T]], list[int | None]]:
    """`store` for asgiref's one sync thread: its database connection is kept from batch to batch (no request cycle
    closes it there; reconnecting per batch cost ~1.3 ms on SQLite) and dropped after an error, so a restarted
    database is reconnected on the next batch."""

    def run(items: list[T]) -> list[int | None]:
        try:
            return store(items)
        except Exception:
            close_old_connections()
            connection.close()
            raise

    return run


class GroupCommitWriter[T]:
    """Gathers concurrent requests for a few milliseconds and stores them with one commit (`store`, run in
    asgiref's sync thread, returns one id per item, None for one that could not be stored); while one batch is
    written the next one gathers, so batches grow with the load instead of the latency."""

    def __init__(self, store: Callable[[list[T]], list[int | None]], *, wait: float, limit: int = 200,
                 what: str = "webhook") -> None:
        self.store_fn, self.wait, self.limit, self.what = store, wait, limit, what
        self.queue: asyncio.Queue[tuple[T, asyncio.Future[int]]] | None = None
        self.task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def store(self, item: T) -> int:
        loop = asyncio.get_running_loop()
        if self.queue is None or self.task is None or self.task.done() or self.loop is not loop:
            self.queue, self.loop = asyncio.Queue(), loop
            self.task = loop.create_task(self._run(self.queue))
        future: asyncio.Future[int] = loop.create_future()
        await self.queue.put((item, future))
        return await future

    async def _run(self, queue: asyncio.Queue[tuple[T, asyncio.Future[int]]]) -> None:
        while True:
            batch = [await queue.get()]
            deadline = time.monotonic() + self.wait
            while len(batch) < self.limit:
                if not queue.empty():
                    batch.append(queue.get_nowait())
                    continue
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(queue.get(), timeout))
                except TimeoutError:
                    break
            try:
                ids = await sync_to_async(self.store_fn)([item for item, _f in batch])
            except Exception as exc:  # the requests get a 500 and the vendor redelivers; nothing is half-stored
                logger.exception("%s batch of %d not stored", self.what, len(batch))
                for _item, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_item, future), pk in zip(batch, ids, strict=True):
                if future.done():
                    continue
                if pk is None:  # this request alone gets a 500 and the vendor redelivers it
                    future.set_exception(DatabaseError(f"{self.what} not stored"))
                else:
                    future.set_result(pk)


class IntakeRoute:
    """ASGI route for `POST <prefix><tail>`; everything else goes to `fallback` (Django). Subclasses set `prefix`
    and implement `handle`."""

    prefix = ""

    def __init__(self, fallback: Any) -> None:
        self.fallback = fallback

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope.get("method") != "POST" or not path.startswith(self.prefix):
            await self.fallback(scope, receive, send)
            return
        await self.handle(scope, receive, send, path[len(self.prefix):].strip("/"))

    async def handle(self, scope: dict[str, Any], receive: Receive, send: Send, tail: str) -> None:
        raise NotImplementedError


async def respond(send: Send, status: int, body: bytes = b"", content_type: bytes = b"text/plain") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def respond_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    await respond(send, status, json.dumps(payload).encode(), b"application/json")
