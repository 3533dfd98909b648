"""How many SMS segments a text costs (contract "Segments"), per GSM 03.38 (3GPP TS 23.038 §6.2.1).

A text written only with the GSM 7-bit default alphabet travels as GSM-7: 160 septets in one SMS, 153 per part
once it needs several (the 7 others carry the concatenation header). A character of the extension table (`€ [ ] { }
\\ | ^ ~` and form feed) is an escape plus the character, so it costs two septets. One character outside both tables
(an emoji, or Spanish `á í ó ú`: GSM 03.38 has `é ñ ü ¿ ¡ à` but not those) makes the whole text UCS-2: 70 UTF-16
code units in one SMS, 67 per part; an emoji outside the Basic Multilingual Plane is two units (a surrogate pair).

Parts are packed the way handsets and carriers split them: an escape pair (GSM-7) or a surrogate pair (UCS-2) is
never cut between two parts, so a long text full of `€` may need one part more than `ceil(characters / 153)`.

Pure Python with no Django import: the composer's counter (static/sms/segments.js) mirrors these rules, and the
fake server (fakes/sms.py) computes Twilio's `num_segments` independently; tests keep the three in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

# GSM 03.38 default alphabet, in code order 0x00-0x7F (0x1B is the escape to the extension table, not a character).
BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table's characters (each sent as ESC + code: two septets).
EXTENSION: Final = frozenset("\f^{}\\[~]|€")

SINGLE_GSM7: Final = 160
PART_GSM7: Final = 153
SINGLE_UCS2: Final = 70
PART_UCS2: Final = 67

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True)
class Segments:
    encoding: Encoding
    characters: int  # septets (GSM-7, extension characters count 2) or UTF-16 code units (UCS-2)
    parts: int  # SMS billed: 0 for an empty text


def is_gsm7(body: str) -> bool:
    return all(ch in BASIC or ch in EXTENSION for ch in body)


def _pack(sizes: list[int], single: int, part: int) -> int:
    """Parts needed for units of these sizes (1 or 2), never splitting a unit across two parts."""
    total = sum(sizes)
    if total == 0:
        return 0
    if total <= single:
        return 1
    parts, used = 1, 0
    for size in sizes:
        if used + size > part:
            parts, used = parts + 1, 0
        used += size
    return parts


def count(body: str) -> Segments:
    """`count("Hola")` → Segments("GSM-7", 4, 1); `count("¿Cuánto?")` → Segments("UCS-2", 8, 1)."""
    if is_gsm7(body):
        sizes = [2 if ch in EXTENSION else 1 for ch in body]
        return Segments("GSM-7", sum(sizes), _pack(sizes, SINGLE_GSM7, PART_GSM7))
    sizes = [2 if ord(ch) > 0xFFFF else 1 for ch in body]
    return Segments("UCS-2", sum(sizes), _pack(sizes, SINGLE_UCS2, PART_UCS2))
