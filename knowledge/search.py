# ruff: noqa: S608 - the SQL below interpolates only this module's constants (table, index and column names) and
# placeholders; what the user typed always travels as a query parameter.
"""Search of the knowledge base, with the machinery of the inbox's search (inbox.search): no search server.

PostgreSQL
  * a stored generated column `search_tsv` = `to_tsvector('simple', inbox_search_fold(title || ' ' || body))` with
    a GIN index (not an expression index: the expression was recomputed for every row a common word found):
    accents and case ignored, every word must match; words of four letters or more match as prefixes too, so a
    singular finds its plural ("devolucion" finds "Devoluciones"), and so does the last word from two letters on
    (search as you type: "garan" finds "Garantía");
  * a pg_trgm GIN index on the folded title (`search_title`, core.text.fold): when the words find fewer articles than
    asked, titles similar to the query are added (`word_similarity` ≥ FUZZY_THRESHOLD, set as
    pg_trgm.word_similarity_threshold for the query's transaction): "devolusion" finds "Devoluciones y cambios".
SQLite (embedded default)
  * an FTS5 external-content table over title and body (unicode61, diacritics removed), kept by triggers: the same
    word and prefix matching;
  * an FTS5 trigram table over the folded title: the typo fallback takes the titles sharing the most trigrams with
    the query's words (at most FUZZY_CANDIDATES), then keeps those whose words cover at least FUZZY_THRESHOLD of a
    query word's trigrams — close to pg_trgm's word_similarity (per word rather than per extent), computed in Python
    on a few titles;
  * the triggers are (re)created after every `migrate` (post_migrate), as the inbox's are: Django drops them when a
    later migration rebuilds the table.

Ranking, the same on both: articles whose title holds every word first (PostgreSQL: by title similarity; SQLite: by
bm25 with the title weighted 10 to 1), then the others (PostgreSQL: newest published first; SQLite: by bm25); then
the typo matches, most similar first. Scores are comparable within one answer only.

The bot and the public see published articles only (`published_only`, the default); the knowledge pages pass False
to people who edit articles.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection as default_connection
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.recorder import MigrationRecorder
from django.urls import reverse

from core.fts import Fts5Index, drop_fts5, ensure_fts5, ensure_pg_column, ensure_pg_indexes
from inbox.search import ensure_pg_prerequisites, terms
from knowledge.choices import ArticleState
from knowledge.models import Article

MAX_LIMIT = 100
SNIPPET_CHARS = 180
PREFIX_MIN = 4
WORD_MAX = 60  # longer "words" are pasted codes or noise; cut so the query stays valid and cheap
FUZZY_MIN_WORD = 4  # shorter words are prefixes being typed, not typos
FUZZY_THRESHOLD = 0.5  # word_similarity: "devolusion" / "devoluciones y cambios" is 0.55 on PostgreSQL
FUZZY_CANDIDATES = 200

# --- schema -------------------------------------------------------------------------------------------------

TABLE = "knowledge_article"
PG_DOC_TSV = "to_tsvector('simple'::regconfig, inbox_search_fold(title || ' ' || body))"
# Stored, not an expression index: a word found in thousands of articles ("envio") made PostgreSQL recompute the
# expression for every row the index returned (p95 1.2 s at 10,000 articles); a stored column is read instead.
# Not in the model's state (PostgreSQL only, like the indexes): the database fills it on every insert and update.
PG_TSV_COLUMN = "search_tsv"
PG_ADD_TSV_COLUMN = (f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {PG_TSV_COLUMN} tsvector "
                     f"GENERATED ALWAYS AS ({PG_DOC_TSV}) STORED")
PG_INDEXES = {
    "kb_article_fts_idx": (TABLE, f"gin ({PG_TSV_COLUMN})"),
    "kb_article_title_trgm_idx": (TABLE, "gin (search_title gin_trgm_ops)"),
}
SQLITE_FTS = (
    Fts5Index("knowledge_article_fts", TABLE, ("title", "body"), "unicode61 remove_diacritics 2"),
    Fts5Index("knowledge_article_title_fts", TABLE, ("search_title",), "trigram"),
)


def ensure_search_schema(conn: BaseDatabaseWrapper | None = None) -> list[str]:
    """Creates what is missing of the knowledge search schema on this database (idempotent); returns what it
    created. Called by the migration and after every `migrate`."""
    conn = conn or default_connection
    created: list[str] = []
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            created += ensure_pg_prerequisites(cursor)  # the inbox's search migration made them; healed here
            created += ensure_pg_column(cursor, TABLE, PG_TSV_COLUMN, PG_ADD_TSV_COLUMN)
            created += ensure_pg_indexes(cursor, PG_INDEXES, in_transaction=conn.in_atomic_block)
        elif conn.vendor == "sqlite":
            created += ensure_fts5(cursor, SQLITE_FTS)
    return created


def drop_search_schema(conn: BaseDatabaseWrapper | None = None) -> None:
    conn = conn or default_connection
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            for name in PG_INDEXES:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")
            cursor.execute(f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS {PG_TSV_COLUMN}")
        elif conn.vendor == "sqlite":
            drop_fts5(cursor, SQLITE_FTS)


MIGRATION = ("knowledge", "0002_full_text_search")


def post_migrate_handler(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """After `migrate` (and a test flush): heal what a table rebuild dropped, once the search migration is in."""
    conn = connections[using]
    if MIGRATION in MigrationRecorder(conn).applied_migrations():
        ensure_search_schema(conn)


# --- queries ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ArticleHit:
    """One article found: what a bot offers, the composer lists and the API answers."""

    id: int
    title: str
    snippet: str  # plain text around the first word found (Markdown marks removed)
    url: str  # the public help page's absolute address; "" when it is off or the article is a draft
    score: float  # higher is better; comparable within one answer only
    language: str
    category: str
    state: str


def _like(fragment: str) -> str:
    return "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _conditions(*, published_only: bool, language: str | None, category_id: int | None, state: str | None,
                column: str) -> tuple[str, list[Any]]:
    sql: list[str] = []
    params: list[Any] = []
    if published_only:
        sql.append(f"{column}state = %s")
        params.append(ArticleState.PUBLISHED.value)
    elif state:
        sql.append(f"{column}state = %s")
        params.append(state)
    if language:
        sql.append(f"{column}language = %s")
        params.append(language)
    if category_id is not None:
        sql.append(f"{column}category_id = %s")
        params.append(category_id)
    return "".join(f" AND {s}" for s in sql), params


def _title_has_all(words: list[str], column: str) -> tuple[str, list[str]]:
    return (" AND ".join(f"{column}search_title LIKE %s ESCAPE '\\'" for _ in words), [_like(w) for w in words])


def _trigrams(word: str, *, padded: bool) -> set[str]:
    text = f"  {word} " if padded else word
    return {text[i:i + 3] for i in range(len(text) - 2)}


def title_similarity(words: Sequence[str], folded_title: str) -> float:
    """pg_trgm's word_similarity, per word: the share of a query word's trigrams found in its best title word,
    averaged over the query's words of FUZZY_MIN_WORD letters or more (0 when there is none)."""
    long_words = [w for w in words if len(w) >= FUZZY_MIN_WORD]
    title_words = [_trigrams(t, padded=True) for t in re.findall(r"[^\W_]+", folded_title)]
    if not long_words or not title_words:
        return 0.0
    total = 0.0
    for word in long_words:
        wanted = _trigrams(word, padded=True)
        total += max(len(wanted & t) for t in title_words) / len(wanted)
    return total / len(long_words)


