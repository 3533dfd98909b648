"""History imports started from the web (/reportes/importar/): the ImportJob row, its files and its progress.

`do_start_history_import` stores the uploaded files (default storage, under imports/) and queues the
`tasks.run_history_import` task; `do_run_import_job` (the task's body) runs the same two phases as
`manage.py import_history` — `parse_history`, then `do_import_history` — and records stages, progress, the result
and every bad row on the job.

Progress: `do_import_history` writes everything in ONE transaction, so progress saved through the task's own
connection would only appear at the end. Stages before and after that transaction (queued, reading, writing,
done) are saved normally. Inside it, on PostgreSQL the counts are written through a second, autocommit
connection (`JobProgress`), throttled to one UPDATE per PROGRESS_INTERVAL; on SQLite a second writer would wait
for the import's write lock, so the writing stage shows an indeterminate bar (total = 0) instead.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from django.core.files import File
from django.db import connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from core import audit
from core.errors import ActionError
from core.tasks import enqueue_on_commit
from reports import tasks
from reports.importer import HistoryFileError, do_import_history, parse_history
from reports.models import ImportJob

log = logging.getLogger(__name__)

PROGRESS_INTERVAL: Final = 0.5  # seconds between two progress writes
MAX_FILE_BYTES: Final = 512 * 1024 * 1024
STAGE_QUEUED: Final = "en_cola"
STAGE_READING: Final = "leyendo"
STAGE_WRITING: Final = "conversations"  # the first stage do_import_history reports
STAGE_ROLLUPS: Final = "rollups"
STAGE_DONE: Final = "fin"


def _check_csv(upload: File[Any] | None, label: str, *, required: bool) -> None:
    if upload is None:
        if required:
            raise ActionError("missing_file", _("Suba el archivo de %s.") % label, field="conversations")
        return
    name = upload.name or ""
    if not name.lower().endswith((".csv", ".txt")):
        raise ActionError("not_csv", _("%(label)s: el archivo debe ser un CSV (%(name)s).") % {
            "label": label, "name": name})
    if not upload.size:
        raise ActionError("empty_file", _("%(label)s: el archivo está vacío (%(name)s).") % {
            "label": label, "name": name})
    if upload.size > MAX_FILE_BYTES:
        raise ActionError("file_too_large", _("%(label)s: el archivo supera los %(mb)d MB.") % {
            "label": label, "mb": MAX_FILE_BYTES // (1024 * 1024)})


def do_start_history_import(acting_user: User, *, conversations: File[Any] | None, sales: File[Any] | None = None,
                            skip_invalid: bool = False) -> ImportJob:
    """Saves the files, creates the job and queues the task (after the commit)."""

    require_perm(acting_user, Perm.HISTORY_IMPORT)
    _check_csv(conversations, _("conversaciones"), required=True)
    _check_csv(sales, _("ventas"), required=False)
    assert conversations is not None
    with transaction.atomic():
        job = ImportJob(created_by=acting_user, skip_invalid=skip_invalid, stage=STAGE_QUEUED)
        job.conversations_file.save(conversations.name or "conversaciones.csv", conversations, save=False)
        if sales is not None:
            job.sales_file.save(sales.name or "ventas.csv", sales, save=False)
        job.save()
        audit.record(actor=acting_user, action="history.import_started", target=job,
                     changes={"conversations": job.conversations_file.name, "sales": job.sales_file.name or "",
                              "skip_invalid": skip_invalid})
        job_id = job.pk
        enqueue_on_commit(tasks.run_history_import, job_id)
    return job


class JobProgress:
    """The job's progress. `save` writes stages through the task's own connection (outside the import's
    transaction); calling the object is do_import_history's `progress(stage, done, total)` callback, which runs
    INSIDE that transaction: at most every PROGRESS_INTERVAL seconds it writes the counts through a side
    connection in autocommit (PostgreSQL), so the page sees them at once."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.last = 0.0
        self.side: BaseDatabaseWrapper | None = None

    @property
    def live(self) -> bool:
        """Whether counts can be shown while the import's transaction is open (not on SQLite: one writer)."""
        return connection.vendor == "postgresql"

    def save(self, **fields: Any) -> None:
        ImportJob.objects.filter(pk=self.job_id).update(updated_at=timezone.now(), **fields)

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_INTERVAL:
            return
        self.last = now
        if self.live:
            self.write_live(stage=stage, done=done, total=total, updated_at=timezone.now())

    def write_live(self, **fields: Any) -> None:
        if self.side is None:
            self.side = connections.create_connection("default")
        quote = connection.ops.quote_name
        columns = ", ".join(f"{quote(name)} = %s" for name in fields)
        with self.side.cursor() as cursor:
            cursor.execute(f"UPDATE {quote(ImportJob._meta.db_table)} SET {columns} WHERE id = %s",  # noqa: S608
                           [*fields.values(), self.job_id])

    def close(self) -> None:
        if self.side is not None:
            self.side.close()
            self.side = None


