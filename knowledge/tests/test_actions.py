"""Actions of the knowledge base: saving, the state machine and its history, deleting, categories; audit entries and
domain events after commit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from core.errors import ActionError, ConflictError, InvalidTransition, NotFoundError, PermissionDeniedError
from core.models import AuditLog, EventLog
from knowledge import actions
from knowledge.actions import ArticleInput
from knowledge.choices import ARTICLE_TRANSITIONS, ArticleState
from knowledge.models import Article, ArticleTransition
from knowledge.tests.factories import ArticleFactory, CategoryFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def _write(user, **fields):
    return actions.check_save_article(user, article_id=None, data=ArticleInput(**fields))


def test_a_new_article_is_a_draft_by_its_author_with_a_slug_and_normalised_tags(supervisor,
                                                                                 django_capture_on_commit_callbacks):
    # given a category
    category = CategoryFactory(name="Envíos")
    # when a supervisor writes an article
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True) as callbacks:
        article = _write(supervisor, title="  Costos de envío ", body="Enviamos a **todo** el país.",
                         category_id=category.pk, tags=" Envíos, devoluciones ,envíos,, ", language="es")
    # then it is stored as a draft, folded for search, with one audit entry and one event after commit
    article.refresh_from_db()
    assert (article.title, article.state, article.author, article.category) == (
        "Costos de envío", ArticleState.DRAFT, supervisor, category)
    assert article.slug == "costos-de-envio"
    assert article.search_title == "costos de envio"
    assert article.tags == "envíos,devoluciones"
    assert article.created_at == article.updated_at == NOW
    assert AuditLog.objects.filter(action="article.created", target_id=str(article.pk)).count() == 1
    event = EventLog.objects.get(type="article.saved")
    assert event.payload == {"article_id": article.pk, "title": "Costos de envío", "language": "es",
                             "state": "borrador", "created": True}
    assert callbacks  # delivered after commit


def test_slugs_stay_unique_per_language(supervisor):
    # given an article with the title
    first = _write(supervisor, title="Garantía", body="12 meses.")
    # when another article of the same language gets the same title, and one in English too
    second = _write(supervisor, title="Garantía", body="Otra.")
    english = _write(supervisor, title="Garantía", body="Warranty.", language="en")
    # then the second one's address is numbered; the other language keeps its own
    assert (first.slug, second.slug, english.slug) == ("garantia", "garantia-2", "garantia")
    # and an explicit slug already taken is refused with 409
    with pytest.raises(ConflictError) as refused:
        actions.check_save_article(supervisor, article_id=second.pk, data=ArticleInput(slug="garantia"))
    assert refused.value.code == "slug_taken"


def test_every_problem_is_reported_at_once(supervisor):
    # when an article is written with several mistakes
    with pytest.raises(ActionError) as refused:
        _write(supervisor, title="   ", body="x", category_id=999_999, language="fr", tags=["a" * 41])
    # then every field is named, and nothing is stored
    assert refused.value.code == "invalid_article"
    assert set(refused.value.details["errors"]) == {"title", "category", "language", "tags"}
    assert not Article.objects.exists()


def test_only_those_who_manage_write(agent):
    with pytest.raises(PermissionDeniedError):
        _write(agent, title="Devoluciones", body="30 días.")


def test_publish_and_unpublish_follow_the_table_and_keep_history(supervisor, django_capture_on_commit_callbacks):
    # given a draft
    article = _write(supervisor, title="Métodos de pago", body="Tarjeta, PSE y contraentrega.")
    # when it is published, then taken back to draft
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        actions.check_publish(supervisor, article_id=article.pk)
        actions.check_unpublish(supervisor, article_id=article.pk)
    # then each move has its history row, event and audit entry
    article.refresh_from_db()
    assert article.state == ArticleState.DRAFT
    assert article.published_at == NOW and article.updated_at == NOW  # the list's "updated" counts the moves
    assert list(ArticleTransition.objects.values_list("from_state", "to_state", "actor")) == [
        ("borrador", "publicado", supervisor.pk), ("publicado", "borrador", supervisor.pk)]
    assert [e.payload["to_state"] for e in EventLog.objects.filter(type="article.state_changed").order_by("pk")] == [
        "publicado", "borrador"]
    assert list(AuditLog.objects.filter(action__startswith="article.").exclude(action="article.created")
                .order_by("pk").values_list("action", flat=True)) == ["article.published", "article.unpublished"]


def test_a_move_to_the_same_state_is_refused_and_changes_nothing(supervisor):
    # given a published article
    article = ArticleFactory()
    # when it is published again / then 409 and no history
    with pytest.raises(ConflictError) as refused:
        actions.check_publish(supervisor, article_id=article.pk)
    assert refused.value.code == "already_published"
    assert not ArticleTransition.objects.exists()


def test_the_transition_function_refuses_what_the_table_forbids(supervisor, monkeypatch):
    # given a table where a draft cannot be published
    monkeypatch.setitem(ARTICLE_TRANSITIONS, ArticleState.DRAFT, frozenset())
    article = ArticleFactory(state=ArticleState.DRAFT)
    # when / then
    with pytest.raises(InvalidTransition):
        actions.do_transition_article(article, to=ArticleState.PUBLISHED, acting_user=supervisor)


def test_an_article_without_text_is_not_published(supervisor):
    article = _write(supervisor, title="Horarios de atención", body="")
    with pytest.raises(ActionError) as refused:
        actions.check_publish(supervisor, article_id=article.pk)
    assert refused.value.code == "empty_article"


def test_agents_read_published_articles_only(agent):
    # given a draft and a published article
    draft = ArticleFactory(state=ArticleState.DRAFT)
    published = ArticleFactory()
    # then an agent reads the published one; the draft does not exist for them
    assert actions.access_article(agent, article_id=published.pk) == published
    with pytest.raises(NotFoundError):
        actions.access_article(agent, article_id=draft.pk)
    assert list(actions.visible_articles(agent)) == [published]


def test_delete_leaves_an_audit_entry_and_an_event(supervisor, django_capture_on_commit_callbacks):
    # given an article with history
    article = _write(supervisor, title="Garantía", body="12 meses.")
    actions.check_publish(supervisor, article_id=article.pk)
    # when it is deleted
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_delete(supervisor, article_id=article.pk)
    # then it is gone with its history; the audit log and the event log keep it
    assert not Article.objects.exists() and not ArticleTransition.objects.exists()
    assert AuditLog.objects.get(action="article.deleted").changes == {"title": "Garantía", "state": "publicado"}
    assert EventLog.objects.get(type="article.deleted").payload["article_id"] == article.pk


def test_categories_are_saved_renamed_and_deleted_leaving_their_articles(supervisor):
    # given a category with an article
    category = actions.check_save_category(supervisor, category_id=None, name="  Envios ")
    article = _write(supervisor, title="Costos de envío", body="…", category_id=category.pk)
    # when it is renamed, a duplicate name is tried, and it is deleted
    actions.check_save_category(supervisor, category_id=category.pk, name="Envíos", position=3)
    with pytest.raises(ConflictError):
        actions.check_save_category(supervisor, category_id=None, name="envíos")
    actions.check_delete_category(supervisor, category_id=category.pk)
    # then the article stays, without a category
    article.refresh_from_db()
    assert article.category is None
    assert list(AuditLog.objects.filter(action__startswith="article_category.").order_by("pk")
                .values_list("action", flat=True)) == [
        "article_category.saved", "article_category.saved", "article_category.deleted"]


def test_editing_keeps_what_is_not_given(supervisor):
    # given an article
    category = CategoryFactory()
    article = _write(supervisor, title="Devoluciones", body="30 días.", category_id=category.pk, tags="cambios")
    # when only its text changes
    actions.check_save_article(supervisor, article_id=article.pk, data=ArticleInput(body="Ahora 45 días."))
    # then the rest is kept; category_id 0 clears the category
    article.refresh_from_db()
    assert (article.title, article.body, article.category, article.tags) == (
        "Devoluciones", "Ahora 45 días.", category, "cambios")
    actions.check_save_article(supervisor, article_id=article.pk, data=ArticleInput(category_id=0))
    article.refresh_from_db()
    assert article.category is None


def test_the_demo_seeds_published_articles_in_both_languages(supervisor):
    # given an installation with a supervisor and no articles
    from io import StringIO
    from random import Random

    from django.core.management.base import OutputWrapper

    from knowledge.demo import seed_articles

    # when the demo seeder runs twice
    seed_articles(Random(1), "small", OutputWrapper(StringIO()))
    seed_articles(Random(1), "small", OutputWrapper(StringIO()))
    # then five Spanish and two English articles are published once, in categories
    assert Article.objects.filter(state=ArticleState.PUBLISHED, language="es").count() == 5
    assert Article.objects.filter(state=ArticleState.PUBLISHED, language="en").count() == 2
    assert not Article.objects.filter(category__isnull=True).exists()
