"""Every write of the knowledge base: save an article (create or edit), publish it, take it back to draft, delete
it; save and delete categories. The one transition function of an article's state machine lives here. Views, the
API and the demo seeder call these; the composer and the bot only read (knowledge.search)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.roles import Perm
from core import audit
from core.errors import ActionError, ConflictError, InvalidTransition, NotFoundError
from core.events import emit
from core.perms import require_perm
from core.validators import text_error
from customers.choices import Language
from knowledge import search
from knowledge.choices import ARTICLE_TRANSITIONS, ArticleState
from knowledge.events import ArticleDeleted, ArticleSaved, ArticleStateChanged
from knowledge.models import (
    BODY_MAX,
    SLUG_MAX,
    TAG_MAX,
    TAGS_MAX,
    TITLE_MAX,
    Article,
    ArticleTransition,
    Category,
)

CATEGORY_NAME_MAX = 80


@dataclass
class ArticleInput:
    """What a person (or the API) writes of an article; None leaves a field as it is (PATCH). `category_id` 0
    clears the category; `slug` "" makes one from the title."""

    title: str | None = None
    body: str | None = None
    category_id: int | None = None
    tags: list[str] | str | None = None
    language: str | None = None
    slug: str | None = None


def can_manage(user: User) -> bool:
    return user.has_perm_code(Perm.KNOWLEDGE_MANAGE)


def visible_articles(user: User) -> QuerySet[Article]:
    """The articles `user` may read: every one for those who edit them, the published ones for everyone else."""
    qs = Article.objects.all()
    return qs if can_manage(user) else qs.filter(state=ArticleState.PUBLISHED)


def matching_articles(user: User, *, q: str, category_id: int | None, language: str | None, state: str | None,
                      limit: int) -> list[Article] | QuerySet[Article]:
    """What the list page and `GET /kb/articles` show: with words, the best `limit` by relevance (knowledge.search);
    without, every article the user may read, newest change first (a queryset, for the API's pages). Those who do
    not edit articles see published ones only, whatever the state asked."""
    manage = can_manage(user)
    if q.strip():
        found = search.search_ids(q, language=language or None, limit=limit, published_only=not manage,
                                  category_id=category_id, state=state or None)
        by_id = Article.objects.select_related("category", "author").in_bulk([pk for pk, _s in found])
        return [by_id[pk] for pk, _s in found if pk in by_id]
    qs = visible_articles(user).select_related("category", "author")
    if category_id is not None:
        qs = qs.filter(category_id=category_id)
    if language:
        qs = qs.filter(language=language)
    if state:
        qs = qs.filter(state=state)
    return qs.order_by("-updated_at", "-id")


def access_article(acting_user: User, *, article_id: int, lock: bool = False) -> Article:
    """The article, if `acting_user` may read it (a draft only for those who edit articles); 404 otherwise."""
    require_perm(acting_user, Perm.KNOWLEDGE_VIEW)
    qs = visible_articles(acting_user).select_related("category", "author")
    if lock:
        qs = qs.select_for_update(of=("self",))
    article = qs.filter(pk=article_id).first()
    if article is None:
        raise NotFoundError("article_not_found", _("El artículo no existe."))
    return article


def normalize_tags(raw: list[str] | str) -> str:
    """Tags as stored: lower case, single spaces, no commas inside, no duplicates, in the order given."""
    items = raw.split(",") if isinstance(raw, str) else raw
    seen: dict[str, None] = {}
    for item in items:
        tag = " ".join(str(item).replace(",", " ").split()).lower()
        if tag:
            seen.setdefault(tag, None)
    return ",".join(seen)


def _unique_slug(base: str, *, language: str, exclude: int | None) -> str:
    base = (slugify(base)[:SLUG_MAX].strip("-") or "articulo")
    qs = Article.objects.filter(language=language, slug__startswith=base[:SLUG_MAX - 5])
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    taken = set(qs.values_list("slug", flat=True))
    candidate, n = base, 2
    while candidate in taken:
        suffix = f"-{n}"
        candidate = base[:SLUG_MAX - len(suffix)] + suffix
        n += 1
    return candidate


def _apply(article: Article, data: ArticleInput, errors: dict[str, str]) -> None:
    if data.title is not None:
        title = data.title.strip()
        error = text_error(title, label=_("El título"), max_length=TITLE_MAX)
        if error or not title:
            errors["title"] = error or _("Escriba un título.")
        article.title = title
    elif not article.title:
        errors["title"] = _("Escriba un título.")
    if data.body is not None:
        body = data.body.strip()
        error = text_error(body, label=_("El texto"), max_length=BODY_MAX)
        if error:
            errors["body"] = error
        article.body = body
    if data.language is not None:
        if data.language not in Language.values:
            errors["language"] = _("Idioma desconocido: use es o en.")
        else:
            article.language = data.language
    if data.category_id is not None:
        if data.category_id == 0:
            article.category = None
        else:
            category = Category.objects.filter(pk=data.category_id).first()
            if category is None:
                errors["category"] = _("La categoría no existe.")
            else:
                article.category = category
    if data.tags is not None:
        tags = normalize_tags(data.tags)
        too_long = [t for t in tags.split(",") if len(t) > TAG_MAX]
        error = text_error(tags, label=_("Las etiquetas"))
        if error:
            errors["tags"] = error
        elif too_long:
            errors["tags"] = _("Cada etiqueta tiene a lo sumo %(n)s caracteres.") % {"n": TAG_MAX}
        elif tags and len(tags.split(",")) > TAGS_MAX:
            errors["tags"] = _("A lo sumo %(n)s etiquetas.") % {"n": TAGS_MAX}
        article.tags = tags
    if data.slug is not None and data.slug.strip():
        slug = slugify(data.slug.strip())[:SLUG_MAX].strip("-")
        if not slug:
            errors["slug"] = _("El identificador lleva letras sin tildes, números o guiones.")
        article.slug = slug


def _snapshot(article: Article) -> dict[str, Any]:
    return {"title": article.title, "category": article.category.name if article.category else None,
            "language": article.language, "tags": article.tags, "slug": article.slug,
            "body": f"{len(article.body)}"}


@transaction.atomic
def check_save_article(acting_user: User, *, article_id: int | None, data: ArticleInput) -> Article:
    """Creates an article (a draft, written by `acting_user`) or edits one; every problem at once, in `errors`.
    Editing a published article changes what everybody reads at once. Emits `article.saved` after commit."""
    require_perm(acting_user, Perm.KNOWLEDGE_MANAGE)
    if article_id is None:
        article = Article(author=acting_user, language=Language.SPANISH)
        before: dict[str, Any] = {}
    else:
        article = access_article(acting_user, article_id=article_id, lock=True)
        before = _snapshot(article)
    errors: dict[str, str] = {}
    _apply(article, data, errors)
    if errors:
        raise ActionError("invalid_article", " ".join(errors.values()), errors=errors)
    if not article.slug or (data.slug is not None and not data.slug.strip()):
        article.slug = _unique_slug(article.title, language=article.language, exclude=article.pk)
    elif Article.objects.filter(language=article.language, slug=article.slug).exclude(pk=article.pk).exists():
        raise ConflictError("slug_taken", _("Otro artículo en ese idioma ya usa el identificador «%s».")
                            % article.slug, field="slug")
    article.updated_at = timezone.now()
    try:
        with transaction.atomic():
            article.save()
    except IntegrityError:  # a concurrent save took the same slug
        raise ConflictError("slug_taken", _("Otro artículo en ese idioma ya usa el identificador «%s».")
                            % article.slug, field="slug") from None
    after = _snapshot(article)
    audit.record(actor=acting_user, action="article.created" if not before else "article.updated",
                 target=article, changes={k: [before.get(k), v] for k, v in after.items() if before.get(k) != v})
    emit(ArticleSaved(article_id=article.pk, title=article.title, language=article.language, state=article.state,
                      created=not before), actor=acting_user)
    return article


def do_transition_article(article: Article, *, to: ArticleState, acting_user: User | None) -> bool:
    """The one transition function of articles (the caller holds the row lock): nothing when the article is
    already in `to` (False); InvalidTransition (409) when the table forbids the move; otherwise the new state, a
    history row and `article.state_changed` after commit (True)."""
    current = ArticleState(article.state)
    if current == to:
        return False
    if to not in ARTICLE_TRANSITIONS[current]:
        raise InvalidTransition("invalid_transition", _("Un artículo %(a)s no puede pasar a %(b)s.")
                                % {"a": current.label.lower(), "b": to.label.lower()})
    now = timezone.now()
    article.state, article.updated_at = to.value, now  # the list's "updated" and its order count a state change
    if to == ArticleState.PUBLISHED:
        article.published_at = now
    article.save(update_fields=["state", "published_at", "updated_at"])
    ArticleTransition.objects.create(article=article, from_state=current.value, to_state=to.value,
                                     actor=acting_user, at=now)
    emit(ArticleStateChanged(article_id=article.pk, title=article.title, language=article.language,
                             from_state=current.value, to_state=to.value), actor=acting_user)
    return True


@transaction.atomic
def check_publish(acting_user: User, *, article_id: int) -> Article:
    """Publishes a draft: the bot, the composer and the public help page offer it from now on. 409
    `already_published` when it is."""
    require_perm(acting_user, Perm.KNOWLEDGE_MANAGE)
    article = access_article(acting_user, article_id=article_id, lock=True)
    if not article.body.strip():
        raise ActionError("empty_article", _("Escriba el texto del artículo antes de publicarlo."), field="body")
    if not do_transition_article(article, to=ArticleState.PUBLISHED, acting_user=acting_user):
        raise ConflictError("already_published", _("El artículo ya está publicado."))
    audit.record(actor=acting_user, action="article.published", target=article, changes={})
    return article


@transaction.atomic
def check_unpublish(acting_user: User, *, article_id: int) -> Article:
    """Takes a published article back to draft: out of the bot's, the composer's and the public page's sight."""
    require_perm(acting_user, Perm.KNOWLEDGE_MANAGE)
    article = access_article(acting_user, article_id=article_id, lock=True)
    if not do_transition_article(article, to=ArticleState.DRAFT, acting_user=acting_user):
        raise ConflictError("already_draft", _("El artículo ya es un borrador."))
    audit.record(actor=acting_user, action="article.unpublished", target=article, changes={})
    return article


@transaction.atomic
def check_delete(acting_user: User, *, article_id: int) -> None:
    """Deletes an article and its history (the audit log keeps who deleted it). Emits `article.deleted`."""
    require_perm(acting_user, Perm.KNOWLEDGE_MANAGE)
    article = access_article(acting_user, article_id=article_id, lock=True)
    audit.record(actor=acting_user, action="article.deleted", target=article,
                 changes={"title": article.title, "state": article.state})
    emit(ArticleDeleted(article_id=article.pk, title=article.title, language=article.language), actor=acting_user)
    article.delete()


# --- categories -------------------------------------------------------------------------------------------------

def access_category(acting_user: User, *, category_id: int) -> Category:
    require_perm(acting_user, Perm.KNOWLEDGE_VIEW)
    category = Category.objects.filter(pk=category_id).first()
    if category is None:
        raise NotFoundError("category_not_found", _("La categoría no existe."))
    return category


@transaction.atomic
def check_save_category(acting_user: User, *, category_id: int | None, name: str,
                        position: int | None = None) -> Category:
    """Creates a category or renames / moves one. 409 `category_taken` when another has that name."""
    require_perm(acting_user, Perm.KNOWLEDGE_MANAGE)
    name = " ".join(name.split())
    error = text_error(name, label=_("El nombre"), max_length=CATEGORY_NAME_MAX)
    if error or not name:
        raise ActionError("invalid_category", error or _("Escriba el nombre de la categoría."), field="name")
    if position is not None and not 0 <= position <= 10_000:
        raise ActionError("invalid_category", _("La posición va de 0 a 10000."), field="position")
    if category_id is None:
        category = Category(position=position if position is not None else
                            (Category.objects.order_by("-position").values_list("position", flat=True).first() or 0)
                            + 1)
        before: dict[str, Any] = {}
    else:
        category = access_category(acting_user, category_id=category_id)
        before = {"name": category.name, "position": category.position}
    if Category.objects.filter(name__iexact=name).exclude(pk=category.pk).exists():
        raise ConflictError("category_taken", _("Ya hay una categoría «%s».") % name, field="name")
    category.name = name
    if position is not None:
        category.position = position
    if not category.slug:
        base = slugify(name)[:70] or "categoria"
        slug, n = base, 2
        while Category.objects.filter(slug=slug).exists():
            slug, n = f"{base}-{n}", n + 1
        category.slug = slug
    category.save()
    after = {"name": category.name, "position": category.position}
    audit.record(actor=acting_user, action="article_category.saved", target=category,
                 changes={k: [before.get(k), v] for k, v in after.items() if before.get(k) != v})
    return category


@transaction.atomic
def check_delete_category(acting_user: User, *, category_id: int) -> None:
    """Deletes a category; its articles stay, without a category."""
    require_perm(acting_user, Perm.KNOWLEDGE_MANAGE)
    category = access_category(acting_user, category_id=category_id)
    audit.record(actor=acting_user, action="article_category.deleted", target=category,
                 changes={"name": category.name, "articles": category.articles.count()})
    category.delete()
