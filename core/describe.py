"""Sentences people read instead of codes (STYLE §17): the small helpers every app's `describe` module shares
(quotes, name lists, yes/no, amounts, "the system"). The audit log's sentences, which know every app, are the
`auditlog` app's (the top layer).

Strings are Spanish sources inside gettext. Every function here runs in the current active language and does no
database work.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from core.money import format_amount, format_money

# --- shared helpers ----------------------------------------------------------------------------------


def quote(text: object) -> str:
    """A person's own words (a comment, a reason, a name typed by hand) between Spanish quotes."""
    return f"«{str(text).strip()}»"


def join_names(names: Sequence[str]) -> str:
    """Names joined the way a sentence says them: "Ana", "Ana y Raúl", "Ana, Raúl y Luis"."""
    names = [n for n in names if n]
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    return _("%(rest)s y %(last)s") % {"rest": ", ".join(names[:-1]), "last": names[-1]}


def yes_no(value: bool) -> str:
    return _("Sí") if value else _("No")


def moment(value: object) -> str:
    """A moment stored as ISO 8601 (in events' data), as people read it in the current language and TIME_ZONE."""
    parsed = parse_datetime(str(value)) if value else None
    if parsed is None:
        return "—"
    return date_format(timezone.localtime(parsed), "SHORT_DATETIME_FORMAT")


def system_actor() -> str:
    """Who did it when no person did (a task, an automatic rule, a command)."""
    return _("El sistema")


def money(value: object, currency: str = "") -> str:
    """Amounts as every page shows them (core.money): the currency's decimals, the reader's separators, the code
    after ("325.000 COP"); without a currency, the number alone."""
    return format_money(value, currency) if currency else format_amount(value)
