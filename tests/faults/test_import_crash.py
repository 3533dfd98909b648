"""Fault injection: the worker running a history import is killed with SIGKILL mid-import.

Real `db_worker` processes on the test database (a SQLite file, or PostgreSQL when DATABASE_URL says so). The
first worker stops at the fail point `history_import.before_sales` (core/failpoints.py) — inside the import's
transaction, its conversations written and not committed — and is killed there with SIGKILL. The transaction
rolls back with it; the periodic recovery queues the job again and a new worker imports the file exactly once.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from inbox.models import Conversation
from orders.models import Sale
from reports import actions
from reports.models import ImportJob
from reports.tests.csvdata import conv, sale, write_conversations, write_sales
from tests.processes import DB_QUEUE, kill_hard, wait_for, worker

pytestmark = pytest.mark.faults

ROWS = 3000


def history_files(tmp_path: Path) -> tuple[SimpleUploadedFile, SimpleUploadedFile]:
    rows = [conv(f"H{n}", f"K{n % 500}", "2026-10-02T10:00:00", agent="ana", state="resuelta",
                 closed_at="2026-10-02T11:00:00", outcome="genero_venta") for n in range(ROWS)]
    sales = [sale(f"S{n}", f"H{n}", "100") for n in range(ROWS)]
    conversations = write_conversations(tmp_path, rows, name="conversaciones.csv")
    sales_file = write_sales(tmp_path, sales, name="ventas.csv")
    return (SimpleUploadedFile(conversations.name, conversations.read_bytes(), content_type="text/csv"),
            SimpleUploadedFile(sales_file.name, sales_file.read_bytes(), content_type="text/csv"))


def job_state(pk: int) -> tuple[str, str]:
    state, stage = ImportJob.objects.filter(pk=pk).values_list("state", "stage").get()
    return state, stage


def test_a_worker_killed_mid_import_leaves_nothing_half_written_and_the_job_completes_once(
        transactional_db: Any, tmp_path: Path) -> None:
    analyst = UserFactory(role=Role.ANALISTA, username="analista")
    conversations, sales = history_files(tmp_path)
    with override_settings(TASKS=DB_QUEUE):
        # given a history import queued from the web
        job = actions.do_start_history_import(analyst, conversations=conversations, sales=sales)
        # when its worker stops inside the import's transaction and is killed with SIGKILL there
        points = tmp_path / "failpoints"
        points.mkdir()
        with worker("import-1", CENTRALITA_FAILPOINTS="history_import.before_sales",
                    CENTRALITA_FAILPOINT_DIR=str(points)) as (first, log):
            wait_for((points / "history_import.before_sales.reached").exists,
                     "the import to reach the fail point", log)
            kill_hard(first)
        # then the job still says "procesando" and nothing of it was written
        assert job_state(job.pk)[0] == ImportJob.State.PROCESSING
        assert not Conversation.objects.filter(import_ref__isnull=False).exists()
        assert not Sale.objects.exists()
        # when the periodic recovery finds it abandoned and a new worker runs it
        ImportJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - actions.ABANDONED_AFTER
                                                   - timedelta(seconds=1))
        with transaction.atomic():
            assert actions.do_recover_abandoned_imports() == {"requeued": 1, "failed": 0}
        with worker("import-2") as (_second, log):
            wait_for(lambda: job_state(job.pk)[0] == ImportJob.State.DONE, "the re-run import to finish", log)
    # then every conversation and sale is there exactly once, and the job says so
    assert Conversation.objects.filter(import_ref__isnull=False).count() == ROWS
    assert Sale.objects.count() == ROWS
    job.refresh_from_db()
    assert job.attempts == 2 and job.result["conversations"] == ROWS and job.result["sales"] == ROWS

