# ruff: noqa: S608, S611 - the SQL below interpolates only this module's constants (table, index and column names); what
# the user typed always travels as a query parameter.
"""Full-text search of the inbox: message content, customer name, phone, email and tags, with the database's own
indexes (no search server).

PostgreSQL
  * messages: a GIN index on `to_tsvector('simple', inbox_search_fold(body))` (an expression index: no column is
    added to the model). `inbox_search_fold` is an IMMUTABLE SQL function (lower() + translate() of the accented
    Latin letters), so "instalacion" finds "Instalación". Words match whole, the last one also as a prefix (search
    as you type).
  * customer name (`search_name`, already folded by `core.text.fold`), email and phone: pg_trgm GIN indexes, so a
    fragment of three or more characters matches anywhere ("peñ" finds "Muñoz Peña", "4567" a phone).
SQLite (embedded default)
  * FTS5 external-content tables kept up to date by triggers: `inbox_message_fts` (unicode61 tokenizer with
    diacritics removed: the same whole-word / last-word-prefix matching as PostgreSQL) and trigram tables over
    customer names, emails and phones (`tokenize='trigram'`: the same substring matching as pg_trgm).
  * Django rebuilds a SQLite table (and drops its triggers) when a later migration alters it, so the triggers are
    (re)created after every `migrate` (post_migrate, `ensure_search_schema`, through core.fts) and an index whose
    triggers were missing is rebuilt from its content table.
Both: a tag named exactly like the query (case-insensitive), on the conversation or on its customer.

`matching_conversations(q)` returns one SQL sub-select of conversation ids (a UNION ALL of the branches above)
that `inbox.selectors.filtered` plugs into the list's query: one statement, whatever the number of matches.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import connection as default_connection
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

from core.fts import Fts5Index, drop_fts5, ensure_fts5, ensure_pg_indexes
from core.text import fold
from customers.phones import normalize_email

# --- PostgreSQL -------------------------------------------------------------------------------------------

# Accented Latin letters to their base letter, and the punctuation PostgreSQL's parser would glue to a word
# ("PED-48213" → "-48213", "factura.pdf", emails, hosts) to spaces: words split the way `terms()` splits the query.
_ACCENTED = "áàâäãåéèêëíìîïóòôöõúùûüñçýÿÁÀÂÄÃÅÉÈÊËÍÌÎÏÓÒÔÖÕÚÙÛÜÑÇÝ-./@_:+#"
_PLAIN = "aaaaaaeeeeiiiiooooouuuuncyyaaaaaaeeeeiiiiooooouuuuncy        "
assert len(_ACCENTED) == len(_PLAIN)

PG_FOLD_FUNCTION = (
    "CREATE OR REPLACE FUNCTION inbox_search_fold(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
    f"AS $$ SELECT lower(translate($1, '{_ACCENTED}', '{_PLAIN}')) $$"
)
PG_MESSAGE_TSV = "to_tsvector('simple'::regconfig, inbox_search_fold(body))"
PG_INDEXES = {
    # name: (table, method and expression)
    "inbox_message_fts_idx": ("inbox_message", f"gin ({PG_MESSAGE_TSV})"),
    # The call queue's customer search built the same index (leads 0002): one index serves both searches.
    "customer_name_trgm_idx": ("customers_customer", "gin (search_name gin_trgm_ops)"),
    "inbox_customer_email_trgm_idx": ("customers_customeremail", "gin (email gin_trgm_ops)"),
    "inbox_customer_phone_trgm_idx": ("customers_customerphone", "gin (e164 gin_trgm_ops)"),
}

# Built by another app's migration too (leads 0002): dropping the search schema leaves it to its owner.
SHARED_PG_INDEXES = frozenset({"customer_name_trgm_idx"})

# --- SQLite -----------------------------------------------------------------------------------------------

SQLITE_FTS = (
    Fts5Index("inbox_message_fts", "inbox_message", ("body",), "unicode61 remove_diacritics 2"),
    Fts5Index("inbox_customer_name_fts", "customers_customer", ("search_name",), "trigram"),
    Fts5Index("inbox_customer_email_fts", "customers_customeremail", ("email",), "trigram"),
    Fts5Index("inbox_customer_phone_fts", "customers_customerphone", ("e164",), "trigram"),
)


def ensure_pg_prerequisites(cursor: Any) -> list[str]:
    """pg_trgm and the fold function, created when missing (also for the knowledge base's search, which uses both);
    returns what it created."""
    created: list[str] = []
    cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
    if cursor.fetchone() is None:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        created.append("pg_trgm")
    cursor.execute("SELECT 1 FROM pg_proc WHERE proname = 'inbox_search_fold'")
    if cursor.fetchone() is None:
        cursor.execute(PG_FOLD_FUNCTION)
        created.append("inbox_search_fold")
    return created


def ensure_search_schema(conn: BaseDatabaseWrapper | None = None) -> list[str]:
    """Creates what is missing of the search schema on this database (idempotent); returns what it created.
    Called by the migration and after every `migrate`."""
    conn = conn or default_connection
    created: list[str] = []
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            created += ensure_pg_prerequisites(cursor)
            created += ensure_pg_indexes(cursor, PG_INDEXES, in_transaction=conn.in_atomic_block)
        elif conn.vendor == "sqlite":
            created += ensure_fts5(cursor, SQLITE_FTS)
    return created


def drop_search_schema(conn: BaseDatabaseWrapper | None = None) -> None:
    conn = conn or default_connection
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            for name in PG_INDEXES:
                if name not in SHARED_PG_INDEXES:
                    cursor.execute(f"DROP INDEX IF EXISTS {name}")
            cursor.execute("DROP FUNCTION IF EXISTS inbox_search_fold(text)")
        elif conn.vendor == "sqlite":
            drop_fts5(cursor, SQLITE_FTS)


MIGRATION = ("inbox", "0005_full_text_search")


def post_migrate_handler(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """After `migrate` (and a test flush): heal what a table rebuild dropped, once the search migration is in."""

    conn = connections[using]
    if MIGRATION in MigrationRecorder(conn).applied_migrations():
        ensure_search_schema(conn)


# --- queries -----------------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")  # letters and digits: FTS5's unicode61 and the fold function split the same way
MIN_FRAGMENT = 3  # pg_trgm and the FTS5 trigram tokenizer need three characters to use their index
SQLITE_NEWEST = 5000  # SQLite, text in more than COMMON_MATCHES messages: only the newest this many are searched
MAX_TERMS = 8


def terms(q: str) -> list[str]:
    """The query's folded words ("Peña  Muñoz" → ["pena", "munoz"]), at most MAX_TERMS."""
    return _WORD.findall(fold(q))[:MAX_TERMS]


def _like(fragment: str) -> str:
    return "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


Part = tuple[str, list[Any]]  # SQL and its parameters


@dataclass(frozen=True)
class _Plan:
    """The branches of one search, each in two forms: a sub-select of ids (to collect every match) and a condition
    on one conversation row of the outer query, `inbox_conversation` (to test the newest conversations one by one).
    OFFSET 0 keeps PostgreSQL from turning a per-row EXISTS back into "collect every match" (a hashed sub-plan)."""

    message_ids: Part | None = None  # the matching messages (counted)
    message_conversations: Part | None = None  # the conversation ids of the matching messages
    message_row: Part | None = None  # EXISTS (a matching message of this conversation)
    customer_ids: list[Part] = field(default_factory=list)  # by name, email, phone
    customer_rows: list[Part] = field(default_factory=list)
    tags: Part = ("", [])  # conversation ids, by the conversation's or the customer's tag

    def without(self, *, messages: bool = False, customers: bool = False) -> _Plan:
        return replace(self, message_ids=None if messages else self.message_ids,
                       message_conversations=None if messages else self.message_conversations,
                       message_row=None if messages else self.message_row,
                       customer_ids=[] if customers else self.customer_ids,
                       customer_rows=[] if customers else self.customer_rows)


def _join(parts: list[Part], glue: str) -> Part:
    return glue.join(sql for sql, _params in parts), [p for _sql, params in parts for p in params]


def _plan(q: str, vendor: str) -> _Plan | None:
    raw = q.strip()
    if not raw:
        return None
    words = terms(raw)
    fragments = [w for w in words if len(w) >= MIN_FRAGMENT]
    digits = "".join(ch for ch in raw if ch.isdigit())
    phone_like = len(digits) >= 4 and len(digits) >= len(raw.replace(" ", "")) * 0.6
    # Emails: the query when it has an "@" (a whole or partial address), or its only word ("valentina" finds
    # valentina.pena@…); names: every word of three or more characters, anywhere in the name.
    email = ""
    if phone_like:
        pass
    elif "@" in raw:
        email = normalize_email(raw) or raw.lower()
    elif len(words) == 1 and fragments:
        email = fragments[0]
    names = fragments if not phone_like else []
    message_ids = message_conversations = message_row = None
    customer_ids: list[Part] = []
    customer_rows: list[Part] = []
    outer = "inbox_conversation.customer_id"
    if vendor == "postgresql":
        if words:
            tsquery = " & ".join([*words[:-1], words[-1] + (":*" if len(words[-1]) >= 2 else "")])
            match = f"{PG_MESSAGE_TSV.replace('body', 'm.body')} @@ to_tsquery('simple'::regconfig, %s)"
            message_ids = (f"SELECT m.id FROM inbox_message m WHERE {match}", [tsquery])
            message_conversations = (f"SELECT m.conversation_id FROM inbox_message m WHERE {match}", [tsquery])
            message_row = ("EXISTS (SELECT 1 FROM inbox_message m WHERE m.conversation_id = inbox_conversation.id "
                           f"AND {match} OFFSET 0)", [tsquery])
        if names:
            like = " AND ".join("cu.search_name LIKE %s" for _ in names)
            patterns = [_like(f) for f in names]
            customer_ids.append((f"SELECT cu.id FROM customers_customer cu WHERE {like}", patterns))
            customer_rows.append((f"EXISTS (SELECT 1 FROM customers_customer cu WHERE cu.id = {outer} AND {like} "
                                  "OFFSET 0)", patterns))
        for table, column, text in (("customers_customeremail", "email", email if len(email) >= MIN_FRAGMENT else ""),
                                    ("customers_customerphone", "e164", digits if phone_like else "")):
            if text:
                customer_ids.append((f"SELECT x.customer_id FROM {table} x WHERE x.{column} LIKE %s", [_like(text)]))
                customer_rows.append((f"EXISTS (SELECT 1 FROM {table} x WHERE x.customer_id = {outer} "
                                      f"AND x.{column} LIKE %s OFFSET 0)", [_like(text)]))
    elif vendor == "sqlite":
        if words:
            match = " ".join(f'"{w}"' for w in words) + ("*" if len(words[-1]) >= 2 else "")
            message_ids = ("SELECT rowid FROM inbox_message_fts WHERE inbox_message_fts MATCH %s", [match])
            message_conversations = (f"SELECT m.conversation_id FROM inbox_message m WHERE m.id IN ({message_ids[0]})",
                                     [match])
            # Testing one conversation's messages against a prefix query re-reads the whole prefix in FTS5 (~1 s
            # per page at 200,000 conversations): common text searches the newest SQLITE_NEWEST matches instead.
            message_row = ("inbox_conversation.id IN (SELECT m.conversation_id FROM inbox_message m WHERE m.id IN "
                           "(SELECT rowid FROM inbox_message_fts WHERE inbox_message_fts MATCH %s "
                           f"ORDER BY rowid DESC LIMIT {SQLITE_NEWEST}))", [match])
        if names:
            match = " AND ".join(f'"{f}"' for f in names)
            customer_ids.append(("SELECT rowid FROM inbox_customer_name_fts WHERE inbox_customer_name_fts MATCH %s",
                                 [match]))
            customer_rows.append((f"EXISTS (SELECT 1 FROM customers_customer cu WHERE cu.id = {outer} AND "
                                  + " AND ".join("cu.search_name LIKE %s ESCAPE '\\'" for _ in names) + ")",
                                  [_like(f) for f in names]))
        for table, fts, text in (("customers_customeremail", "inbox_customer_email_fts",
                                  email if len(email) >= MIN_FRAGMENT else ""),
                                 ("customers_customerphone", "inbox_customer_phone_fts", digits if phone_like else "")):
            if text:
                phrase = '"' + text.replace('"', '""') + '"'
                ids = (f"SELECT x.customer_id FROM {table} x WHERE x.id IN "
                       f"(SELECT rowid FROM {fts} WHERE {fts} MATCH %s)")
                customer_ids.append((ids, [phrase]))
                customer_rows.append((f"{outer} IN ({ids})", [phrase]))
    else:  # another database: plain scans (correct, not fast)
        if words:
            like = " AND ".join("LOWER(m.body) LIKE %s" for _ in words)
            message_ids = (f"SELECT m.id FROM inbox_message m WHERE {like}", [_like(w) for w in words])
            message_conversations = (f"SELECT m.conversation_id FROM inbox_message m WHERE {like}",
                                     [_like(w) for w in words])
        if names:
            customer_ids.append(("SELECT cu.id FROM customers_customer cu WHERE "
                                 + " AND ".join("cu.search_name LIKE %s" for _ in names), [_like(f) for f in names]))
    tag = "(SELECT t.id FROM customers_tag t WHERE LOWER(t.name) = LOWER(%s))"
    tags = (f"SELECT vt.conversation_id FROM inbox_conversation_tags vt WHERE vt.tag_id IN {tag} UNION ALL "
            "SELECT c.id FROM inbox_conversation c WHERE c.customer_id IN "
            f"(SELECT ct.customer_id FROM customers_customer_tags ct WHERE ct.tag_id IN {tag})", [raw, raw])
    return _Plan(message_ids, message_conversations, message_row, customer_ids, customer_rows, tags)


def _union(plan: _Plan) -> Part:
    """Every branch as one sub-select of conversation ids (an id may repeat)."""
    parts: list[Part] = []
    if plan.message_conversations:
        parts.append(plan.message_conversations)
    if plan.customer_ids:
        customers, params = _join(plan.customer_ids, " UNION ALL ")
        parts.append((f"SELECT c.id FROM inbox_conversation c WHERE c.customer_id IN ({customers})", params))
    parts.append(plan.tags)
    return _join(parts, " UNION ALL ")


def matching_conversations(q: str, *, vendor: str | None = None) -> Part:
    """SQL selecting the ids of the conversations `q` matches (an id may repeat), and its parameters; ("", [])
    when the query has nothing to search."""
    plan = _plan(q, vendor or default_connection.vendor)
    return _union(plan) if plan is not None else ("", [])


# Above this many matches, collecting every match and sorting it costs more than walking the newest conversations
# (in the list's order and filters) and testing each one (see conversation_filter).
COMMON_MATCHES = 20_000
# PostgreSQL's estimate is trusted above this (frequent words have statistics); below it, text it has no
# statistics for gets a flat guess, so the matches are counted instead (stopping at COMMON_MATCHES + 1).
TRUSTED_ESTIMATE = 50_000


def _count(cursor: Any, part: Part, *, cap: int) -> int:
    cursor.execute(f"SELECT count(*) FROM ({part[0]} LIMIT %s) s", [*part[1], cap])
    return int(cursor.fetchone()[0])


def _estimate(cursor: Any, part: Part) -> int:
    cursor.execute(f"EXPLAIN (FORMAT JSON) {part[0]}", part[1])
    raw = cursor.fetchone()[0]
    doc = json.loads(raw) if isinstance(raw, str) else raw
    return int(doc[0]["Plan"]["Plan Rows"])


def estimated_matches(plan: _Plan, conn: BaseDatabaseWrapper) -> tuple[int, int]:
    """(matching messages, matching customers): exact up to COMMON_MATCHES, estimated above."""
    cap = COMMON_MATCHES + 1
    found = []
    with conn.cursor() as cursor:
        for part in (plan.message_ids, _join(plan.customer_ids, " UNION ALL ") if plan.customer_ids else None):
            if part is None:
                found.append(0)
            elif conn.vendor == "postgresql":
                guess = _estimate(cursor, part)
                found.append(guess if guess >= TRUSTED_ESTIMATE else _count(cursor, part, cap=cap))
            else:
                found.append(_count(cursor, part, cap=cap))
    return found[0], found[1]


def conversation_filter(q: str, *, conn: BaseDatabaseWrapper | None = None) -> Q | None:
    """The condition `inbox.selectors.filtered` adds for the search `q` (None: nothing to search).

    Few matches (most searches: a full name, a phone, an email, a code, a rare word): `id IN (one sub-select of
    every matching conversation)`, so the database starts from the matches. Many matches (a common word, a bare
    first name): `id IN (tags) OR EXISTS (this conversation's customer matches) OR EXISTS (one of its messages
    matches)`, so the database walks the list's own index newest first and stops at the page's last row. Deciding
    costs one or two cheap statements per branch (a planner estimate, or a count that stops at
    COMMON_MATCHES + 1); a branch with no match at all is left out."""
    conn = conn or default_connection
    plan = _plan(q, conn.vendor)
    if plan is None:
        return None
    if conn.vendor not in ("postgresql", "sqlite"):
        return Q(pk__in=RawSQL(*_union(plan)))
    messages, customers = estimated_matches(plan, conn)
    plan = plan.without(messages=messages == 0, customers=customers == 0)
    if messages + customers <= COMMON_MATCHES:
        return Q(pk__in=RawSQL(*_union(plan)))
    condition = Q(pk__in=RawSQL(*plan.tags))
    for sql, params in [*plan.customer_rows, *([plan.message_row] if plan.message_row else [])]:
        condition |= Q(RawSQL(sql, params, output_field=BooleanField()))
    return condition