@contextmanager
def _local_path(field: FieldFile) -> Iterator[Path]:
    """A path on disk for a stored file, under its original name (the importer's errors cite it)."""
    try:
        path: Path | None = Path(field.path)
    except NotImplementedError:  # remote storage: copy it down
        path = None
    if path is not None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="import-") as tmp:
        target = Path(tmp) / Path(field.name or "archivo.csv").name
        with field.open("rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        yield target


def _finish(job_id: int, state: str, **fields: Any) -> None:
    ImportJob.objects.filter(pk=job_id).update(state=state, stage=STAGE_DONE, finished_at=timezone.now(),
                                               updated_at=timezone.now(), **fields)


def do_run_import_job(job_id: int) -> ImportJob | None:
    """The task's body: runs a pending job to terminado or fallido. A job already taken is left alone."""

    claimed = ImportJob.objects.filter(pk=job_id, state=ImportJob.State.PENDING).update(
        state=ImportJob.State.PROCESSING, stage=STAGE_READING, started_at=timezone.now(), updated_at=timezone.now(),
        attempts=F("attempts") + 1)
    if not claimed:
        return None
    job = ImportJob.objects.get(pk=job_id)
    progress = JobProgress(job_id)
    try:
        with _local_path(job.conversations_file) as conversations:
            if job.sales_file:
                with _local_path(job.sales_file) as sales:
                    parsed = parse_history(conversations, sales)
            else:
                parsed = parse_history(conversations)
        if parsed.errors and not job.skip_invalid:
            raise HistoryFileError(parsed.errors)
        progress.save(stage=STAGE_WRITING, done=0, total=len(parsed.conversations) if progress.live else 0)
        result = do_import_history(parsed, skip_invalid=job.skip_invalid, progress=progress)
    except HistoryFileError as exc:
        _finish(job_id, ImportJob.State.FAILED, errors=exc.errors,
                result={"message": _("No se importó nada: %d fila(s) con errores.") % len(exc.errors)})
    except Exception as exc:  # the job must end, whatever happened; the worker log has the traceback
        log.exception("history import %s failed", job_id)
        _finish(job_id, ImportJob.State.FAILED, errors=[_("Error inesperado: %s") % exc],
                result={"message": _("No se importó nada: la importación falló.")})
    else:
        _finish(job_id, ImportJob.State.DONE, done=result.conversations, total=result.conversations,
                errors=result.skipped,
                result={"conversations": result.conversations, "sales": result.sales,
                        "agents_created": result.agents_created, "customers_created": result.customers_created,
                        "skipped": len(result.skipped)})
    finally:
        progress.close()
    return ImportJob.objects.get(pk=job_id)


ABANDONED_AFTER: Final = timedelta(hours=2)  # longer than any import measured (1M rows: ~6 min) with room
MAX_ATTEMPTS: Final = 2  # a job interrupted once runs again; twice, it is given up (something kills it)


def do_recover_abandoned_imports(*, now: datetime | None = None) -> dict[str, int]:
    """Jobs left "procesando" by a worker that died (nothing updated them for ABANDONED_AFTER). The import's own
    transaction was rolled back with the worker and writing is idempotent (rows are keyed by their file's id), so
    a job interrupted for the first time is queued again and ends as if nothing happened; one interrupted
    MAX_ATTEMPTS times ends as failed, so the page stops polling and says why."""

    now = now or timezone.now()
    stale = ImportJob.objects.filter(state=ImportJob.State.PROCESSING, updated_at__lt=now - ABANDONED_AFTER)
    outcome = {"requeued": 0, "failed": 0}
    for job in stale:
        if job.attempts < MAX_ATTEMPTS:
            with transaction.atomic():
                requeued = ImportJob.objects.filter(pk=job.pk, state=ImportJob.State.PROCESSING).update(
                    state=ImportJob.State.PENDING, stage=STAGE_QUEUED, done=0, total=0, updated_at=now)
                if requeued:
                    enqueue_on_commit(tasks.run_history_import, job.pk)
            outcome["requeued"] += requeued
            continue
        _finish(job.pk, ImportJob.State.FAILED,
                errors=[*job.errors, _("La importación se interrumpió %d veces (el proceso de fondo se detuvo); no "
                                       "se importó nada. Vuelva a subir los archivos.") % job.attempts])
        outcome["failed"] += 1
    return outcome
