"""Issue 12 for the history import: numbers no column holds, negative sales, Latin-1 and binary files were an
"Error inesperado" without a line (or stored); each is now a line and a field, or a clear file-level error."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.roles import Role
from inbox.models import Conversation
from orders.models import Sale
from reports.models import ImportJob
from reports.tasks import run_history_import
from reports.tests.csvdata import (
    BOGOTA,
    conv,
    run_import,
    run_import_expecting_error,
    sale,
    write_conversations,
    write_sales,
)

pytestmark = pytest.mark.django_db
GOOD = conv("H1", "K1", "2026-11-02T10:00:00", agent="ana", state="resuelta", closed_at="2026-11-02T11:00:00")


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(datetime(2026, 11, 25, 10, 0, tzinfo=BOGOTA), tick=False)


def test_1e30_and_10_pow_30_seconds_are_reported_with_the_line_and_the_field(tmp_path):
    # given rows whose durations are 1e30, 10^30 and NaN seconds, and a date in the year 9999
    rows = [GOOD,
            conv("B1", "K2", "2026-11-03T10:00:00", first_response_seconds="1e30"),
            conv("B2", "K3", "2026-11-03T10:00:00", resolution_seconds="1" + "0" * 30),
            conv("B3", "K4", "2026-11-03T10:00:00", first_response_seconds="NaN"),
            conv("B4", "K5", "9999-12-31T23:59:59")]
    # when the file is imported
    output = run_import_expecting_error(write_conversations(tmp_path, rows))
    # then each bad row is reported with its line and its field, and nothing was imported
    assert "conversations.csv línea 3: first_response_seconds está fuera de rango" in output
    assert "conversations.csv línea 4: resolution_seconds está fuera de rango" in output
    assert "conversations.csv línea 5: first_response_seconds no es un número" in output
    assert "conversations.csv línea 6: started_at está fuera del rango de fechas" in output
    assert "Error inesperado" not in output
    assert not Conversation.objects.filter(import_ref="H1").exists()


def test_a_history_sale_of_minus_7_and_1e30_amounts_are_reported(tmp_path):
    # given good conversations and sales of -7, 1e30, a fractional and a huge quantity, and a negative unit price
    conversations = write_conversations(tmp_path, [GOOD])
    sales = write_sales(tmp_path, [
        sale("S1", "H1", "100"),
        sale("S2", "H1", "-7"),
        sale("S3", "H1", "1e30"),
        {**sale("S4", "H1", "100"), "quantity": "1.5"},
        {**sale("S5", "H1", "100"), "quantity": "1e30"},
        sale("S6", "H1", "100", unit_price="-1"),
    ])
    # when they are imported
    output = run_import_expecting_error(conversations, sales)
    # then every bad sale is a line naming its field; nothing is imported
    assert "sales.csv línea 3: amount es negativo: -7" in output
    assert "sales.csv línea 4: amount está fuera de rango: 1e30" in output
    assert "sales.csv línea 5: quantity debe ser un número entero" in output
    assert "sales.csv línea 6: quantity está fuera de rango" in output
    assert "sales.csv línea 7: unit_price es negativo" in output
    assert not Sale.objects.exists()


def test_a_latin1_history_file_is_read_as_windows_1252(tmp_path):
    # given the conversations file saved by Excel on Windows («CSV (delimitado por comas)»: Windows-1252)
    path = write_conversations(tmp_path, [conv("H1", "K1", "2026-11-02T10:00:00", customer_name="Peña Muñoz")])
    path.write_bytes(path.read_text(encoding="utf-8").encode("cp1252"))
    # when it is imported
    run_import(path)
    # then the accents are right
    assert Conversation.objects.get(import_ref="H1").customer.name == "Peña Muñoz"


def test_binary_and_broken_history_files_get_a_file_level_error_with_the_line(tmp_path):
    # given a spreadsheet uploaded instead of a CSV, and a UTF-8 file with a stray Latin-1 byte on line 3
    binary = tmp_path / "conversaciones.xlsx"
    binary.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)))
    broken = write_conversations(tmp_path, [conv("H1", "K1", "2026-11-02T10:00:00", customer_name="Peña")],
                                 name="roto.csv")
    broken.write_bytes(broken.read_bytes() + b"H2,K2,Pe\xf1a,2026-11-02T10:00:00\n")
    # when they are imported
    binary_output = run_import_expecting_error(binary)
    broken_output = run_import_expecting_error(broken)
    # then each says what is wrong and where
    assert "conversaciones.xlsx línea 1: El archivo no es un CSV de texto" in binary_output
    assert "roto.csv línea 3: El archivo no es un CSV de texto UTF-8 (línea 3: byte no válido 0xF1)" in broken_output
    assert "Error inesperado" not in binary_output + broken_output


def _job_for(client, path: Path) -> ImportJob:
    client.post("/reportes/importar/", {"conversations": SimpleUploadedFile(path.name, path.read_bytes())})
    job = ImportJob.objects.get()
    run_history_import.call(job.pk)
    job.refresh_from_db()
    return job


@pytest.mark.parametrize("case", ["1e30", "latin1", "binary", "seconds"])
def test_the_background_import_never_ends_in_error_inesperado(case, tmp_path, make_user, client_for):
    # given an analyst uploading each of the files that used to end in "Error inesperado"
    client = client_for(make_user(Role.ANALISTA, username="analista"))
    rows = {"1e30": [GOOD, conv("B1", "K2", "2026-11-03T10:00:00", resolution_seconds="1e30")],
            "seconds": [GOOD, conv("B1", "K2", "2026-11-03T10:00:00", first_response_seconds="1" + "0" * 30)],
            "latin1": [conv("H9", "K9", "2026-11-02T10:00:00", customer_name="Ñusta Peña")],
            "binary": [GOOD]}[case]
    path = write_conversations(tmp_path, rows, name="conversaciones.csv")
    if case == "latin1":
        path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    if case == "binary":
        path.write_bytes(b"\x00\x01" + path.read_bytes())
    # when the job runs
    job = _job_for(client, path)
    # then it ends with the line and the field, or (Latin-1) imports the file
    assert not any("Error inesperado" in e for e in job.errors)
    if case == "latin1":
        assert job.state == "terminado" and Conversation.objects.get(import_ref="H9").customer.name == "Ñusta Peña"
    else:
        assert job.state == "fallido"
        expected = {"1e30": "línea 3: resolution_seconds", "seconds": "línea 3: first_response_seconds",
                    "binary": "línea 1: El archivo no es un CSV de texto"}[case]
        assert any(expected in e for e in job.errors), job.errors

