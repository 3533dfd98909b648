"""core.exports: how each kind of cell is written under each choice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.errors import ActionError
from core.exports import Column, CsvOptions, cell, csv_text

EXCEL = CsvOptions(dialect="excel")
MACHINE = CsvOptions(headers="name", durations="seconds")


@pytest.mark.parametrize(("value", "kind", "options", "written"), [
    (93784, "duration", CsvOptions(), "26:03:04"),          # beyond a day: Excel's [h]:mm:ss
    (59.6, "duration", CsvOptions(), "0:01:00"),
    (93784.4, "duration", MACHINE, "93784"),
    (Decimal("828800"), "money", CsvOptions(), "828800.00"),
    (Decimal("828800"), "money", EXCEL, "828800,00"),
    (0.123456, "rate", EXCEL, "0,1235"),
    (True, "bool", CsvOptions(), "Sí"),
    (True, "bool", MACHINE, "true"),
    ("=1+1", "text", CsvOptions(), "'=1+1"),                 # a formula is defused
    ("", "duration", CsvOptions(), ""),
    (None, "money", CsvOptions(), ""),
    (datetime(2026, 12, 4, 16, 7, 5, tzinfo=UTC), "datetime", CsvOptions(), "2026-12-04 11:07:05"),  # Bogotá
    (uuid.UUID(int=1).hex, "uuid", CsvOptions(), "00000000-0000-0000-0000-000000000001"),
])
def test_each_kind_is_written_as_documented(value, kind, options, written, settings):
    settings.TIME_ZONE = "America/Bogota"
    assert cell(value, Column("x", "X", kind), options) == written


def test_codes_read_as_labels_or_as_codes():
    column = Column("state", "Estado", "code", {"resuelta": "Resuelta"})
    assert cell("resuelta", column, CsvOptions()) == "Resuelta"
    assert cell("resuelta", column, MACHINE) == "resuelta"
    assert csv_text(rows=[{"state": "resuelta"}], columns=[column], options=EXCEL) == "Estado\r\nResuelta\r\n"


def test_an_unknown_choice_is_refused_with_its_name():
    with pytest.raises(ActionError) as caught:
        CsvOptions.from_query({"headers": "both"})
    assert caught.value.code == "invalid_export_option" and caught.value.details["field"] == "headers"
    assert CsvOptions.from_query({"dialect": "excel"}) == EXCEL


def test_a_phone_is_written_as_is_but_a_formula_in_its_column_is_defused():
    phone = Column("phone", "Teléfono", "phone")
    assert cell("+573001234567", phone, CsvOptions()) == "+573001234567"
    assert cell("+1+cmd|' /C calc'!A0", phone, CsvOptions()) == "'+1+cmd|' /C calc'!A0"
