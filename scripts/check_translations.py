#!/usr/bin/env python3
"""Fail if the English catalog has untranslated or fuzzy entries.

Usage: python scripts/check_translations.py [path/to/django.po]

Standard library only. Parses locale/en/LC_MESSAGES/django.po (or the given
file) and exits 1 listing every entry whose msgstr is empty (for plural
entries: any empty msgstr[N]) or that carries the ``fuzzy`` flag. The header
entry (empty msgid) and obsolete ``#~`` entries are ignored. Exits 0 otherwise.
"""
from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PO = Path(__file__).resolve().parent.parent / "locale" / "en" / "LC_MESSAGES" / "django.po"

_KEYWORD = re.compile(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(\".*\")\s*$")
_CONTINUATION = re.compile(r"^(\".*\")\s*$")


@dataclass
class Entry:
    line: int
    flags: set[str] = field(default_factory=set)
    fields: dict[str, str] = field(default_factory=dict)
    references: list[str] = field(default_factory=list)

    @property
    def msgid(self) -> str:
        return self.fields.get("msgid", "")

    def msgstrs(self) -> dict[str, str]:
        return {k: v for k, v in self.fields.items() if k.startswith("msgstr")}


def _unquote(literal: str, path: Path, lineno: int) -> str:
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError) as exc:
        raise SystemExit(f"{path}:{lineno}: cannot parse string {literal!r}: {exc}") from None
    if not isinstance(value, str):
        raise SystemExit(f"{path}:{lineno}: expected a string, got {literal!r}")
    return value


def parse_po(path: Path) -> list[Entry]:
    entries: list[Entry] = []
    current: Entry | None = None
    last_key: str | None = None

    def finish() -> None:
        nonlocal current, last_key
        if current is not None and "msgid" in current.fields:
            entries.append(current)
        current, last_key = None, None

    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#~"):  # obsolete entry
            finish()
            continue
        if line.startswith("#"):
            # A comment after msgid/msgstr starts a new entry.
            if current is not None and current.fields:
                finish()
            if current is None:
                current = Entry(line=lineno)
            if line.startswith("#,"):
                current.flags.update(f.strip() for f in line[2:].split(",") if f.strip())
            elif line.startswith("#:"):
                current.references.extend(line[2:].split())
            continue
        m = _KEYWORD.match(line)
        if m:
            key, literal = m.groups()
            if current is None:
                current = Entry(line=lineno)
            elif key in ("msgctxt", "msgid") and "msgid" in current.fields:
                # New entry without a separating blank line.
                finish()
                current = Entry(line=lineno)
            current.fields[key] = _unquote(literal, path, lineno)
            last_key = key
            continue
        m = _CONTINUATION.match(line)
        if m and current is not None and last_key is not None:
            current.fields[last_key] += _unquote(m.group(1), path, lineno)
            continue
        raise SystemExit(f"{path}:{lineno}: unexpected line: {raw!r}")
    finish()
    return entries


def problems(entries: list[Entry]) -> list[tuple[Entry, str]]:
    found: list[tuple[Entry, str]] = []
    for entry in entries:
        if entry.msgid == "" and "msgctxt" not in entry.fields:
            continue  # header
        reasons = []
        if "fuzzy" in entry.flags:
            reasons.append("fuzzy")
        msgstrs = entry.msgstrs()
        if not msgstrs or any(v == "" for v in msgstrs.values()):
            reasons.append("untranslated")
        if reasons:
            found.append((entry, " + ".join(reasons)))
    return found


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_PO
    if not path.is_file():
        print(f"{path}: not found", file=sys.stderr)
        return 2
    entries = parse_po(path)
    bad = problems(entries)
    total = sum(1 for e in entries if e.msgid != "" or "msgctxt" in e.fields)
    if bad:
        print(f"{path}: {len(bad)} of {total} entries need attention:")
        for entry, reason in bad:
            where = f"{entry.references[0]}; " if entry.references else ""
            print(f"  [{reason}] {entry.msgid!r} ({where}{path.name}:{entry.line})")
        return 1
    print(f"{path}: all {total} entries translated.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
