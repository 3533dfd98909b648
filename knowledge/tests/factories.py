from __future__ import annotations

import factory
from django.utils import timezone

from knowledge.choices import ArticleState
from knowledge.models import Article, Category


class CategoryFactory(factory.django.DjangoModelFactory[Category]):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Categoría {n}")
    slug = factory.Sequence(lambda n: f"categoria-{n}")
    position = factory.Sequence(lambda n: n)


class ArticleFactory(factory.django.DjangoModelFactory[Article]):
    """A published Spanish article (pass state=ArticleState.DRAFT for a draft)."""

    class Meta:
        model = Article

    title = factory.Sequence(lambda n: f"Artículo {n}")
    slug = factory.Sequence(lambda n: f"articulo-{n}")
    body = "Texto del artículo."
    language = "es"
    state = ArticleState.PUBLISHED
    published_at = factory.LazyFunction(timezone.now)
