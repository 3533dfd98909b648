"""Choices of the knowledge base: an article's state machine (knowledge.actions.do_transition_article)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from django.db import models
from django.utils.translation import gettext_lazy as _


class ArticleState(models.TextChoices):
    DRAFT = "borrador", _("Borrador")
    PUBLISHED = "publicado", _("Publicado")


_S = ArticleState
# The one state machine of an article: a draft is published (the bot, the composer and the public help page see it),
# a published article goes back to draft to be taken out of sight. Editing never changes the state: a published
# article's correction is live at once (the history keeps who changed what in the audit log).
ARTICLE_TRANSITIONS: Final[Mapping[ArticleState, frozenset[ArticleState]]] = {
    _S.DRAFT: frozenset({_S.PUBLISHED}),
    _S.PUBLISHED: frozenset({_S.DRAFT}),
}
