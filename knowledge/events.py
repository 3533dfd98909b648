"""Domain events of the knowledge base (core.events)."""

from __future__ import annotations

import dataclasses

from django.utils.translation import gettext_lazy as _

from core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArticleSaved(DomainEvent):
    """An article was written or edited (its title, text, category, tags or language)."""

    type = "article.saved"
    label = _("Artículo de ayuda guardado")
    article_id: int
    title: str
    language: str
    state: str
    created: bool


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArticleStateChanged(DomainEvent):
    """An article was published or taken back to draft."""

    type = "article.state_changed"
    label = _("Artículo de ayuda publicado o retirado")
    article_id: int
    title: str
    language: str
    from_state: str
    to_state: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArticleDeleted(DomainEvent):
    """An article was deleted."""

    type = "article.deleted"
    label = _("Artículo de ayuda borrado")
    article_id: int
    title: str
    language: str
