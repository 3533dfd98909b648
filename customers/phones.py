"""Phone numbers are stored in E.164 so the same person arriving by Kommo, WhatsApp and email is one customer."""

from __future__ import annotations

import re

import phonenumbers
from django.conf import settings

_DIGITS = re.compile(r"\D+")


def normalize_phone(raw: str, region: str | None = None) -> str | None:
    """`+57 300 123 4567`, `3001234567`, `300-123-4567`, `573001234567` → `+573001234567` (region CO).

    Returns None when the text is not a plausible phone number. WhatsApp ids (`573001234567`, no `+`) are
    accepted: a number that does not parse in the default region is retried as international.
    """
    text = (raw or "").strip()
    if not text:
        return None
    region = region or settings.PHONE_REGION
    candidates = [text] if text.startswith("+") else [text, "+" + _DIGITS.sub("", text)]
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number) and phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def looks_like_phone(text: str) -> bool:
    digits = _DIGITS.sub("", text)
    return len(digits) >= 7 and len(digits) >= len(text.replace(" ", "")) * 0.6


def normalize_email(raw: str) -> str | None:
    email = (raw or "").strip().lower()
    if "@" not in email or " " in email or len(email) > 254:
        return None
    return email
