"""/reportes/importar/: uploads become an ImportJob run by a task; the page follows it to its summary or to every
bad row; only analysts and admins (history.import) get there."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections, transaction
from django.tasks import default_task_backend
from django.test import override_settings

from accounts.roles import Role
from inbox.models import Conversation
from reports import actions
from reports.importer import do_import_history, parse_history
from reports.models import ImportJob
from reports.tasks import run_history_import
from reports.tests.csvdata import BOGOTA, conv, sale, write_conversations, write_sales

pytestmark = pytest.mark.django_db
URL = "/reportes/importar/"
GOOD = [
    conv("H1", "K1", "2026-11-02T10:00:00", agent="ana", state="resuelta", closed_at="2026-11-02T11:00:00",
         outcome="genero_venta"),
    conv("H2", "K2", "2026-11-03T10:00:00", agent="beto"),
]


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(datetime(2026, 11, 25, 10, 0, tzinfo=BOGOTA), tick=False)


@pytest.fixture
def analyst(make_user):
    return make_user(Role.ANALISTA, username="analista")


def upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="text/csv")


def start(client, tmp_path, conversations, sales=None, **form):
    data = {"conversations": upload(write_conversations(tmp_path, conversations, name="conversaciones.csv")),
            **form}
    if sales is not None:
        data["sales"] = upload(write_sales(tmp_path, sales, name="ventas.csv"))
    return client.post(URL, data)


def test_an_upload_creates_a_pending_job_queues_the_task_and_shows_its_page(
        tmp_path, analyst, client_for, django_capture_on_commit_callbacks):
    # given the analyst on the import page
    client = client_for(analyst)
    assert client.get(URL).status_code == 200
    default_task_backend.clear()
    # when she uploads a conversations file and a sales file
    with django_capture_on_commit_callbacks(execute=True):
        response = start(client, tmp_path, GOOD, [sale("S1", "H1", "100")])
    # then a pending job keeps both files under imports/ with their names, and the task is queued for it
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/reportes/importar/{job.pk}/"
    assert (job.state, job.stage, job.created_by, job.skip_invalid) == ("pendiente", "en_cola", analyst, False)
    assert job.conversations_file.name.startswith("imports/")
    assert job.conversations_file.name.endswith("/conversaciones.csv")
    assert job.sales_file.name.endswith("/ventas.csv")
    (queued,) = default_task_backend.results
    assert queued.task.name == run_history_import.name and queued.args == [job.pk]
    # and its page polls every second while it waits
    page = client.get(f"/reportes/importar/{job.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in page and "En cola: esperando al proceso de fondo" in page
    assert "<progress aria-label" in page  # indeterminate until there is a count


def test_the_task_runs_the_job_through_its_states_to_the_summary(tmp_path, analyst, client_for, monkeypatch):
    # given a queued job, and a spy on the job's row at each phase
    client = client_for(analyst)
    start(client, tmp_path, GOOD, [sale("S1", "H1", "100")])
    job = ImportJob.objects.get()
    seen = []

    def parse(*args):
        seen.append(ImportJob.objects.values_list("state", "stage").get(pk=job.pk))
        return parse_history(*args)

    def write(*args, **kwargs):
        seen.append(ImportJob.objects.values_list("state", "stage").get(pk=job.pk))
        return do_import_history(*args, **kwargs)

    monkeypatch.setattr("reports.actions.parse_history", parse)
    monkeypatch.setattr("reports.actions.do_import_history", write)
    # when the task runs
    assert run_history_import.call(job.pk) == "terminado"
    # then it went pendiente → procesando (reading, then writing) → terminado, with the counts
    assert seen == [("procesando", "leyendo"), ("procesando", "conversations")]
    job.refresh_from_db()
    assert (job.state, job.errors, job.started_at is not None, job.finished_at is not None) == (
        "terminado", [], True, True)
    assert job.result == {"conversations": 2, "sales": 1, "agents_created": 2, "customers_created": 2,
                          "skipped": 0}
    assert Conversation.objects.filter(import_ref__in=["H1", "H2"]).count() == 2
    # and the page shows the summary and stops polling
    page = client.get(f"/reportes/importar/{job.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert "Se importaron 2 conversaciones y 1 ventas" in page
    assert "hx-trigger" not in page and "<html" not in page
    # and the list of past imports has it; running it again does nothing
    assert "2 conversaciones, 1 ventas" in client.get(URL).content.decode()
    assert run_history_import.call(job.pk) is None


def test_bad_rows_fail_the_job_and_every_one_is_shown_with_its_line(tmp_path, analyst, client_for):
    # given a file with two bad rows (lines 3 and 4) among good ones
    client = client_for(analyst)
    rows = [GOOD[0], conv("B1", "K3", "ayer"), conv("B2", "K4", "2026-11-03T10:00:00", state="perdida"), GOOD[1]]
    start(client, tmp_path, rows)
    job = ImportJob.objects.get()
    # when the task runs
    run_history_import.call(job.pk)
    # then nothing was imported, and the job lists both rows with file and line
    job.refresh_from_db()
    assert job.state == "fallido"
    assert len(job.errors) == 2
    assert job.errors[0].startswith("conversaciones.csv línea 3: started_at no es una fecha ISO 8601")
    assert job.errors[1].startswith("conversaciones.csv línea 4: state desconocido")
    assert not Conversation.objects.filter(import_ref__in=["H1", "H2"]).exists()
    page = client.get(f"/reportes/importar/{job.pk}/").content.decode()
    assert "No se importó nada: 2 fila(s) con errores." in page
    assert "conversaciones.csv línea 3" in page and "conversaciones.csv línea 4" in page
    assert "2 problemas" in page


def test_skip_invalid_imports_the_good_rows_and_lists_the_skipped_ones(tmp_path, analyst, client_for):
    # given the same file, uploaded with "Omitir las filas inválidas"
    client = client_for(analyst)
    start(client, tmp_path, [GOOD[0], conv("B1", "K3", "ayer"), GOOD[1]], skip_invalid="on")
    job = ImportJob.objects.get()
    # when the task runs
    run_history_import.call(job.pk)
    # then the good rows are in, and the skipped row is listed
    job.refresh_from_db()
    assert (job.state, job.result["conversations"], job.result["skipped"]) == ("terminado", 2, 1)
    assert job.errors == [job.errors[0]] and "línea 3" in job.errors[0]
    page = client.get(f"/reportes/importar/{job.pk}/").content.decode()
    assert "1 fila omitida" in page and "conversaciones.csv línea 3" in page


def test_a_file_without_the_required_columns_fails_with_the_reason(tmp_path, analyst, client_for):
    client = client_for(analyst)
    client.post(URL, {"conversations": SimpleUploadedFile("x.csv", b"foo,bar\n1,2\n")})
    job = ImportJob.objects.get()
    run_history_import.call(job.pk)
    job.refresh_from_db()
    assert job.state == "fallido"
    assert job.errors[0].startswith("x.csv: faltan columnas obligatorias: conversation_id (id_conversacion)")


def test_an_unexpected_error_ends_the_job_as_failed(tmp_path, analyst, client_for, monkeypatch):
    client = client_for(analyst)
    start(client, tmp_path, GOOD)
    job = ImportJob.objects.get()

    def boom(*args, **kwargs):
        raise RuntimeError("disco lleno")

    monkeypatch.setattr("reports.actions.do_import_history", boom)
    run_history_import.call(job.pk)
    job.refresh_from_db()
    assert (job.state, job.errors) == ("fallido", ["Error inesperado: disco lleno"])


def test_the_form_refuses_a_file_that_is_not_csv(analyst, client_for):
    response = client_for(analyst).post(URL, {"conversations": SimpleUploadedFile("datos.xlsx", b"PK\x03\x04")})
    assert response.status_code == 400
    assert "el archivo debe ser un CSV (datos.xlsx)" in response.content.decode()
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.DIRECTOR_VENTAS, Role.GERENTE, Role.AGENTE])
def test_only_history_import_roles_get_in(role, make_user, client_for, tmp_path):
    client = client_for(make_user(role))
    assert client.get(URL).status_code == 403
    assert start(client, tmp_path, GOOD).status_code == 403
    assert not ImportJob.objects.exists()


def test_the_action_checks_the_permission_itself(make_user, tmp_path):
    from core.errors import PermissionDeniedError

    with pytest.raises(PermissionDeniedError):
        actions.do_start_history_import(make_user(Role.SUPERVISOR),
                                        conversations=upload(write_conversations(tmp_path, GOOD)))


def test_with_an_immediate_backend_the_upload_runs_at_once(tmp_path, analyst, client_for,
                                                           django_capture_on_commit_callbacks):
    immediate = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default"]}}
    with override_settings(TASKS=immediate), django_capture_on_commit_callbacks(execute=True):
        response = start(client_for(analyst), tmp_path, GOOD)
    assert response.status_code == 302
    assert ImportJob.objects.get().state == "terminado"


def test_progress_is_written_at_most_every_half_second(monkeypatch):
    # given the progress callback of a job on PostgreSQL, a clock and a spy on its writes
    clock = [100.0]
    writes = []
    monkeypatch.setattr(actions.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(actions.JobProgress, "live", True)
    monkeypatch.setattr(actions.JobProgress, "write_live", lambda self, **fields: writes.append(fields["done"]))
    progress = actions.JobProgress(1)
    # when reports come 0.2 s apart
    for done in range(10, 70, 10):
        progress("conversations", done, 100)
        clock[0] += 0.2
    # then one in three is written
    assert writes == [10, 40]


def test_on_sqlite_the_writing_stage_is_indeterminate(analyst, monkeypatch):
    # given a job on SQLite, whose single writer is busy importing / when progress is reported / then nothing is
    # written, and the page shows an indeterminate bar (the stage was saved with total 0 before the transaction)
    monkeypatch.setattr(actions.JobProgress, "live", False)
    job = ImportJob.objects.create(created_by=analyst, conversations_file="imports/x.csv", stage="conversations")
    actions.JobProgress(job.pk)("conversations", 10, 100)
    job.refresh_from_db()
    assert (job.done, job.total, job.percent) == (0, 0, None)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_progress_inside_the_import_transaction_is_visible_at_once(analyst, is_postgres):
    # given a committed job (PostgreSQL only: SQLite allows a single writer)
    if not is_postgres:
        pytest.skip("PostgreSQL only")
    job = ImportJob.objects.create(created_by=analyst, conversations_file="imports/x.csv")
    progress = actions.JobProgress(job.pk)
    other = connections.create_connection("default")
    try:
        # when progress is reported inside an open transaction (as do_import_history does)
        with transaction.atomic():
            progress("conversations", 5000, 20000)
            # then another connection (the page's) already sees it
            with other.cursor() as cursor:
                cursor.execute("SELECT stage, done, total FROM reports_importjob WHERE id = %s", [job.pk])
                assert cursor.fetchone() == ("conversations", 5000, 20000)
    finally:
        progress.close()
        other.close()


def test_a_job_abandoned_by_a_dead_worker_runs_again_once_then_ends_as_failed(tmp_path, analyst, client_for,
                                                                            django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from reports.actions import do_recover_abandoned_imports

    # given a job a worker took once ("procesando") and then nothing updated for three hours, one a worker took
    # twice and abandoned again, and one updated just now
    client = client_for(analyst)
    for _ in range(3):
        start(client, tmp_path, GOOD)
    once, twice, fresh = ImportJob.objects.order_by("pk")
    three_hours_ago = timezone.now() - timedelta(hours=3)
    ImportJob.objects.filter(pk=once.pk).update(state="procesando", attempts=1, updated_at=three_hours_ago)
    ImportJob.objects.filter(pk=twice.pk).update(state="procesando", attempts=2, updated_at=three_hours_ago)
    ImportJob.objects.filter(pk=fresh.pk).update(state="procesando", attempts=1, updated_at=timezone.now())
    # when the periodic job runs
    with django_capture_on_commit_callbacks() as callbacks:
        assert do_recover_abandoned_imports() == {"requeued": 1, "failed": 1}
    # then the first is queued again (and its task enqueued), the second ends failed with the reason the page shows,
    # and the live one is left alone
    for job in (once, twice, fresh):
        job.refresh_from_db()
    assert (once.state, once.stage) == ("pendiente", "en_cola") and len(callbacks) == 1
    assert twice.state == "fallido" and "se interrumpió 2 veces" in twice.errors[-1]
    assert fresh.state == "procesando"
