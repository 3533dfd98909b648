"""Automation (issue 16): quick replies the agents insert with a shortcut."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from automation.choices import QuickReplyScope


class QuickReply(models.Model):
    """A saved answer: typing `/<shortcut>` in the composer offers it, rendered for the conversation at hand
    (automation.variables). Scope: its author's (`mias`), an inbox's, or everyone's."""

    title = models.CharField(_("título"), max_length=100)
    shortcut = models.CharField(_("atajo"), max_length=30)
    body = models.TextField(_("texto"))
    category = models.CharField(_("categoría"), max_length=50, blank=True)
    scope = models.CharField(_("visible para"), max_length=10, choices=QuickReplyScope.choices,
                             default=QuickReplyScope.MINE)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                              related_name="quick_replies", verbose_name=_("autor"))
    inbox = models.ForeignKey("inbox.Inbox", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="quick_replies", verbose_name=_("bandeja"))
    usage_count = models.PositiveIntegerField(_("usos"), default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("respuesta rápida")
        verbose_name_plural = _("respuestas rápidas")
        ordering = ["shortcut", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(scope__in=QuickReplyScope.values), name="quick_reply_scope_valid"),
            # the scope's owner: an author for "mine", an inbox for "inbox", neither for everyone's
            models.CheckConstraint(
                condition=(Q(scope=QuickReplyScope.MINE, owner__isnull=False, inbox__isnull=True)
                           | Q(scope=QuickReplyScope.INBOX, inbox__isnull=False)
                           | Q(scope=QuickReplyScope.EVERYONE, inbox__isnull=True)),
                name="quick_reply_scope_owner"),
            models.UniqueConstraint(fields=["owner", "shortcut"], condition=Q(scope=QuickReplyScope.MINE),
                                    name="quick_reply_mine_shortcut_unique"),
            models.UniqueConstraint(fields=["inbox", "shortcut"], condition=Q(scope=QuickReplyScope.INBOX),
                                    name="quick_reply_inbox_shortcut_unique"),
            models.UniqueConstraint(fields=["shortcut"], condition=Q(scope=QuickReplyScope.EVERYONE),
                                    name="quick_reply_everyone_shortcut_unique"),
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut} — {self.title}"
