"""Search of the knowledge base (knowledge/search.py) through the database's own indexes. Run on both databases:
SQLite (FTS5 tables kept by triggers) and PostgreSQL (tsvector GIN + pg_trgm):

    pytest knowledge/tests/test_search.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test pytest knowledge/tests/test_search.py
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from knowledge import search
from knowledge.choices import ArticleState
from knowledge.search import plain_snippet, search_articles, title_similarity
from knowledge.tests.factories import ArticleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def articles() -> dict[str, Any]:
    return {
        "returns": ArticleFactory(title="Devoluciones y cambios", body="Tiene **30 días** para devolver un producto. "
                                  "Le enviamos una guía y la transportadora lo recoge sin costo."),
        "shipping": ArticleFactory(title="Costos y tiempos de envío", body="Enviamos a todo el país: de 1 a 3 días "
                                   "hábiles en ciudades principales."),
        "payments": ArticleFactory(title="Métodos de pago", body="Tarjeta, PSE, Nequi y pago contraentrega. Si "
                                   "quiere una devolución del dinero, se hace al mismo medio de pago."),
        "warranty": ArticleFactory(title="Garantía", body="12 meses por defectos de fábrica."),
        "hours": ArticleFactory(title="Horarios de atención", body="Lunes a viernes de 8 a 18 h."),
        "english": ArticleFactory(title="Returns and exchanges", body="30 days to return a product.", language="en"),
        "draft": ArticleFactory(title="Devoluciones internacionales", body="Borrador sin publicar.",
                                state=ArticleState.DRAFT),
    }


def titles(q: str, **kwargs: Any) -> list[str]:
    return [hit.title for hit in search_articles(q, **kwargs)]


@pytest.mark.parametrize("q", ["devolucion", "devoluciones", "DEVOLUCIÓN", "devolución y cambios"])
def test_accents_and_case_do_not_matter(articles, q):
    assert titles(q)[0] == "Devoluciones y cambios"


@pytest.mark.parametrize(("q", "expected"), [("envio", "Costos y tiempos de envío"),
                                             ("garantia", "Garantía"),
                                             ("metodos de pago", "Métodos de pago"),
                                             ("atencion", "Horarios de atención")])
def test_words_without_accents_find_titles_with_them(articles, q, expected):
    assert titles(q)[0] == expected


@pytest.mark.parametrize("q", ["devolusion", "devoluciónes", "devolucones y cambios"])
def test_a_typo_in_a_title_word_still_finds_the_article(articles, q):
    # words that match nothing exactly: the title's trigrams (pg_trgm / the FTS5 trigram table) carry it
    assert "Devoluciones y cambios" in titles(q)


def test_a_typo_does_not_find_unrelated_articles(articles):
    assert titles("devolusion") == ["Devoluciones y cambios"]
    assert titles("zzzzqqq") == []


def test_a_typo_search_leaves_the_callers_transaction_as_it_was(articles):
    # given a caller's transaction (a bot step runs inside an action's) on PostgreSQL, where the typo search turns
    # off sequential scans and lowers the similarity threshold for its own statement
    from django.db import transaction

    if connection.vendor != "postgresql":
        assert titles("devolusion") == ["Devoluciones y cambios"]  # SQLite sets nothing; the search still works
        return
    with transaction.atomic(), connection.cursor() as cursor:
        # when it searches with a typo
        assert titles("devolusion") == ["Devoluciones y cambios"]
        # then the settings are back to the server's for the rest of that transaction
        cursor.execute("SHOW enable_seqscan")
        assert cursor.fetchone()[0] == "on"
        cursor.execute("SHOW pg_trgm.word_similarity_threshold")
        assert cursor.fetchone()[0] == "0.6"


@pytest.mark.parametrize(("q", "expected"), [("garan", "Garantía"), ("costos de env", "Costos y tiempos de envío"),
                                             ("horar", "Horarios de atención")])
def test_the_last_word_is_a_prefix_while_typing(articles, q, expected):
    assert titles(q)[0] == expected


def test_title_matches_rank_above_body_matches(articles):
    # "devolución" is in the returns article's title and in the payments article's text
    found = search_articles("devolución")
    assert [h.title for h in found] == ["Devoluciones y cambios", "Métodos de pago"]
    assert found[0].score > found[1].score


def test_published_only_by_default_drafts_for_editors(articles):
    assert "Devoluciones internacionales" not in titles("devoluciones")
    assert "Devoluciones internacionales" in titles("devoluciones", published_only=False)


def test_language_and_limit(articles):
    assert titles("return", language="en") == ["Returns and exchanges"]
    assert titles("devoluciones", language="en") == []
    assert len(search_articles("de", limit=2)) == 2


def test_hits_carry_what_a_bot_needs(articles, settings):
    # given the public help pages on
    settings.KNOWLEDGE_PUBLIC_HELP = True
    settings.SITE_URL = "https://tienda.example"
    # when
    (hit,) = search_articles("garantia")
    # then
    assert hit.id == articles["warranty"].pk
    assert hit.url == f"https://tienda.example/ayuda/es/{articles['warranty'].slug}/"
    assert hit.snippet == "12 meses por defectos de fábrica."
    assert hit.language == "es" and hit.state == "publicado" and hit.score > 0


def test_no_public_link_when_the_help_pages_are_off(articles, settings):
    settings.KNOWLEDGE_PUBLIC_HELP = False
    assert [h.url for h in search_articles("garantia")] == [""]


def test_edits_and_deletes_reach_the_index(articles):
    # when an article's title changes and another is deleted
    article = articles["hours"]
    article.title = "Horario de la tienda"
    article.save()
    articles["warranty"].delete()
    # then the search follows (triggers on SQLite, the expression index on PostgreSQL)
    assert titles("tienda") == ["Horario de la tienda"]
    assert titles("atencion") == []
    assert titles("garantia") == []


@pytest.mark.parametrize("q", ["", "   ", "¿?", "\"", "*", "' OR 1=1 --", "a AND b OR NOT c", "dev*lu(ción)", "%_"])
def test_odd_queries_never_fail(articles, q):
    assert isinstance(search_articles(q), list)


def test_the_schema_is_there_after_migrate():
    # the migration (and post_migrate) built it; running it again creates nothing
    assert search.ensure_search_schema(connection) == []


def test_title_similarity_is_pg_trgm_word_similarity():
    assert title_similarity(["devolusion"], "devoluciones y cambios") == pytest.approx(7 / 11)
    assert title_similarity(["envio"], "costos de envio") == 1.0
    assert title_similarity(["de"], "costos de envio") == 0.0  # too short to be a typo


def test_snippets_are_plain_text_around_the_word():
    body = ("## Plazos\n\n" + "Texto de relleno. " * 20
            + "El **reembolso** se hace en [5 a 10 días](https://x.example) hábiles. " + "Más relleno. " * 20)
    snippet = plain_snippet(body, ["reembolso"])
    assert "reembolso" in snippet and "**" not in snippet and "](" not in snippet and "#" not in snippet
    assert snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet) <= search.SNIPPET_CHARS + 2
