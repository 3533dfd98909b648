from __future__ import annotations

import sys
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Product
from core.models import AuditLog

pytestmark = pytest.mark.django_db


def run_command(*args: str) -> int:
    """The exit code manage.py would give: run_from_argv exits with a CommandError's returncode. (Not
    run_from_argv itself: it closes the database connections, the test database's included.)"""
    try:
        call_command("import_products", *args)
    except CommandError as exc:
        print(exc, file=sys.stderr)
        return exc.returncode
    return 0


def test_command_imports_a_good_file_and_prints_the_counts(tmp_path, capsys):
    # given a good semicolon file with a BOM
    path = tmp_path / "productos.csv"
    path.write_bytes("\ufeffsku;nombre;precio;stock\nA-1;Arequipe;4500,50;6\n".encode())
    # when the command runs
    code = run_command(str(path))
    # then it exits 0, prints the counts and the import is audited as coming from a command
    out = capsys.readouterr().out
    assert code == 0 and "Creados: 1" in out
    assert Product.objects.get(sku="A-1").price == Decimal("4500.50")
    assert AuditLog.objects.get(action="product.created").via == "command"


def test_command_exits_1_and_lists_every_bad_line(tmp_path, capsys):
    # given a file with two bad rows among good ones
    path = tmp_path / "malo.csv"
    path.write_text("sku,nombre,precio\nA-1,Arequipe,100\n,Sin SKU,100\nC-3,Cocada,abc\n", encoding="utf-8")
    # when the command runs
    code = run_command(str(path))
    # then it exits 1, lists both lines, and wrote nothing
    captured = capsys.readouterr()
    assert code == 1
    assert "Línea 3: Falta el SKU." in captured.out and "Línea 4: Precio inválido «abc»" in captured.out
    assert "2 error(es)" in captured.out and "Importación cancelada" in captured.err
    assert not Product.objects.exists()


def test_command_dry_run_writes_nothing(tmp_path, capsys):
    # given a good file
    path = tmp_path / "productos.csv"
    path.write_text("sku,nombre,precio\nA-1,Arequipe,100\n", encoding="utf-8")
    # when the command runs with --dry-run
    code = run_command(str(path), "--dry-run")
    # then it reports what it would do and creates nothing
    assert code == 0 and "Simulación" in capsys.readouterr().out
    assert not Product.objects.exists()


def test_command_reports_a_missing_file(tmp_path, capsys):
    # given a path that does not exist
    # when the command runs
    code = run_command(str(tmp_path / "no-existe.csv"))
    # then it exits 1 with the reason
    assert code == 1 and "No se pudo leer" in capsys.readouterr().err
