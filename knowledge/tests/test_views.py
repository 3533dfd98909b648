"""The knowledge pages, the composer's picker and the public help pages: wiring, permissions and safety."""

from __future__ import annotations

import pytest
from django.urls import reverse

from inbox import actions as inbox_actions
from knowledge.choices import ArticleState
from knowledge.models import Article, Category
from knowledge.tests.factories import ArticleFactory, CategoryFactory

pytestmark = pytest.mark.django_db

EVIL = ('Hola <script>alert("x")</script><img src=x onerror="alert(1)"> [clic](javascript:alert(2)) '
        '<a href="https://ok.example" onclick="alert(3)">ok</a>')


def test_the_list_shows_published_articles_to_agents_and_drafts_to_editors(agent, supervisor, client_for):
    # given a published article and a draft
    ArticleFactory(title="Garantía")
    ArticleFactory(title="Borrador secreto", state=ArticleState.DRAFT)
    # when each opens the list
    agent_page = client_for(agent).get(reverse("knowledge:list")).content.decode()
    editor_page = client_for(supervisor).get(reverse("knowledge:list")).content.decode()
    # then
    assert "Garantía" in agent_page and "Borrador secreto" not in agent_page
    assert "Borrador secreto" in editor_page and 'data-testid="kb-new"' in editor_page
    assert 'data-testid="kb-new"' not in agent_page
    assert "cards-on-phone" in agent_page  # one card per row on a phone


def test_search_as_you_type_answers_the_results_fragment(agent, client_for):
    ArticleFactory(title="Devoluciones y cambios")
    ArticleFactory(title="Métodos de pago")
    response = client_for(agent).get(reverse("knowledge:list"), {"q": "devolusion"}, HTTP_HX_REQUEST="true",
                                     HTTP_HX_TARGET="div#kb-results")
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert "Devoluciones y cambios" in body and "Métodos de pago" not in body


def test_filters_and_the_empty_state_speak_in_sentences(supervisor, client_for):
    category = CategoryFactory(name="Pagos")
    ArticleFactory(title="Métodos de pago", category=category)
    ArticleFactory(title="Returns", language="en")
    client = client_for(supervisor)
    page = client.get(reverse("knowledge:list"), {"category": category.pk, "language": "es"}).content.decode()
    assert "Métodos de pago" in page and "Returns" not in page
    page = client.get(reverse("knowledge:list"), {"q": "nada parecido"}).content.decode()
    assert "Ningún artículo coincide con la búsqueda o los filtros." in page
    Article.objects.all().delete()
    page = client.get(reverse("knowledge:list")).content.decode()
    assert "Aún no hay artículos." in page


def test_article_content_never_runs_in_a_browser(agent, client_for):
    article = ArticleFactory(title="<script>alert(0)</script>Título", body=EVIL)
    page = client_for(agent).get(reverse("knowledge:detail", args=[article.pk])).content.decode()
    body = page[page.index('data-testid="kb-body"'):]
    body = body[:body.index("</article>")]
    assert "<script" not in body and "onerror" not in body and "onclick" not in body
    assert 'href="javascript' not in body and 'src="javascript' not in body  # the refused link stays as words
    assert 'rel="noopener noreferrer nofollow"' in body
    assert "&lt;script&gt;alert(0)&lt;/script&gt;Título" in page  # the title is text


def test_write_preview_publish_and_delete_through_the_pages(supervisor, client_for):
    client = client_for(supervisor)
    category = CategoryFactory(name="Envíos")
    # the live preview answers sanitized HTML
    preview = client.post(reverse("knowledge:preview"), {"body": "**Gratis** " + EVIL})
    assert preview.status_code == 200
    assert "<strong>Gratis</strong>" in preview.content.decode() and "<script" not in preview.content.decode()
    # a new article
    response = client.post(reverse("knowledge:create"), {"title": "Costos de envío", "body": "Todo el país.",
                                                         "category": category.pk, "language": "es",
                                                         "tags": "envíos", "slug": ""})
    article = Article.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("knowledge:detail", args=[article.pk])
    assert article.state == ArticleState.DRAFT and article.category == category
    # edited, published, unpublished
    client.post(reverse("knowledge:edit", args=[article.pk]), {"title": "Costos de envío", "body": "Nuevo.",
                                                               "language": "es", "category": ""})
    client.post(reverse("knowledge:publish", args=[article.pk]))
    article.refresh_from_db()
    assert (article.body, article.category, article.state) == ("Nuevo.", None, ArticleState.PUBLISHED)
    client.post(reverse("knowledge:unpublish", args=[article.pk]))
    article.refresh_from_db()
    assert article.state == ArticleState.DRAFT
    # deleted
    assert client.post(reverse("knowledge:delete", args=[article.pk])).status_code == 302
    assert not Article.objects.exists()


def test_a_refused_form_keeps_what_was_written(supervisor, client_for):
    response = client_for(supervisor).post(reverse("knowledge:create"), {"title": "", "body": "**Texto**",
                                                                        "language": "es"})
    assert response.status_code == 400
    assert "<strong>Texto</strong>" in response.content.decode()  # the preview of what was written


