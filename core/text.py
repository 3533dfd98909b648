"""Text folding for search: "Ñandú Peña" and "nandu pena" match, on SQLite as on PostgreSQL."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Lower-case, accents removed, spaces collapsed (SQLite's LIKE only folds ASCII case)."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())
