"""Phone numbers are stored in E.164 so the same person arriving by Kommo, WhatsApp and email is one customer."""

from __future__ import annotations

import re

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

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
            number = _drop_mexican_mobile_prefix(phonenumbers.parse(candidate, region))
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number) and phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def _drop_mexican_mobile_prefix(number: phonenumbers.PhoneNumber) -> phonenumbers.PhoneNumber:
    """`+52 1 55 1234 5678` → `+52 55 1234 5678`.

    Mexico dropped the "1" mobile prefix in 2019 and phonenumbers rejects it, but WhatsApp still sends wa_ids
    `521` + 10 digits; without this, those customers were saved without a phone and duplicated the Kommo contact
    (+52 + 10 digits). Mexican national numbers never start with 1, so the prefix is unambiguous.

    Argentina needs nothing here: phonenumbers already turns `+54 11 15 2345 6789` and `011 15 2345-6789` into the
    mobile form `+54 9 11 2345 6789`, which is what WhatsApp sends (`549…`). A number written without the 9 or the
    15 (`+54 11 2345 6789`) is a landline to phonenumbers and stays a different number."""
    national = str(number.national_number)
    if number.country_code == 52 and len(national) == 11 and national.startswith("1"):
        return phonenumbers.PhoneNumber(country_code=52, national_number=int(national[1:]))
    return number


def looks_like_phone(text: str) -> bool:
    digits = _DIGITS.sub("", text)
    return len(digits) >= 7 and len(digits) >= len(text.replace(" ", "")) * 0.6


def normalize_email(raw: str) -> str | None:
    """Lenient, for addresses a channel already delivered from (mail intake, Kommo contacts): lower case, or None
    when there is no @. What a person or an API client types goes through `validate_customer_email` instead."""
    email = (raw or "").strip().lower()
    if "@" not in email or " " in email or len(email) > 254:
        return None
    return email


def validate_customer_email(raw: str) -> str | None:
    """The address in lower case, or None when it is not one ("not-an-email", "ana@", "ana@correo"): Django's
    EmailValidator, the rule of every form that takes an email, so pages, API and imports agree."""
    email = normalize_email(raw)
    if email is None:
        return None
    try:
        validate_email(email)
    except ValidationError:
        return None
    return email