def _is_prefix(word: str, *, last: bool) -> bool:
    """Words of PREFIX_MIN letters or more match as prefixes, so a singular finds its plural ("devolucion" finds
    "devoluciones": Spanish plurals add letters); the last word from two letters on (search as you type)."""
    return len(word) >= (2 if last else PREFIX_MIN)


def _full_text(conn: BaseDatabaseWrapper, words: list[str], where: str, params: list[Any],
               limit: int) -> list[tuple[int, float]]:
    title_sql, title_params = _title_has_all(words, "a.")
    prefixes = [_is_prefix(w, last=i == len(words) - 1) for i, w in enumerate(words)]
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            tsquery = " & ".join(w + (":*" if p else "") for w, p in zip(words, prefixes, strict=True))
            cursor.execute(
                # word_similarity only for the articles whose title holds every word (a CASE branch is evaluated
                # only when taken): a common word matches half the articles, and ranks the others by date anyway.
                f"SELECT a.id, CASE WHEN {title_sql} THEN 2 + word_similarity(%s, a.search_title) ELSE 0 END "
                f"AS score FROM {TABLE} a WHERE a.{PG_TSV_COLUMN} @@ to_tsquery('simple'::regconfig, %s){where} "
                "ORDER BY score DESC, a.published_at DESC NULLS LAST, a.id DESC LIMIT %s",
                [*title_params, " ".join(words), tsquery, *params, limit])
        elif conn.vendor == "sqlite":
            match = " ".join(f'"{w}"' + ("*" if p else "") for w, p in zip(words, prefixes, strict=True))
            # bm25 is negative, lower is better: -r / (1 - r) maps it to [0, 1).
            cursor.execute(
                f"SELECT a.id, CASE WHEN {title_sql} THEN 2 ELSE 0 END + (-f.r / (1.0 - f.r)) AS score "
                "FROM (SELECT rowid AS id, bm25(knowledge_article_fts, 10.0, 1.0) AS r FROM knowledge_article_fts "
                f"WHERE knowledge_article_fts MATCH %s) f JOIN {TABLE} a ON a.id = f.id WHERE 1 = 1{where} "
                "ORDER BY score DESC, a.published_at DESC, a.id DESC LIMIT %s",
                [*title_params, match, *params, limit])
        else:  # another database: plain scans (correct, not fast)
            like = " AND ".join("(a.search_title LIKE %s OR LOWER(a.body) LIKE %s)" for _ in words)
            cursor.execute(
                f"SELECT a.id, CASE WHEN {title_sql} THEN 2 ELSE 0 END AS score FROM {TABLE} a WHERE {like}{where} "
                "ORDER BY score DESC, a.id DESC LIMIT %s",
                [*title_params, *[p for w in words for p in (_like(w), _like(w))], *params, limit])
        return [(int(pk), float(score)) for pk, score in cursor.fetchall()]


