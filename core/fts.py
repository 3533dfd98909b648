# ruff: noqa: S608 - the SQL below interpolates only the callers' constants (table, column and index names).
"""Full-text search plumbing shared by the inbox's search and the knowledge base's: PostgreSQL indexes created when
missing, and SQLite FTS5 external-content indexes kept by triggers (the embedded database's full-text search).

Each index mirrors columns of one content table (the documented external-content pattern: every insert, delete
and change of those columns mirrored by a trigger). Django rebuilds a SQLite table — dropping its triggers — when a
later migration alters it, so the callers run `ensure_fts5` from the migration that adds the index and after every
`migrate` (post_migrate); an index whose triggers were missing is rebuilt from its content table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Fts5Index:
    name: str  # the virtual table
    table: str  # the content table (its `id` is the rowid)
    columns: tuple[str, ...]
    tokenizer: str  # e.g. "unicode61 remove_diacritics 2", "trigram"

    def triggers(self) -> dict[str, str]:
        fts, table = self.name, self.table
        cols = ", ".join(self.columns)
        new = ", ".join(f"new.{c}" for c in self.columns)
        old = ", ".join(f"old.{c}" for c in self.columns)
        return {
            f"{fts}_ai": f"CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {table} BEGIN "
                         f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new}); END",
            f"{fts}_ad": f"CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {table} BEGIN "
                         f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old}); END",
            f"{fts}_au": f"CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE OF {cols} ON {table} BEGIN "
                         f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old}); "
                         f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new}); END",
        }


def ensure_fts5(cursor: Any, indexes: Iterable[Fts5Index]) -> list[str]:
    """Creates what is missing of `indexes` (tables, triggers), rebuilding an index that lacked anything; returns
    the names created."""
    cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
    existing = {row[0] for row in cursor.fetchall()}
    created: list[str] = []
    for index in indexes:
        rebuild = False
        if index.name not in existing:
            cursor.execute(f"CREATE VIRTUAL TABLE {index.name} USING fts5({', '.join(index.columns)}, "
                           f"content='{index.table}', content_rowid='id', tokenize='{index.tokenizer}')")
            created.append(index.name)
            rebuild = True
        for trigger, sql in index.triggers().items():
            if trigger not in existing:
                cursor.execute(sql)
                created.append(trigger)
                rebuild = True  # rows written while the trigger was missing are not indexed
        if rebuild:
            cursor.execute(f"INSERT INTO {index.name}({index.name}) VALUES ('rebuild')")
    return created


def drop_fts5(cursor: Any, indexes: Iterable[Fts5Index]) -> None:
    for index in indexes:
        for trigger in index.triggers():
            cursor.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        cursor.execute(f"DROP TABLE IF EXISTS {index.name}")


def ensure_pg_column(cursor: Any, table: str, column: str, add_sql: str) -> list[str]:
    """Adds a search column (`add_sql`, e.g. a stored generated tsvector) when `table` lacks it; returns its name
    if it was created."""
    cursor.execute("SELECT 1 FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
                   [table, column])
    if cursor.fetchone() is not None:
        return []
    cursor.execute(add_sql)
    return [column]


def ensure_pg_indexes(cursor: Any, indexes: Mapping[str, tuple[str, str]], *, in_transaction: bool) -> list[str]:
    """Creates the PostgreSQL indexes of `indexes` ({name: (table, "method (expression)")}) that do not exist;
    CONCURRENTLY outside a transaction (a non-atomic migration), so a live table keeps taking writes. Returns the
    names created."""
    created: list[str] = []
    for name, (table, how) in indexes.items():
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [name])
        if cursor.fetchone() is None:
            concurrently = "" if in_transaction else "CONCURRENTLY "
            cursor.execute(f"CREATE INDEX {concurrently}IF NOT EXISTS {name} ON {table} USING {how}")
            created.append(name)
    return created
