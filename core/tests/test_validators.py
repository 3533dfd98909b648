"""core.validators: the shared rules for text, numbers and uploaded CSV files."""

from __future__ import annotations

import pytest

from core.errors import ActionError
from core.validators import (
    MAX_QUANTITY,
    TextFileError,
    check_text,
    decode_text_file,
    find_bad_string,
    quantity_error,
    sniff_encoding,
)


def test_check_text_refuses_nul_and_lone_surrogates_and_long_text_naming_the_field():
    assert check_text("Hola ñandú 👋", field="body", label="La nota", max_length=20) == "Hola ñandú 👋"
    for value, code in [("a\x00b", "invalid_text"), ("a\ud800b", "invalid_text"), ("x" * 21, "text_too_long")]:
        with pytest.raises(ActionError) as refused:
            check_text(value, field="body", label="La nota", max_length=20)
        assert refused.value.code == code and refused.value.details["field"] == "body"
        assert refused.value.message.startswith("La nota ")


def test_find_bad_string_names_the_path_a_client_recognises():
    def path(data: object) -> str | None:
        found = find_bad_string(data)
        return None if found is None else found[0]

    assert path({"a": [1, {"b": "ok"}], "c": "fine"}) is None
    assert path({"customer": {"name": "x\x00"}}) == "customer.name"
    assert path({"items": ["ok", {"sku": "\udfff"}]}) == "items[1].sku"
    assert path({"outer": {"k\x00": 1}}) == "outer"
    assert find_bad_string({"text": "a\x00"}, allow_nul=True) is None


def test_quantity_error_bounds():
    assert quantity_error(MAX_QUANTITY, label="El stock") is None
    assert "supera el máximo" in (quantity_error(MAX_QUANTITY + 1, label="El stock") or "")
    assert "mayor que cero" in (quantity_error(0, label="La cantidad", minimum=1) or "")


@pytest.mark.parametrize(("raw", "encoding"), [
    ("sku,nombre\nA,Piña\n".encode(), "utf-8-sig"),
    ("\ufeffsku,nombre\nA,Piña\n".encode(), "utf-8-sig"),
    ("sku,nombre\nA,Piña «ñ» €\n".encode("cp1252"), "cp1252"),
    (b"plain ascii\n", "utf-8-sig"),
])
def test_utf8_and_windows_1252_files_are_recognised(raw, encoding):
    assert sniff_encoding([raw[:7], raw[7:]]) == encoding  # split mid-file: chunk boundaries do not matter
    assert "Piña" in decode_text_file(raw) or raw == b"plain ascii\n"


@pytest.mark.parametrize(("raw", "line", "words"), [
    (b"a,b\n1,2\n\x00\x01\x02", 3, "bytes nulos"),                         # binary
    ("a,b\nñ,1\n".encode() + b"\xf1,2\n", 3, "0xF1"),                       # UTF-8 with a stray Latin-1 byte
    (b"a,b\n\x81\x8d,1\n", 2, "0x81"),                                     # neither UTF-8 nor Windows-1252
    ("a,b\nñ,ñ".encode()[:-1], 2, "UTF-8"),                                # cut in the middle of a character
])
def test_binary_and_undecodable_files_are_refused_with_the_line(raw, line, words):
    with pytest.raises(TextFileError) as refused:
        decode_text_file(raw)
    assert refused.value.line == line and words in refused.value.message
