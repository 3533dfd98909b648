"""Input rules every adapter shares (issue 12): text a database can store, bounded numbers, one way to read an
uploaded CSV. Actions call these, so the pages, the API, the imports and the commands refuse the same input with the
same message, and bad input is a 400 with the field's name, never a 500.

* Text: no NUL character (PostgreSQL cannot store U+0000 in text) and no lone UTF-16 surrogate ("\\ud800" is valid
  JSON but not UTF-8, so no column and no HTML sanitizer takes it). Limits on length are in settings
  (MESSAGE_MAX_LENGTH, NOTE_MAX_LENGTH) and in each model's max_length.
  Forms need nothing more for NUL: Django's forms.CharField refuses it (ProhibitNullCharactersValidator), and a
  form's bytes decode to UTF-8 without surrogates; the API rejects both in any string (core.api.strict_json_loads).
* Numbers: quantities and stock counts up to MAX_QUANTITY.
* CSV files: UTF-8 (with or without BOM); a file that is not UTF-8 but is valid Windows-1252 is read as that (what
  Excel on Windows saves as «CSV (delimitado por comas)» in Latin America); a file with NUL bytes or undecodable
  bytes is refused naming the line (docs/user-guide.md "Imports").
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from django.db import models
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from core.errors import ActionError

# Largest quantity, stock count or adjustment: beyond any warehouse, and inside PostgreSQL's 32-bit integer columns
# (2,147,483,647) even after adding two of them.
MAX_QUANTITY: Final = 1_000_000_000

_SURROGATE: Final = re.compile("[\ud800-\udfff]")
# A complete UTF-8 multi-byte sequence. Windows-1252 text practically never contains one ("Ã±" is mojibake), so a
# file that has them and also has invalid bytes is broken UTF-8, not Windows-1252, and is refused.
_UTF8_SEQUENCE: Final = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
CHUNK: Final = 1 << 20


def max_length_of(model: type[models.Model], field: str) -> int | None:
    """A column's max_length (None for a text column): limits follow the model, never a copy of it."""
    found = model._meta.get_field(field)
    return found.max_length if isinstance(found, models.Field) else None


def has_lone_surrogate(value: str) -> bool:
    return _SURROGATE.search(value) is not None


def text_problem(value: str) -> str | None:
    """Why a database cannot store `value` (translated), or None."""
    if "\x00" in value:
        return _("contiene un carácter nulo (U+0000), que no se puede guardar")
    if _SURROGATE.search(value):
        return _("contiene un carácter inválido (un sustituto Unicode suelto), que no se puede guardar")
    return None


def text_error(value: str, *, label: str, max_length: int | None = None) -> str | None:
    """The message for a bad text field (`label` is its translated name), or None when it is fine."""
    problem = text_problem(value)
    if problem is not None:
        return _("%(label)s %(problem)s.") % {"label": label, "problem": problem}
    if max_length is not None and len(value) > max_length:
        return (_("%(label)s supera el máximo de %(max)s caracteres (tiene %(n)s).")
                % {"label": label, "max": max_length, "n": len(value)})
    return None


def check_text(value: str, *, field: str, label: str, max_length: int | None = None) -> str:
    """`value` unchanged when it can be stored and fits; ActionError (400) naming the field otherwise."""
    problem = text_problem(value)
    if problem is not None:
        raise ActionError("invalid_text", _("%(label)s %(problem)s.") % {"label": label, "problem": problem},
                          field=field)
    if max_length is not None and len(value) > max_length:
        raise ActionError("text_too_long", _("%(label)s supera el máximo de %(max)s caracteres (tiene %(n)s).")
                          % {"label": label, "max": max_length, "n": len(value)}, field=field, max_length=max_length)
    return value


def quantity_error(value: int, *, label: str, minimum: int = 0) -> str | None:
    """The message for a quantity outside [minimum, MAX_QUANTITY] (or its negative range), or None."""
    if value < minimum:
        if minimum == 1:
            return _("%(label)s debe ser mayor que cero.") % {"label": label}
        return _("%(label)s no puede ser menor que %(min)s.") % {"label": label, "min": minimum}
    if value > MAX_QUANTITY:
        return _("%(label)s supera el máximo de %(max)s.") % {
            "label": label, "max": number_format(MAX_QUANTITY, force_grouping=True)}
    return None


