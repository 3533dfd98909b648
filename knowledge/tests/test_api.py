"""/api/v1/kb/…: the same actions and search as the pages; bad input is a clear 4xx."""

from __future__ import annotations

import pytest

from knowledge.choices import ArticleState
from knowledge.models import Article
from knowledge.tests.factories import ArticleFactory, CategoryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sup_api(supervisor, api_client_for):
    return api_client_for(supervisor)


@pytest.fixture
def agent_api(agent, api_client_for):
    return api_client_for(agent)


def post(client, path, body=None):
    return client.post(path, data=body, content_type="application/json")


def test_write_publish_and_find_an_article(sup_api, settings):
    # given the public help pages on and a category
    settings.KNOWLEDGE_PUBLIC_HELP = True
    category = CategoryFactory(name="Envíos")
    # when an article is written and published through the API
    created = post(sup_api, "/api/v1/kb/articles", {
        "title": "Costos de envío", "body": "Enviamos a **todo** el país.", "category": category.pk,
        "tags": ["Envíos", "Tarifas"], "language": "es"})
    assert created.status_code == 201, created.content
    article = created.json()
    assert (article["state"], article["slug"], article["tags"], article["category"]["name"], article["url"]) == (
        "borrador", "costos-de-envio", ["envíos", "tarifas"], "Envíos", "")
    published = post(sup_api, f"/api/v1/kb/articles/{article['id']}/publish")
    assert published.status_code == 200
    assert published.json()["url"].endswith("/ayuda/es/costos-de-envio/")
    # then the search finds it without the accent
    found = sup_api.get("/api/v1/kb/search?q=envio&limit=3")
    assert found.status_code == 200
    assert [h["title"] for h in found.json()] == ["Costos de envío"]
    assert set(found.json()[0]) == {"id", "title", "snippet", "url", "score", "language", "category"}


def test_patch_keeps_absent_fields_and_null_clears_the_category(sup_api):
    article = ArticleFactory(category=CategoryFactory(), tags="a,b")
    response = sup_api.patch(f"/api/v1/kb/articles/{article.pk}", data={"body": "Nuevo texto."},
                             content_type="application/json")
    assert response.status_code == 200
    assert response.json()["tags"] == ["a", "b"] and response.json()["category"] is not None
    response = sup_api.patch(f"/api/v1/kb/articles/{article.pk}", data={"category": None},
                             content_type="application/json")
    assert response.json()["category"] is None


def test_list_filters_and_search(sup_api, agent_api):
    # given published and draft articles in two languages
    ArticleFactory(title="Devoluciones y cambios", language="es")
    ArticleFactory(title="Returns and exchanges", language="en")
    ArticleFactory(title="Borrador de garantía", state=ArticleState.DRAFT)
    # then editors see drafts, agents do not
    assert sup_api.get("/api/v1/kb/articles").json()["count"] == 3
    assert agent_api.get("/api/v1/kb/articles").json()["count"] == 2
    assert agent_api.get("/api/v1/kb/articles?state=borrador").json()["count"] == 0
    assert [a["title"] for a in sup_api.get("/api/v1/kb/articles?language=en").json()["results"]] == [
        "Returns and exchanges"]
    assert [a["title"] for a in sup_api.get("/api/v1/kb/articles?q=devolusion").json()["results"]] == [
        "Devoluciones y cambios"]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("post", "/api/v1/kb/articles", {"title": "   "}, 400, None),
    ("post", "/api/v1/kb/articles", {"title": "x", "language": "fr"}, 400, None),
    ("post", "/api/v1/kb/articles", {"title": "x", "category": 987654}, 400, "invalid_article"),
    ("post", "/api/v1/kb/articles", {"title": "x", "slug": "Con Espacios"}, 400, None),
    ("post", "/api/v1/kb/articles", {"title": "x", "unknown": 1}, 400, None),
    ("post", "/api/v1/kb/articles", {"title": "x" * 201}, 400, None),
    ("post", "/api/v1/kb/articles", {"title": "x", "tags": ["t"] * 21}, 400, None),
    ("get", "/api/v1/kb/articles/987654", None, 404, "article_not_found"),
    ("get", "/api/v1/kb/articles/0", None, 400, None),
    ("get", "/api/v1/kb/search?limit=0", None, 400, None),
    ("get", "/api/v1/kb/search?limit=21", None, 400, None),
    ("get", "/api/v1/kb/search?language=fr", None, 400, None),
    ("get", "/api/v1/kb/articles?state=archivado", None, 400, None),
    ("get", "/api/v1/kb/articles?category=abc", None, 400, None),
])
def test_bad_input_is_a_clear_4xx(sup_api, method, path, body, status, code):
    response = (post(sup_api, path, body) if method == "post" else sup_api.get(path))
    assert response.status_code == status, response.content
    assert response.json()["detail"]
    if code:
        assert response.json()["code"] == code


def test_state_conflicts_are_409(sup_api):
    article = ArticleFactory()
    response = post(sup_api, f"/api/v1/kb/articles/{article.pk}/publish")
    assert response.status_code == 409 and response.json()["code"] == "already_published"
    taken = ArticleFactory(slug="garantia")
    response = sup_api.patch(f"/api/v1/kb/articles/{article.pk}", data={"slug": taken.slug},
                             content_type="application/json")
    assert response.status_code == 409 and response.json()["code"] == "slug_taken"


def test_agents_read_but_do_not_write(agent_api):
    article = ArticleFactory()
    assert agent_api.get(f"/api/v1/kb/articles/{article.pk}").status_code == 200
    assert agent_api.get("/api/v1/kb/search?q=articulo").status_code == 200
    assert post(agent_api, "/api/v1/kb/articles", {"title": "x"}).status_code == 403
    assert post(agent_api, f"/api/v1/kb/articles/{article.pk}/unpublish").status_code == 403
    assert agent_api.delete(f"/api/v1/kb/articles/{article.pk}").status_code == 403
    draft = ArticleFactory(state=ArticleState.DRAFT)
    assert agent_api.get(f"/api/v1/kb/articles/{draft.pk}").status_code == 404


def test_delete(sup_api):
    article = ArticleFactory()
    assert sup_api.delete(f"/api/v1/kb/articles/{article.pk}").status_code == 204
    assert not Article.objects.exists()


def test_list_query_count_is_flat(sup_api, django_assert_max_num_queries):
    ArticleFactory.create_batch(30, category=CategoryFactory())
    with django_assert_max_num_queries(6):
        response = sup_api.get("/api/v1/kb/articles?page_size=50")
    assert response.json()["count"] == 30
