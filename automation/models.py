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


class SlaPolicy(models.Model):
    """Service-level targets of one channel (`inbox` empty) or of one inbox on that channel (it replaces the
    channel's policy there). Seconds are counted in the inbox's team business hours when `business_hours`, in
    calendar time otherwise. An empty target is not timed."""

    channel = models.CharField(_("canal"), max_length=12)
    inbox = models.ForeignKey("inbox.Inbox", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="sla_policies", verbose_name=_("bandeja"))
    first_response_seconds = models.PositiveIntegerField(_("primera respuesta"), null=True, blank=True)
    next_response_seconds = models.PositiveIntegerField(_("siguiente respuesta"), null=True, blank=True)
    resolution_seconds = models.PositiveIntegerField(_("resolución"), null=True, blank=True)
    escalate_after_seconds = models.PositiveIntegerField(_("escalar tras la asignación"), null=True, blank=True)
    business_hours = models.BooleanField(_("solo en horario de atención"), default=False)
    pause_on_hold = models.BooleanField(_("pausar en espera"), default=True)
    email_on_breach = models.BooleanField(_("avisar por correo"), default=False)
    active = models.BooleanField(_("activa"), default=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("política de SLA")
        verbose_name_plural = _("políticas de SLA")
        ordering = ["channel", "inbox", "id"]
        constraints = [
            models.UniqueConstraint(fields=["channel"], condition=Q(inbox__isnull=True),
                                    name="sla_policy_channel_unique"),
            models.UniqueConstraint(fields=["channel", "inbox"], condition=Q(inbox__isnull=False),
                                    name="sla_policy_inbox_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.inbox_id or ''}".strip()

    def seconds(self, target: str) -> int | None:
        value: int | None = getattr(self, {"escalation": "escalate_after_seconds"}.get(target, f"{target}_seconds"))
        return value or None


class SlaTimer(models.Model):
    """The running service-level clocks of one conversation's current cycle (automation.sla).

    `targets` maps a target (SlaTarget) to {"due", "warn", "started"} ISO datetimes, plus "breached_at" once the
    sweep found it late, or {"remaining", "warn_remaining"} counted seconds while the clock is paused (En espera).
    `check_at` is the next moment the sweep must look (the nearest due not yet breached): the sweep reads only
    `check_at <= now` through its index."""

    conversation = models.OneToOneField("inbox.Conversation", on_delete=models.CASCADE, primary_key=True,
                                        related_name="sla_timer")
    policy = models.ForeignKey(SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    cycle = models.PositiveIntegerField(default=1)
    targets = models.JSONField(default=dict, blank=True)
    breached = models.JSONField(default=list, blank=True)  # the targets breached in this cycle, in order
    paused_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    check_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["check_at"], name="sla_timer_check_idx",
                                condition=Q(check_at__isnull=False))]

    def __str__(self) -> str:
        return f"{self.conversation_id}/{self.cycle}"


class SlaDaily(models.Model):
    """Pre-aggregated service-level outcomes (the dashboard's SLA charts): per local day, channel, inbox, agent and
    target, how many targets were met in time and how many were breached. A target counts once, on the day it was
    decided: met when answered (or resolved) in time, breached when its due time passed."""

    day = models.DateField()
    channel = models.CharField(max_length=12)
    inbox = models.ForeignKey("inbox.Inbox", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                              related_name="+")
    target = models.CharField(max_length=16)
    met = models.PositiveIntegerField(default=0)
    breached = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "channel", "inbox", "agent", "target"],
                                    condition=Q(agent__isnull=False), name="sla_daily_unique"),
            models.UniqueConstraint(fields=["day", "channel", "inbox", "target"], condition=Q(agent__isnull=True),
                                    name="sla_daily_unassigned_unique"),
        ]
        indexes = [models.Index(fields=["day"], name="sla_daily_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.channel} {self.target} {self.met}/{self.breached}"
