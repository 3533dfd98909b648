"""Issue 12: phones as they really arrive from WhatsApp and Kommo converge on one E.164 number."""

from __future__ import annotations

import pytest

from customers.phones import normalize_phone


@pytest.mark.parametrize("raw", ["5215512345678", "+5215512345678", "+52 1 55 1234 5678", "+52 55 1234 5678",
                                 "525512345678"])
def test_mexican_521_wa_id_normalizes_to_plus_52(raw):
    assert normalize_phone(raw) == "+525512345678"


@pytest.mark.parametrize("raw", ["5491123456789", "+54 9 11 2345 6789", "+54 11 15 2345 6789"])
def test_argentine_549_and_15_forms_converge(raw):
    assert normalize_phone(raw) == "+5491123456789"


def test_argentine_local_15_form_in_region_ar():
    assert normalize_phone("011 15 2345-6789", region="AR") == "+5491123456789"


def test_argentine_number_without_9_or_15_stays_a_landline():
    # phonenumbers reads +54 11 2345 6789 as a Buenos Aires landline; we cannot tell it is a mobile
    assert normalize_phone("+54 11 2345 6789") == "+541123456789"


@pytest.mark.parametrize(("raw", "expected"), [("573001234567", "+573001234567"), ("300 123 4567", "+573001234567"),
                                               ("+1 415 555 2671", "+14155552671"), ("12", None), ("", None)])
def test_other_numbers_are_unchanged(raw, expected, settings):
    settings.PHONE_REGION = "CO"
    assert normalize_phone(raw) == expected


def test_a_mexican_number_with_1_but_too_short_is_not_mangled():
    # 52 + 1 + 9 digits is not the legacy mobile form: left to phonenumbers (which rejects it)
    assert normalize_phone("521551234567") is None
