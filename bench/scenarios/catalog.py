"""Catalog CSV import (issue 12): a 20,000-row file must not hold SQLite's write lock for long, or the worker and
the scheduler (busy timeout 20 s) die with "database is locked".

`catalog.import_20k` imports a fresh 20,000-row file (every row a new product with stock: the heaviest case, a
receipt and an audit entry per row) while another thread writes one small transaction after another on its own
connection, as the worker and the scheduler do. The samples are that writer's latencies, so `max` is the longest
anyone waited for the import's lock; the log line adds the import's wall time and its longest single transaction
(each do_upsert_products call is one transaction). `catalog.reimport_20k` imports the same file again (idempotent:
every row unchanged, nothing written).
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any

from bench import harness
from bench.harness import Sample, Samples, Scenario

SIZE = 20_000
WRITER_PAUSE = 0.01  # seconds between the concurrent writer's transactions

_state: dict[str, Any] = {}


def _log(message: str) -> None:
    harness._log(message)


def _csv(size: int) -> bytes:
    rows = "".join(f"BENCH-{i:06d};Producto de prueba {i};{1000 + i},50;{i % 97}\n" for i in range(size))
    return ("sku;nombre;precio;stock\n" + rows).encode()


def setup(size: int) -> None:
    if _state.get("size") == size:
        return
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_lock_probe (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        cursor.execute("DELETE FROM bench_lock_probe")
        cursor.execute("INSERT INTO bench_lock_probe (id, n) VALUES (1, 0)")
    _state.update(size=size, data=_csv(size))


def _import_with_writer(label: str) -> Samples:
    from django.db import connections, transaction

    from catalog import importer

    stop = threading.Event()
    latencies: list[float] = []

    def writer() -> None:
        try:
            while not stop.is_set():
                t0 = time.perf_counter()
                with transaction.atomic(), connections["default"].cursor() as cursor:
                    cursor.execute("UPDATE bench_lock_probe SET n = n + 1 WHERE id = 1")
                latencies.append(time.perf_counter() - t0)
                time.sleep(WRITER_PAUSE)
        finally:
            connections.close_all()

    batches: list[float] = []
    real_upsert = importer.do_upsert_products

    def timed_upsert(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real_upsert(*args, **kwargs)
        finally:
            batches.append(time.perf_counter() - t0)

    importer.do_upsert_products = timed_upsert  # measurement only
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        t0 = time.perf_counter()
        report = importer.import_products_csv(io.BytesIO(_state["data"]), acting_user=None)
        wall = time.perf_counter() - t0
    finally:
        stop.set()
        thread.join(30)
        importer.do_upsert_products = real_upsert
    if not report.ok:
        raise RuntimeError(f"import failed: {report.as_lines()[:3]}")
    _log(f"  catalog: {label} of {_state['size']} rows in {wall:.1f} s ({report.created} created, "
         f"{report.updated} updated, {report.unchanged} unchanged); {len(batches)} transactions, longest "
         f"{max(batches, default=0) * 1000:.0f} ms; concurrent writer: {len(latencies)} writes, longest wait "
         f"{max(latencies, default=0) * 1000:.0f} ms")
    samples = Samples([Sample(latency, None) for latency in latencies] or [Sample(0.0, None)])
    samples.wall_seconds = wall
    return samples


def run_import(_n: int) -> list[Sample]:
    return _import_with_writer("first import")


def run_reimport(_n: int) -> list[Sample]:
    return _import_with_writer("re-import")


SCENARIOS = [
    Scenario(name="catalog.import_20k", description="CSV import of 20,000 new products with stock, while another "
             "connection writes; samples = that writer's waits (max = longest lock hold)", setup=setup,
             run=run_import, size=SIZE),
    Scenario(name="catalog.reimport_20k", description="the same file again (every row unchanged)", setup=setup,
             run=run_reimport, size=SIZE),
]
