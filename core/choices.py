"""A field's choice label, read cheaply.

Django's `get_FOO_display()` rebuilds the field's choices as a hashable tuple on each call, and hashing a lazy label
translates it: a label costs every label of the field (a conversation's close reason translated ten strings to show
one). On a page of fifty rows that is hundreds of translations. `display()` keeps each field's choices as a dict
once per process — the labels stay lazy, so each call translates only the label it returns, in the active language.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db.models import Field, Model


@cache
def _labels(field: Field[Any, Any]) -> dict[Any, Any]:
    return dict(field.flatchoices)


def display(obj: Model, field_name: str) -> str:
    """What `obj.get_<field_name>_display()` returns: the value's label, or the value itself when it has none."""
    field = obj._meta.get_field(field_name)
    value = getattr(obj, field.attname)  # type: ignore[union-attr]
    label = _labels(field).get(value, value)
    return "" if label is None else str(label)
