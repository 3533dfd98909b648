"""Segments per GSM 03.38 (contract "Segments"): GSM-7 160/153, UCS-2 70/67, extension characters count 2,
emoji count 2 UTF-16 units, and the fake Twilio's `num_segments` agrees everywhere."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from connectors.sms.segments import BASIC, EXTENSION, Segments, count
from fakes.sms import num_segments


@pytest.mark.parametrize(("body", "expected"), [
    ("", Segments("GSM-7", 0, 0)),
    ("Hola", Segments("GSM-7", 4, 1)),
    ("a" * 160, Segments("GSM-7", 160, 1)),
    ("a" * 161, Segments("GSM-7", 161, 2)),
    ("a" * 306, Segments("GSM-7", 306, 2)),
    ("a" * 307, Segments("GSM-7", 307, 3)),
    ("á" * 70, Segments("UCS-2", 70, 1)),
    ("á" * 71, Segments("UCS-2", 71, 2)),
    ("á" * 134, Segments("UCS-2", 134, 2)),
    ("á" * 135, Segments("UCS-2", 135, 3)),
])
def test_boundaries(body, expected):
    assert count(body) == expected


def test_spanish_letters_in_gsm_basic_set_keep_gsm7_but_a_acute_does_not():
    # given GSM 03.38's basic set holds é ñ ü ¿ ¡ à but not á í ó ú
    assert count("¿Qué tal, señor Müller? ¡Añoramos à Bogotá!").encoding == "UCS-2"
    assert count("¿Qué tal, señor Müller? ¡Añoramos à Medellin!").encoding == "GSM-7"
    for letter in "áíóúÁÍÓÚ":
        assert count(f"Hola {letter}").encoding == "UCS-2", letter
    for letter in "éÉñÑüÜ¿¡à":
        assert count(f"Hola {letter}").encoding == "GSM-7", letter


def test_extension_characters_cost_two_septets():
    assert count("€").characters == 2 and count("€").encoding == "GSM-7"
    assert count("{}[]~\\|^€").characters == 18
    # 80 euro signs are 160 septets: one SMS; one more character makes two
    assert count("€" * 80) == Segments("GSM-7", 160, 1)
    assert count("€" * 80 + "a").parts == 2


def test_an_escape_pair_is_never_split_between_parts():
    # given 152 plain characters then a €: the pair does not fit in the first 153-septet part
    body = "a" * 152 + "€" + "b" * 10
    assert count(body) == Segments("GSM-7", 164, 2)
    body = "a" * 152 + "€" * 77  # 152 + 154 = 306 septets, but the first € moves to part 2: 3 parts
    assert count(body).parts == 3


def test_emoji_counts_as_two_utf16_units_and_forces_ucs2():
    assert count("😀") == Segments("UCS-2", 2, 1)
    assert count("Hola 😀") == Segments("UCS-2", 7, 1)
    assert count("😀" * 35) == Segments("UCS-2", 70, 1)
    assert count("😀" * 35 + "a").parts == 2
    assert count("a" * 66 + "😀" + "á") == Segments("UCS-2", 69, 1)
    # a surrogate pair is never split: after 66 units the emoji starts the second part, so 134 units need three
    assert count("a" * 66 + "😀" + "a" * 66) == Segments("UCS-2", 134, 3)


def test_tables_are_gsm_03_38():
    # 128 code points in the default alphabet, 0x1B being the escape; the extension table's ten printable ones
    assert len(BASIC) == 127 and "\x1b" not in BASIC
    assert frozenset("\f^{}\\[~]|€") == EXTENSION
    assert not BASIC & EXTENSION


@pytest.mark.parametrize("body", [
    "", "Hola", "a" * 160, "a" * 161, "á" * 70, "á" * 71, "€" * 80, "€" * 81, "😀" * 35, "😀" * 36,
    "a" * 152 + "€" * 77, "Su pedido #1042 llegó {hoy} [entre 2 y 4 pm] ~ gracias | 😀",
])
def test_the_fake_twilio_counts_the_same(body):
    assert num_segments(body) == count(body).parts


PARITY = ["", "Hola", "a" * 160, "a" * 161, "á" * 70, "á" * 71, "€" * 80, "€" * 81, "😀" * 35, "😀" * 36,
          "a" * 152 + "€" * 77, "a" * 66 + "😀" + "a" * 66, "¿Qué tal, señor Müller? ¡Añoramos à Bogotá!",
          "Su pedido #1042 llegó {hoy} [entre 2 y 4 pm] ~ gracias | 😀"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_composer_counter_counts_the_same():
    # given the composer's script (static/sms/segments.js) run with a minimal browser shim
    script = Path(__file__).resolve().parents[1] / "static" / "sms" / "segments.js"
    program = (
        "global.window = {}; global.document = {addEventListener: () => {},"
        " querySelectorAll: () => []};\n"
        f"{script.read_text(encoding='utf-8')}\n"
        f"const bodies = {json.dumps(PARITY)};\n"
        "process.stdout.write(JSON.stringify(bodies.map(b => window.CentralitaSms.count(b))));\n")
    # when it counts the same bodies
    result = subprocess.run(["node", "-e", program], capture_output=True, text=True, timeout=30, check=True)
    # then every count matches segments.py
    assert json.loads(result.stdout) == [
        {"encoding": s.encoding, "characters": s.characters, "parts": s.parts} for s in map(count, PARITY)]
