"""Automation (issue 16): quick replies the agents insert with a shortcut."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from automation.choices import QuickReplyScope, ScheduledState


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


class ScheduledMessage(models.Model):
    """An answer written now and sent later ("Enviar más tarde"): at `send_at` the worker sends it as its author
    wrote it (automation.actions.do_send_scheduled). A WhatsApp template may be chosen instead of free text, so it
    can go out after the 24-hour window closed."""

    conversation = models.ForeignKey("inbox.Conversation", on_delete=models.CASCADE,
                                     related_name="scheduled_messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("autor"))
    body = models.TextField(_("texto"), blank=True)
    # The template as chosen (its row may go when Meta drops it: the send then fails with the reason, by name).
    template = models.ForeignKey("whatsapp.MessageTemplate", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+", verbose_name=_("plantilla"))
    template_name = models.CharField(max_length=512, blank=True)
    variables = models.JSONField(default=dict, blank=True)
    send_at = models.DateTimeField(_("enviar el"))
    state = models.CharField(_("estado"), max_length=12, choices=ScheduledState.choices,
                             default=ScheduledState.SCHEDULED)
    sent_message = models.ForeignKey("inbox.Message", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    failure = models.CharField(_("motivo"), max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("mensaje programado")
        verbose_name_plural = _("mensajes programados")
        ordering = ["send_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=ScheduledState.values), name="scheduled_state_valid"),
            models.CheckConstraint(condition=~Q(body="") | ~Q(template_name=""), name="scheduled_has_content"),
        ]
        indexes = [models.Index(fields=["state", "send_at"], name="scheduled_due_idx"),
                   models.Index(fields=["conversation", "state"], name="scheduled_conv_idx")]

    def __str__(self) -> str:
        return f"{self.conversation_id} {self.send_at:%Y-%m-%d %H:%M} {self.state}"


class ScheduledMessageEvent(models.Model):
    """Append-only history of a scheduled message (scheduled, edited, sent, cancelled, failed)."""

    scheduled = models.ForeignKey(ScheduledMessage, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.scheduled_id} {self.kind}"