def _typos(conn: BaseDatabaseWrapper, words: list[str], where: str, params: list[Any], *, limit: int,
           exclude: set[int]) -> list[tuple[int, float]]:
    long_words = [w for w in words if len(w) >= FUZZY_MIN_WORD]
    if not long_words:
        return []
    skip = f" AND a.id NOT IN ({', '.join(['%s'] * len(exclude))})" if exclude else ""
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            text = " ".join(words)
            # `%>` (word_similarity, the column first) is the operator the trigram index serves; its threshold is a
            # setting, set for this transaction only (a savepoint inside the caller's): pg_trgm's default, 0.6,
            # misses "devolusion" (0.55).
            with transaction.atomic(using=conn.alias):
                cursor.execute("SELECT set_config('pg_trgm.word_similarity_threshold', %s, true)",
                               [str(FUZZY_THRESHOLD)])
                # The planner prices the trigram index's bitmap scan close to a sequential scan of every title and
                # picks the scan: 50 ms at 10,000 articles, against 6 ms through the index. Off for this query only.
                cursor.execute("SELECT set_config('enable_seqscan', 'off', true)")
                # The titles near the query first, on their own (a materialized CTE: the trigram index alone, not
                # a bitmap of the state's index filtered by similarity — 45 ms), then the article's conditions.
                cursor.execute(
                    f"WITH near AS MATERIALIZED (SELECT id FROM {TABLE} WHERE search_title %%> %s) "
                    f"SELECT a.id, word_similarity(%s, a.search_title) AS score FROM near JOIN {TABLE} a "
                    f"ON a.id = near.id WHERE 1 = 1{where}{skip} ORDER BY score DESC, a.id DESC LIMIT %s",
                    [text, text, *params, *exclude, limit])
                rows = [(int(pk), float(score)) for pk, score in cursor.fetchall()]
                # SET LOCAL lasts until the enclosing transaction ends: releasing a savepoint keeps it, rolling it
                # back undoes it. Roll back (nothing was written), so a caller's transaction (a bot step inside an
                # action) never runs its later queries without sequential scans.
                transaction.set_rollback(True, using=conn.alias)
                return rows
        if conn.vendor != "sqlite":
            return []
        grams = sorted({g for w in long_words for g in _trigrams(w, padded=False)})
        match = " OR ".join(f'"{g}"' for g in grams)
        cursor.execute(
            "SELECT a.id, a.search_title FROM (SELECT rowid AS id, rank FROM knowledge_article_title_fts "
            f"WHERE knowledge_article_title_fts MATCH %s ORDER BY rank LIMIT {FUZZY_CANDIDATES}) f "
            f"JOIN {TABLE} a ON a.id = f.id WHERE 1 = 1{where}{skip}", [match, *params, *exclude])
        scored = [(int(pk), title_similarity(words, title)) for pk, title in cursor.fetchall()]
    scored = [(pk, score) for pk, score in scored if score >= FUZZY_THRESHOLD]
    scored.sort(key=lambda row: (-row[1], -row[0]))
    return scored[:limit]