def find_bad_string(data: Any, path: str = "", *, allow_nul: bool = False) -> tuple[str, str] | None:
    """(field path, problem) of the first string (or object key) in parsed JSON a database cannot store.

    The path is what a client recognises: `customer.name`, `items[2].sku`; the problem is translated. `allow_nul`
    lets NUL through for callers that strip control characters themselves.
    """
    def problem_of(text: str) -> str | None:
        if allow_nul:
            return text_problem(text.replace("\x00", ""))
        return text_problem(text)

    if isinstance(data, str):
        problem = problem_of(data)
        return (path, problem) if problem is not None else None
    if isinstance(data, Mapping):
        for key, value in data.items():
            key_text = str(key)
            key_problem = problem_of(key_text)
            if key_problem is not None:
                return (path, key_problem)  # a bad key: the object holding it ("" for the body itself)
            found = find_bad_string(value, f"{path}.{key_text}" if path else key_text, allow_nul=allow_nul)
            if found is not None:
                return found
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found = find_bad_string(item, f"{path}[{index}]", allow_nul=allow_nul)
            if found is not None:
                return found
    return None


# --- uploaded text files -------------------------------------------------------------------------------


class TextFileError(ValueError):
    """A file that is not text we can read; `line` is where the first bad byte is (1 = first line)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


def sniff_encoding(chunks: Iterable[bytes]) -> str:
    """The codec to read a CSV with: "utf-8-sig" or "cp1252" (Windows-1252); raises TextFileError.

    Reads every chunk once (a 100 MB file takes well under a second) without keeping them: a NUL byte means a binary
    file (a spreadsheet, an image), an invalid UTF-8 byte in a file that also has valid UTF-8 sequences means broken
    UTF-8, and anything Windows-1252 cannot decode either is refused; the message names the line.
    """
    utf8 = codecs.getincrementaldecoder("utf-8")()
    cp1252 = codecs.getincrementaldecoder("cp1252")()
    line = 1  # the line the current chunk starts on
    utf8_error: tuple[int, int] | None = None  # (line, byte value) of the first invalid UTF-8 byte
    cp1252_ok, has_utf8_sequences = True, False
    for chunk in chunks:
        nul = chunk.find(b"\x00")
        if nul >= 0:
            raise TextFileError(line + chunk.count(b"\n", 0, nul),
                                _("El archivo no es un CSV de texto (línea %d: contiene bytes nulos; ¿es una hoja "
                                  "de cálculo o un archivo binario?). Guárdelo como «CSV UTF-8».")
                                % (line + chunk.count(b"\n", 0, nul)))
        if utf8_error is None:
            try:
                utf8.decode(chunk)
            except UnicodeDecodeError as exc:
                at = max(0, exc.start)
                utf8_error = (line + chunk.count(b"\n", 0, at), chunk[at] if at < len(chunk) else 0)
        has_utf8_sequences = has_utf8_sequences or _UTF8_SEQUENCE.search(chunk) is not None
        if cp1252_ok:
            try:
                cp1252.decode(chunk)
            except UnicodeDecodeError:
                cp1252_ok = False
        line += chunk.count(b"\n")
    if utf8_error is None:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8_error = (line, 0)
    if utf8_error is None:
        return "utf-8-sig"
    if cp1252_ok and not has_utf8_sequences:
        return "cp1252"
    bad_line, byte = utf8_error
    raise TextFileError(bad_line, _("El archivo no es un CSV de texto UTF-8 (línea %(line)d: byte no válido "
                                    "0x%(byte)02X). Guárdelo como «CSV UTF-8».") % {"line": bad_line, "byte": byte})


def decode_text_file(raw: bytes) -> str:
    """An uploaded CSV as text (see sniff_encoding), without a byte-order mark; raises TextFileError."""
    encoding = sniff_encoding(raw[i:i + CHUNK] for i in range(0, len(raw), CHUNK))
    return raw.decode(encoding).removeprefix("\ufeff")


def csv_records(text: str) -> list[tuple[int, list[str]]]:
    """(the file's line where the record starts, its cells) for every non-blank record of a CSV text, with Excel's
    `sep=;` hint honoured (and skipped) and otherwise the separator the header uses most (comma or semicolon).
    Raises TextFileError naming the line of a malformed record. The catalog's and the customers' imports read
    through here."""
    first_line = text.partition("\n")[0].strip()
    skip_first = first_line.lower().startswith("sep=") and len(first_line) == 5
    # Without the hint, the header decides: csv.Sniffer would also weigh the data rows, where a decimal comma
    # ("12,50") or "3001; 3002" in a phone cell outvotes the real separator; the header has no such values.
    counted = ";" if first_line.count(";") > first_line.count(",") else ","
    delimiter = first_line[4] if skip_first else counted
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells) and not (skip_first and start == 1):
                records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise TextFileError(start, _("El archivo CSV está mal formado en la línea %(line)d: %(error)s")
                            % {"line": start, "error": exc}) from exc
    return records
