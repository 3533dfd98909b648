"""The knowledge base: articles (Markdown, rendered safely by core.markdown) grouped in categories, in Spanish or
English, drafted and then published. Search: knowledge.search (full text over title and body, typos on the title)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.text import fold
from customers.choices import Language
from knowledge.choices import ArticleState

TITLE_MAX = 200
BODY_MAX = 50_000
SLUG_MAX = 120
TAG_MAX = 40
TAGS_MAX = 20


class Category(models.Model):
    name = models.CharField(_("nombre"), max_length=80, unique=True)
    slug = models.SlugField(_("identificador"), max_length=80, unique=True)
    position = models.PositiveIntegerField(_("posición"), default=0)

    class Meta:
        verbose_name = _("categoría de artículos")
        verbose_name_plural = _("categorías de artículos")
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Article(models.Model):
    """One help article. `tags` is a normalised comma list ("devoluciones,garantía"): lower case, single spaces,
    no duplicates, in the order written (knowledge.actions.normalize_tags) — a handful of words to group and find
    articles, not a vocabulary of its own, so no tag table."""

    title = models.CharField(_("título"), max_length=TITLE_MAX)
    # core.text.fold(title): the typo-tolerant title search reads it (pg_trgm on PostgreSQL, FTS5 trigram on SQLite).
    search_title = models.CharField(max_length=TITLE_MAX, blank=True, editable=False)
    slug = models.SlugField(_("identificador en la dirección"), max_length=SLUG_MAX)
    body = models.TextField(_("texto (Markdown)"), blank=True)
    category = models.ForeignKey(Category, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="articles", verbose_name=_("categoría"))
    tags = models.CharField(_("etiquetas"), max_length=TAGS_MAX * (TAG_MAX + 1), blank=True)
    language = models.CharField(_("idioma"), max_length=5, choices=Language.choices, default=Language.SPANISH)
    state = models.CharField(_("estado"), max_length=10, choices=ArticleState.choices, default=ArticleState.DRAFT)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="+", verbose_name=_("autor"))
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(_("publicado"), null=True, blank=True)

    class Meta:
        verbose_name = _("artículo")
        verbose_name_plural = _("artículos")
        constraints = [
            models.CheckConstraint(condition=Q(state__in=ArticleState.values), name="kb_article_state_valid"),
            models.CheckConstraint(condition=Q(language__in=Language.values), name="kb_article_language_valid"),
            models.UniqueConstraint(fields=["language", "slug"], name="kb_article_slug_unique"),
        ]
        indexes = [
            # The list's order, and the public page's (published articles of one language).
            models.Index(fields=["-updated_at", "-id"], name="kb_article_updated_idx"),
            models.Index(fields=["language", "state", "category"], name="kb_article_language_state_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.search_title = fold(self.title)[:TITLE_MAX]
        if kwargs.get("update_fields") is not None and "title" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_title"}
        super().save(*args, **kwargs)

    @property
    def tag_list(self) -> list[str]:
        return [t for t in self.tags.split(",") if t]

    @property
    def is_published(self) -> bool:
        return self.state == ArticleState.PUBLISHED


class ArticleTransition(models.Model):
    """The history of an article's states: who published it or took it back to draft, and when."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=10, choices=ArticleState.choices)
    to_state = models.CharField(max_length=10, choices=ArticleState.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(from_state__in=ArticleState.values), name="kb_transition_from_valid"),
            models.CheckConstraint(condition=Q(to_state__in=ArticleState.values), name="kb_transition_to_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.article_id}: {self.from_state} → {self.to_state}"