def search_ids(q: str, *, language: str | None = None, limit: int = 5, published_only: bool = True,
               category_id: int | None = None, state: str | None = None,
               conn: BaseDatabaseWrapper | None = None) -> list[tuple[int, float]]:
    """(article id, score) of the best `limit` articles for `q`, best first ([] when `q` has no word)."""
    conn = conn or default_connection
    words = [w[:WORD_MAX] for w in terms(q)]
    limit = max(1, min(limit, MAX_LIMIT))
    if not words:
        return []
    where, params = _conditions(published_only=published_only, language=language, category_id=category_id,
                                state=state, column="a.")
    found = _full_text(conn, words, where, params, limit)
    if len(found) < limit:
        found += _typos(conn, words, where, params, limit=limit - len(found), exclude={pk for pk, _s in found})
    return found


# --- hits ---------------------------------------------------------------------------------------------------

# Bounded: unbounded classes made "[" × 50,000 cost seconds per snippet (each "[" scanned to the end).
_MD_LINK = re.compile(r"!?\[([^\]\n]{0,300})\]\([^)\s]{0,2000}\)")
_MD_MARKS = re.compile(r"<[^>]{0,200}>|[#*_>`|~]+|^\s*[-+]\s+|^\s*\d+\.\s+", re.MULTILINE)


def plain_snippet(body: str, words: Sequence[str], *, size: int = SNIPPET_CHARS) -> str:
    """About `size` characters of `body` without its Markdown marks, around the first of `words` it contains
    (accents and case ignored), with "…" where it was cut. Cheap on purpose: no Markdown rendering per hit."""
    text = " ".join(_MD_MARKS.sub(" ", _MD_LINK.sub(r"\1", body)).split())
    if len(text) <= size:
        return text
    folded = "".join(_fold_char(ch) for ch in text)  # one character for one: positions stay aligned
    at = min((i for i in (folded.find(w) for w in words) if i >= 0), default=0)
    start = max(0, at - size // 3)
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < at else start
    end = min(len(text), start + size)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + size // 2 else end
    return ("…" if start else "") + text[start:end].strip() + ("…" if end < len(text) else "")


def _fold_char(ch: str) -> str:
    base = unicodedata.normalize("NFKD", ch)[:1] or ch
    lowered = base.lower()
    return lowered if len(lowered) == 1 else ch


def public_url(article: Article) -> str:
    """The article's page on the public help site, or "" when that site is off or the article unpublished."""
    if not settings.KNOWLEDGE_PUBLIC_HELP or article.state != ArticleState.PUBLISHED:
        return ""
    path = reverse("help:article", kwargs={"lang": article.language, "slug": article.slug})
    return settings.SITE_URL.rstrip("/") + path


def hits(found: Sequence[tuple[int, float]], q: str, *, published_only: bool = False) -> list[ArticleHit]:
    """The articles of `found` (search_ids), in its order, as ArticleHit (one query); with `published_only`, an
    article taken back to draft since the search is left out."""
    words = terms(q)
    rows = Article.objects.select_related("category")
    if published_only:
        rows = rows.filter(state=ArticleState.PUBLISHED)
    articles = rows.in_bulk([pk for pk, _score in found])
    result = []
    for pk, score in found:
        article = articles.get(pk)
        if article is None:
            continue
        result.append(ArticleHit(id=article.pk, title=article.title, snippet=plain_snippet(article.body, words),
                                 url=public_url(article), score=round(score, 4), language=article.language,
                                 category=article.category.name if article.category else "", state=article.state))
    return result


def search_articles(q: str, *, language: str | None = None, limit: int = 5,
                    published_only: bool = True) -> list[ArticleHit]:
    """The best `limit` articles for `q`, best first: what a bot offers a customer ("knowledge answer"), what the
    composer lists, what `GET /api/v1/kb/search` answers. Published articles only unless `published_only=False`
    (people who edit articles). No permission check: callers decide who may search (the bot answers customers)."""
    return hits(search_ids(q, language=language, limit=limit, published_only=published_only), q,
                published_only=published_only)

