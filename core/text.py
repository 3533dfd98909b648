"""Text helpers: folding for search ("Ñandú Peña" and "nandu pena" match, on SQLite as on PostgreSQL), short
human durations and percentages as people read them."""

from __future__ import annotations

import unicodedata
from decimal import Decimal

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import pgettext


def fold(text: str) -> str:
    """Lower-case, accents removed, spaces collapsed (SQLite's LIKE only folds ASCII case)."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def human_duration(seconds: float | None) -> str:
    """Seconds as a short human duration ("45 s", "3 min 20 s", "2 h 05 min", "3 d 4 h"); "—" for none."""
    if seconds is None:
        return "—"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return _("%(d)d d %(h)d h") % {"d": days, "h": hours}
    if hours:
        return _("%(h)d h %(m)02d min") % {"h": hours, "m": minutes}
    if minutes:
        return _("%(m)d min %(s)02d s") % {"m": minutes, "s": secs}
    return _("%(s)d s") % {"s": secs}


def percent(part: float | Decimal | None, whole: float | Decimal | None = 1, *, places: int = 0) -> str:
    """A share as people read it ("45 %" in Spanish, "45%" in English); "—" when there is nothing to divide by."""
    if part is None or not whole:
        return "—"
    value = Decimal(str(part)) / Decimal(str(whole)) * 100
    if places == 0 and 0 < value < 1:
        places = 1  # "0,4 %" rather than a misleading "0 %"
    shown = number_format(round(value, places), decimal_pos=places, use_l10n=True, force_grouping=True)
    # The space before "%" never breaks a line (Spanish writes "45 %", English "45%": the translation decides).
    return (pgettext("percentage", "%(n)s %%") % {"n": shown}).replace(" %", "\u00a0%")