def test_categories_page(supervisor, client_for):
    client = client_for(supervisor)
    client.post(reverse("knowledge:categories"), {"name": "Pagos", "position": "2"})
    category = Category.objects.get()
    client.post(reverse("knowledge:categories"), {"category_id": category.pk, "name": "Medios de pago",
                                                  "position": "1"})
    category.refresh_from_db()
    assert (category.name, category.position) == ("Medios de pago", 1)
    client.post(reverse("knowledge:category_delete", args=[category.pk]))
    assert not Category.objects.exists()
    # a rename that fails (the name is taken) is said above the table and leaves the "new category" form empty
    Category.objects.create(name="Envíos", slug="envios")
    other = Category.objects.create(name="Pagos", slug="pagos")
    response = client.post(reverse("knowledge:categories"), {"category_id": other.pk, "name": "Envíos",
                                                             "position": "1"}, follow=True)
    other.refresh_from_db()
    assert other.name == "Pagos" and response.context["form"].is_bound is False
    assert any("Envíos" in str(m) or "existe" in str(m) for m in response.context["messages"])
    # an identifier that is not one (a superscript digit, thousands of digits) is never a server error
    for odd in ("²", "9" * 5000):
        response = client.post(reverse("knowledge:categories"), {"category_id": odd, "name": f"Otra {len(odd)}",
                                                                 "position": "1"})
        assert response.status_code < 500


@pytest.mark.parametrize("name", ["knowledge:create", "knowledge:categories"])
def test_agents_cannot_open_the_editor(agent, client_for, name):
    assert client_for(agent).get(reverse(name)).status_code == 403


def test_agents_cannot_change_articles(agent, client_for):
    article = ArticleFactory()
    client = client_for(agent)
    for name in ("knowledge:publish", "knowledge:unpublish", "knowledge:delete", "knowledge:edit"):
        assert client.post(reverse(name, args=[article.pk])).status_code == 403, name
    assert client.post(reverse("knowledge:preview"), {"body": "x"}).status_code == 403


def test_the_menu_has_the_knowledge_base(agent, client_for):
    page = client_for(agent).get(reverse("knowledge:list")).content.decode()
    assert f'href="{reverse("knowledge:list")}"' in page and 'data-nav="knowledge:list"' in page


# --- the composer ---------------------------------------------------------------------------------------------

@pytest.fixture
def conversation(agent):
    c, _m, _new = inbox_actions.do_receive_inbound(channel="whatsapp", body="¿Cómo devuelvo un producto?",
                                                   customer_name="Lucía Peña", phones=["+573001112233"])
    c.assignee = agent
    c.save(update_fields=["assignee"])
    return c


def test_the_composer_has_the_article_picker(agent, client_for, conversation):
    page = client_for(agent).get(reverse("inbox:detail", args=[conversation.pk])).content.decode()
    assert 'data-testid="kb-search"' in page
    assert reverse("knowledge:picker") in page
    assert "knowledge/composer.js" in page


def test_the_composer_picker_is_not_offered_to_who_cannot_answer(make_user, client_for, conversation):
    colleague = make_user("agente")
    response = client_for(colleague).get(reverse("inbox:detail", args=[conversation.pk]))
    assert 'data-testid="kb-search"' not in response.content.decode()


def test_the_picker_lists_published_articles_and_inserts_plain_text(agent, client_for, settings):
    settings.KNOWLEDGE_PUBLIC_HELP = True
    article = ArticleFactory(title="Devoluciones y cambios", slug="devoluciones",
                             body="Tiene **30 días**.\n\n- Empaque el producto\n- Pida la guía")
    ArticleFactory(title="Devoluciones en borrador", state=ArticleState.DRAFT)
    client = client_for(agent)
    fragment = client.get(reverse("knowledge:picker"), {"q": "devolucion"}).content.decode()
    assert "Devoluciones y cambios" in fragment and "borrador" not in fragment
    assert 'data-kb-insert="link"' in fragment
    data = client.get(reverse("knowledge:for_reply", args=[article.pk])).json()
    assert data["text"] == "Tiene 30 días.\n\n- Empaque el producto\n- Pida la guía"
    assert data["url"] == settings.SITE_URL.rstrip("/") + "/ayuda/es/devoluciones/"


def test_the_picker_answers_a_sentence_when_nothing_matches(agent, client_for):
    fragment = client_for(agent).get(reverse("knowledge:picker"), {"q": "zzzz"}).content.decode()
    assert "Ningún artículo publicado habla de «zzzz»." in fragment


def test_a_draft_is_never_inserted(supervisor, client_for):
    draft = ArticleFactory(state=ArticleState.DRAFT)
    assert client_for(supervisor).get(reverse("knowledge:for_reply", args=[draft.pk])).status_code == 404


# --- the public help pages ------------------------------------------------------------------------------------

def test_public_help_lists_published_articles_by_category_without_login(client, settings):
    settings.KNOWLEDGE_PUBLIC_HELP = True
    shipping = CategoryFactory(name="Envíos", position=1)
    ArticleFactory(title="Costos de envío", slug="costos", category=shipping, body=EVIL)
    ArticleFactory(title="Borrador oculto", slug="oculto", state=ArticleState.DRAFT)
    ArticleFactory(title="Shipping costs", slug="shipping", language="en")
    index = client.get("/ayuda/es/")
    assert index.status_code == 200
    page = index.content.decode()
    assert "Costos de envío" in page and "Envíos" in page
    assert "Borrador oculto" not in page and "Shipping costs" not in page
    article = client.get("/ayuda/es/costos/").content.decode()
    assert "Costos de envío" in article and "<script>alert" not in article and "onerror" not in article
    assert client.get("/ayuda/es/oculto/").status_code == 404  # a draft is not public
    english = client.get("/ayuda/en/").content.decode()
    assert "Shipping costs" in english and 'lang="en"' in english


def test_public_help_is_off_by_default(client, settings):
    settings.KNOWLEDGE_PUBLIC_HELP = False
    ArticleFactory(slug="costos")
    assert client.get("/ayuda/es/").status_code == 404
    assert client.get("/ayuda/es/costos/").status_code == 404
    settings.KNOWLEDGE_PUBLIC_HELP = True
    assert client.get("/ayuda/fr/").status_code == 404
