"""One way to show money everywhere (issue 15): the currency's own decimals (COP and CLP have none in practice,
PEN and MXN two), the reader's separators (Spanish 828.800,50 · English 828,800.50) and the currency as its code or
its symbol, chosen once for the organization (settings.MONEY_DISPLAY). Templates use the `money` filter
(core_format), Python code `format_money`, the browser `CentralitaFormat.money` with the same rules (`money_spec`).

Amounts are stored as decimals with two places whatever the currency; only what people read is rounded.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.utils.translation import get_language

# Decimals people use, which for COP and CLP differ from ISO 4217's minor unit (no one prices in centavos).
DECIMALS: dict[str, int] = {"COP": 0, "CLP": 0, "PYG": 0, "ARS": 2, "BOB": 2, "BRL": 2, "CRC": 2, "DOP": 2,
                            "EUR": 2, "GTQ": 2, "HNL": 2, "MXN": 2, "NIO": 2, "PAB": 2, "PEN": 2, "USD": 2,
                            "UYU": 2}
SYMBOLS: dict[str, str] = {"COP": "$", "CLP": "$", "MXN": "$", "ARS": "$", "USD": "US$", "PEN": "S/", "EUR": "€",
                           "BRL": "R$", "UYU": "$U", "BOB": "Bs", "GTQ": "Q", "PYG": "₲", "CRC": "₡", "DOP": "RD$",
                           "HNL": "L", "NIO": "C$", "PAB": "B/."}


def decimals(currency: str | None = None) -> int:
    return DECIMALS.get((currency or settings.CURRENCY).upper(), 2)


def separators(language: str | None = None) -> tuple[str, str]:
    """(thousands, decimal) for the reader's language."""
    return (",", ".") if (language or get_language() or "es").startswith("en") else (".", ",")


def format_amount(value: Any, currency: str | None = None, *, language: str | None = None) -> str:
    """The number alone, rounded to the currency's decimals, with the reader's separators ("828.800")."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    places = decimals(currency)
    amount = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    thousands, point = separators(language)
    sign = "-" if amount < 0 else ""
    whole, _dot, cents = f"{abs(amount):,.{places}f}".partition(".")
    text = whole.replace(",", thousands) + (point + cents if places else "")
    return sign + text


def format_money(value: Any, currency: str | None = None, *, language: str | None = None,
                 display: str | None = None) -> str:
    """The amount as people read it: "828.800 COP" (code) or "$ 828.800" (symbol); "—" for none."""
    if value is None or value == "":
        return "—"
    code = (currency or settings.CURRENCY).upper()
    number = format_amount(value, code, language=language)
    if (display or settings.MONEY_DISPLAY) == "symbol" and code in SYMBOLS:
        return f"{SYMBOLS[code]}\u00a0{number}"
    return f"{number}\u00a0{code}"


def money_spec(currency: str | None = None, *, language: str | None = None) -> dict[str, Any]:
    """What the browser needs to format amounts exactly like `format_money`."""
    code = (currency or settings.CURRENCY).upper()
    thousands, point = separators(language)
    return {"currency": code, "decimals": decimals(code), "thousands": thousands, "decimal": point,
            "display": settings.MONEY_DISPLAY if code in SYMBOLS else "code", "symbol": SYMBOLS.get(code, code)}


AMOUNT_CHARS = re.compile(r"^[0-9.,]+$")
MAX_AMOUNT = Decimal("1e14")  # what a DecimalField(max_digits=16, decimal_places=2) holds


def parse_amount(text: str, *, language: str | None = None, maximum: Decimal = MAX_AMOUNT) -> Decimal | None:
    """An amount typed by a person, as they write it: "2.000.000" and "2000000,50" in Spanish, "2,000,000" and
    "2000000.50" in English, with or without a currency sign or code ("$ 150.000", "150.000 COP"). A lone separator
    followed by exactly three digits ("150.000") is a thousands separator when it is the reader's. None when it is
    not an amount (letters, an exponent, a NaN), is negative, has more than two decimals, or does not fit."""
    cleaned = re.sub(r"[\s$]|[A-Za-z]{3}$", "", text.strip().replace("\u00a0", ""))
    if not cleaned or not AMOUNT_CHARS.match(cleaned) or not cleaned[0].isdigit():
        return None
    thousands, decimal = separators(language)
    dots, commas = cleaned.count("."), cleaned.count(",")
    if dots and commas:  # the last one separates the decimals
        decimal = "." if cleaned.rfind(".") > cleaned.rfind(",") else ","
    elif dots + commas:
        mark = "." if dots else ","
        grouped = dots + commas > 1 or (len(cleaned.rsplit(mark, 1)[1]) == 3 and mark == thousands)
        decimal = ("," if mark == "." else ".") if grouped else mark  # grouped: every mark separates thousands
    grouping = "," if decimal == "." else "."
    try:
        amount = Decimal(cleaned.replace(grouping, "").replace(decimal, "."))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount >= maximum or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        return None
    return amount
