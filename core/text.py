"""Text helpers: folding for search ("Ñandú Peña" and "nandu pena" match, on SQLite as on PostgreSQL) and short
human durations."""

from __future__ import annotations

import unicodedata

from django.utils.translation import gettext as _


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
