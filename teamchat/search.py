# ruff: noqa: S608 - the SQL below interpolates only this module's constants (table, index and column names) and
# placeholders; what the user typed always travels as a query parameter.
"""Search in the messages of the channels a person may read, with the machinery of the inbox's search
(inbox.search, core.fts): no search server.

Who may read what is teamchat.actions' rule (`may_read`): members read their channels and direct messages, and
everyone who uses the chat reads the kinds in OPEN_KINDS (team and public channels). The search is restricted to
those channel ids first (`readable_channels`: the open channels UNION the reader's memberships), so a private
channel or a direct message the reader is not in never reaches the results. Deleted messages keep their row with
an empty text (check_delete_message), so they have no word to match; they are filtered out by `deleted_at` as well.
Archived channels stay readable, so their messages are found too. Someone who does not use the chat finds nothing.

Matching, the same on both databases (the inbox's): accents and case ignored ("reunion" finds "Reunión"), every
word must be in the message, whole; the last word also as a prefix from two letters on (search as you type:
"reu" finds "Reunión"); at most MAX_TERMS words (inbox.search.terms), each cut at WORD_MAX characters (a cut word
matches as a prefix).

Order: newest first among the matches, by id (messages get ids in the order they are posted). Not by rank: a chat
search looks for a message one remembers, most often a recent one, and the id order is the one both databases can
stop early in (below). At most `limit` hits, `limit` at most MAX_LIMIT.

PostgreSQL
  * a stored generated column `search_tsv` = `to_tsvector('simple', inbox_search_fold(body))` (and "<", ">", "&"
    to spaces: the parser would drop what it takes for HTML tags and entities) with a GIN index — the knowledge
    base's design: a stored column, not an expression index, so checking a row (a lossy bitmap's recheck, a walk
    down the primary key) reads the column instead of parsing the text again. Not in the model's state
    (PostgreSQL only, like the index): the database fills it on every insert and update. `inbox_search_fold` is the
    inbox's fold function (inbox 0005). A later migration may not change the type of `body` without dropping the
    column first (PostgreSQL refuses to alter a column a generated column uses).
  * the readable channel ids are read first and passed as one array, so the planner knows which channels (their
    share of the messages, from its statistics). Given a sub-select instead, it guessed, and re-ran the GIN scan
    once per channel: 0.8 s at 1,000,000 messages for two common words, 30 ms with the array. It then picks: for
    rare words the GIN index and a top-N sort; for a common word the primary key backwards, stopping at the
    `limit`-th readable match (1 ms).
SQLite (embedded default)
  * an FTS5 external-content table over the body (unicode61, diacritics removed), kept by triggers (core.fts),
    with prefix indexes for two- and three-letter prefixes: the last word being typed ("re") begins a large part
    of the vocabulary, and without them FTS5 merges every such word's list on each keystroke (150-200 ms at
    1,000,000 messages; under 1 ms with them, for an index 40 % larger);
  * the FTS5 table drives, newest first (ORDER BY rowid DESC, served by FTS5 itself), each match's row checked
    for its channel (the sub-select of readable channels, read once as a list) and deletion: the query stops at
    the `limit`-th readable match;
  * the triggers are (re)created after every `migrate` (post_migrate, teamchat.apps), as the inbox's are: Django
    drops them when a later migration rebuilds the table.
The worst case on both: a word found in most messages but in (almost) none the reader may read — the walk then
reads every match (0.4 s on PostgreSQL, 1 s on SQLite for a word in 640,000 of 1,000,000 messages). A reader
normally reads the open channels, where common words are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from django.db import connection as default_connection
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.recorder import MigrationRecorder
from django.urls import reverse

from accounts.models import User
from core.fts import Fts5Index, drop_fts5, ensure_fts5, ensure_pg_column, ensure_pg_indexes
from core.text import fold
from inbox.search import ensure_pg_prerequisites, terms
from teamchat.actions import OPEN_KINDS, can_use
from teamchat.models import Channel, Membership, Message
from teamchat.selectors import display_title

LIMIT: Final = 50
MAX_LIMIT: Final = 100
WORD_MAX: Final = 60  # longer "words" are pasted codes or noise; cut so the query stays valid and cheap
PREFIX_MIN: Final = 2  # the last word matches as a prefix from this many letters on
SNIPPET_CHARS: Final = 160

# --- schema -------------------------------------------------------------------------------------------------------

TABLE: Final = "teamchat_message"
# "<", ">" and "&" to spaces as well: PostgreSQL's parser takes "<b …>" for an HTML tag and "&amp;" for an entity,
# and drops them (and everything inside <script> and <style>), while FTS5 and the query's words see the words in them.
PG_DOC_TSV: Final = "to_tsvector('simple'::regconfig, translate(inbox_search_fold(body), '<>&', '   '))"
PG_TSV_COLUMN: Final = "search_tsv"
PG_ADD_TSV_COLUMN: Final = (f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {PG_TSV_COLUMN} tsvector "
                            f"GENERATED ALWAYS AS ({PG_DOC_TSV}) STORED")
PG_INDEXES: Final = {"chat_message_fts_idx": (TABLE, f"gin ({PG_TSV_COLUMN})")}

SQLITE_FTS: Final = Fts5Index("teamchat_message_fts", TABLE, ("body",), "unicode61 remove_diacritics 2")
SQLITE_PREFIXES: Final = "2 3"  # FTS5's prefix indexes (core.fts creates tables without them: created here)


def _ensure_sqlite(cursor: Any) -> list[str]:
    created: list[str] = []
    fts = SQLITE_FTS
    cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [fts.name])
    if cursor.fetchone() is None:
        cursor.execute(f"CREATE VIRTUAL TABLE {fts.name} USING fts5({', '.join(fts.columns)}, content='{fts.table}', "
                       f"content_rowid='id', tokenize='{fts.tokenizer}', prefix='{SQLITE_PREFIXES}')")
        created.append(fts.name)
    triggers = ensure_fts5(cursor, [fts])  # the triggers, and a rebuild when any was missing
    if created and not triggers:  # a new table under old triggers: fill it from the messages
        cursor.execute(f"INSERT INTO {fts.name}({fts.name}) VALUES ('rebuild')")
    return created + triggers


def ensure_search_schema(conn: BaseDatabaseWrapper | None = None) -> list[str]:
    """Creates what is missing of the chat's search schema on this database (idempotent); returns what it created.
    Called by the migration and after every `migrate`."""
    conn = conn or default_connection
    created: list[str] = []
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            created += ensure_pg_prerequisites(cursor)  # the inbox's search migration made them; healed here
            created += ensure_pg_column(cursor, TABLE, PG_TSV_COLUMN, PG_ADD_TSV_COLUMN)
            created += ensure_pg_indexes(cursor, PG_INDEXES, in_transaction=conn.in_atomic_block)
        elif conn.vendor == "sqlite":
            created += _ensure_sqlite(cursor)
    return created


def drop_search_schema(conn: BaseDatabaseWrapper | None = None) -> None:
    conn = conn or default_connection
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            for name in PG_INDEXES:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")
            cursor.execute(f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS {PG_TSV_COLUMN}")
        elif conn.vendor == "sqlite":
            drop_fts5(cursor, [SQLITE_FTS])


MIGRATION: Final = ("teamchat", "0002_full_text_search")


def post_migrate_handler(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """After `migrate` (and a test flush): heal what a table rebuild dropped, once the search migration is in."""
    conn = connections[using]
    if MIGRATION in MigrationRecorder(conn).applied_migrations():
        ensure_search_schema(conn)


# --- queries ------------------------------------------------------------------------------------------------------

Part = tuple[str, list[Any]]  # SQL and its parameters


@dataclass(frozen=True)
class Word:
    text: str  # folded: lower case, no accents
    prefix: bool  # also matches the words it begins


def query_words(q: str) -> list[Word]:
    """The words of `q` as the search matches them: folded, at most MAX_TERMS, each cut at WORD_MAX characters;
    the last one (and any cut one) a prefix."""
    found = terms(q)
    return [Word(w[:WORD_MAX], len(w) > WORD_MAX or (i == len(found) - 1 and len(w) >= PREFIX_MIN))
            for i, w in enumerate(found)]


def readable_channels(user: User) -> Part:
    """The ids of the channels `user` may read (an id may repeat): teamchat.actions.may_read as one sub-select."""
    kinds = [str(k) for k in OPEN_KINDS]
    return (f"SELECT c.id FROM teamchat_channel c WHERE c.kind IN ({', '.join(['%s'] * len(kinds))}) "
            "UNION ALL SELECT mb.channel_id FROM teamchat_membership mb WHERE mb.user_id = %s", [*kinds, user.pk])


def _like(fragment: str) -> str:
    return "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def matching_ids(user: User, words: Sequence[Word], *, limit: int,
                 conn: BaseDatabaseWrapper | None = None) -> list[int]:
    """The ids of the newest `limit` messages `user` may read that hold every word, newest first."""
    conn = conn or default_connection
    if not words:
        return []
    channels, channel_params = readable_channels(user)
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            # The readable channels first, passed as one array: the planner then sees which channels (their share
            # of the messages, from its statistics) instead of guessing a sub-select's. Given a sub-select, it
            # re-ran the GIN scan once per channel (0.8 s at 1,000,000 messages for two common words).
            cursor.execute(channels, channel_params)
            readable = sorted({int(row[0]) for row in cursor.fetchall()})
            if not readable:
                return []
            tsquery = " & ".join(w.text + (":*" if w.prefix else "") for w in words)
            cursor.execute(
                f"SELECT m.id FROM {TABLE} m WHERE m.{PG_TSV_COLUMN} @@ to_tsquery('simple'::regconfig, %s) "
                "AND m.deleted_at IS NULL AND m.channel_id = ANY(%s::bigint[]) ORDER BY m.id DESC LIMIT %s",
                [tsquery, readable, limit])
        elif conn.vendor == "sqlite":
            fts = SQLITE_FTS.name
            match = " ".join(f'"{w.text}"' + ("*" if w.prefix else "") for w in words)
            # FTS5 first, newest first (its rowid order), each match's row checked: SQLite reads the channel
            # sub-select once (a list) and stops at the `limit`-th readable match.
            cursor.execute(
                f"SELECT m.id FROM {fts} f JOIN {TABLE} m ON m.id = f.rowid WHERE {fts} MATCH %s "
                f"AND m.deleted_at IS NULL AND m.channel_id IN ({channels}) ORDER BY f.rowid DESC LIMIT %s",
                [match, *channel_params, limit])
        else:  # another database: plain scans (correct for ASCII text, not fast)
            like = " AND ".join("LOWER(m.body) LIKE %s ESCAPE '\\'" for _ in words)
            cursor.execute(
                f"SELECT m.id FROM {TABLE} m WHERE {like} AND m.deleted_at IS NULL AND m.channel_id IN ({channels}) "
                "ORDER BY m.id DESC LIMIT %s", [*[_like(w.text) for w in words], *channel_params, limit])
        return [int(row[0]) for row in cursor.fetchall()]


# --- hits ---------------------------------------------------------------------------------------------------------

Parts = tuple[tuple[str, bool], ...]  # a snippet: (text, whether it is a word the search matched)

_WORD = re.compile(r"[^\W_]+")  # how the indexes split words (inbox.search._WORD)
_MARKS = re.compile(r"\*{1,3}|~~|`{1,3}|^\s*>\s?", re.MULTILINE)  # Markdown-lite marks (teamchat.render)


@lru_cache(maxsize=4096)
def _fold_word(token: str) -> str:
    return fold(token)


def _matches(token: str, words: Sequence[Word]) -> bool:
    folded = _fold_word(token)
    return any(folded == w.text or (w.prefix and folded.startswith(w.text)) for w in words)


def snippet(body: str, words: Sequence[Word], *, size: int = SNIPPET_CHARS) -> Parts:
    """About `size` characters of `body` (its emphasis and code marks removed, spaces collapsed) around the first
    word the search matched, with "…" where it was cut, as parts that say which words matched. Plain text: the
    template escapes every part and wraps the matched ones in <mark>."""
    text = " ".join(_MARKS.sub("", body).split())
    found = [(m.start(), m.end()) for m in _WORD.finditer(text) if _matches(m.group(), words)]
    start, end = 0, len(text)
    if len(text) > size:
        at = found[0][0] if found else 0
        start = max(0, at - size // 3)
        if start:
            space = text.find(" ", start)
            start = space + 1 if 0 <= space < at else start
        end = min(len(text), start + size)
        if end < len(text):
            space = text.rfind(" ", start, end)
            end = space if space > start + size // 2 else end
    parts: list[tuple[str, bool]] = [("…", False)] if start else []
    cursor = start
    for a, b in found:
        if a < start or b > end:
            continue
        if a > cursor:
            parts.append((text[cursor:a], False))
        parts.append((text[a:b], True))
        cursor = b
    if end > cursor:
        parts.append((text[cursor:end], False))
    if end < len(text):
        parts.append(("…", False))
    return tuple(parts)


@dataclass(frozen=True)
class ChatHit:
    """One message found, with what the results list shows."""

    message: Message  # its channel and author selected
    channel: Channel
    title: str  # the channel's name; a direct message: its other members' names (teamchat.selectors.display_title)
    parts: Parts  # the snippet (see `snippet`)
    url: str  # the message in its channel (#m-<id>), or a reply in its thread (#t-<id>)

    @property
    def in_thread(self) -> bool:
        return self.message.parent_id is not None


def message_url(message: Message) -> str:
    """The message in its channel's page; a reply in its thread's (whose rows are `t-<id>`: teamchat/rowhtml.py)."""
    if message.parent_id is not None:
        return reverse("teamchat:thread", args=[message.parent_id]) + f"#t-{message.pk}"
    return reverse("teamchat:channel", args=[message.channel_id]) + f"#m-{message.pk}"


def _direct_titles(user: User, channels: Sequence[Channel]) -> dict[int, str]:
    """{channel id: title} of the direct messages among `channels`, named by their other members (one query)."""
    direct = {c.pk: c for c in channels if c.is_direct}
    if not direct:
        return {}
    others: dict[int, list[User]] = {pk: [] for pk in direct}
    for membership in (Membership.objects.filter(channel_id__in=direct).exclude(user_id=user.pk)
                       .select_related("user").order_by("id")):
        others[membership.channel_id].append(membership.user)
    # Notes to self (a direct message with oneself) have no other member: named after the reader, as the sidebar.
    return {pk: display_title(channel, others[pk]) or user.display_name for pk, channel in direct.items()}


def search_messages(user: User, q: str, *, limit: int = LIMIT) -> list[ChatHit]:
    """The newest `limit` messages (at most MAX_LIMIT) that `user` may read and that hold every word of `q`, newest
    first; [] when `q` has no word or the user does not use the chat. Three queries at most (four on PostgreSQL,
    which reads the readable channel ids first): the matches, their messages with channel and author, and the
    members naming the direct messages among them."""
    words = query_words(q)
    if not words or not can_use(user):
        return []
    limit = max(1, min(int(limit), MAX_LIMIT))
    ids = matching_ids(user, words, limit=limit)
    if not ids:
        return []
    found = Message.objects.select_related("channel", "author").in_bulk(ids)
    messages = [found[pk] for pk in ids if pk in found]
    titles = _direct_titles(user, [m.channel for m in messages])
    return [ChatHit(message=m, channel=m.channel, title=titles.get(m.channel_id, m.channel.name),
                    parts=snippet(m.body, words), url=message_url(m)) for m in messages]
