"""Automation (issue 16): quick replies the agents insert with a shortcut."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from automation.choices import (
    EnrollmentState,
    QuickReplyScope,
    RuleEvent,
    RuleFrequency,
    RuleMatch,
    RunOutcome,
    ScheduledState,
)


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
    # One file sent with the text ({"name", "content_type", "size", "path"}, inbox.attachments), {} when none.
    attachment = models.JSONField(_("archivo adjunto"), default=dict, blank=True)
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
    # A person's, or none when an automation rule scheduled it (`rule`): it then goes out as an automatic reply.
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+", verbose_name=_("autor"))
    rule = models.ForeignKey("automation.AutomationRule", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+", verbose_name=_("regla"))
    rule_name = models.CharField(max_length=100, blank=True)
    # One step of a sequence (the enrollment it belongs to, and its place: 1, 2, 3…).
    enrollment = models.ForeignKey("automation.SequenceEnrollment", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="scheduled")
    step = models.PositiveSmallIntegerField(null=True, blank=True)
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


class AutomationRule(models.Model):
    """When `event` happens and its conditions hold (all or any of them), do its actions (automation.rules).

    `conditions`: [{"field", "op", "value"}] and `actions`: [{"type", …}] as declared in automation.rule_spec, kept
    valid by check_save_rule. Rules of one event run in `position` order; `stop_after` ends the evaluation when this
    one applied. `frequency` and `cooldown_seconds` hold back a rule that already acted (automation.rules). Presets
    (`preset`) are seeded disabled and edited like any other rule."""

    name = models.CharField(_("nombre"), max_length=100)
    description = models.CharField(_("descripción"), max_length=300, blank=True)
    event = models.CharField(_("cuando"), max_length=40, choices=RuleEvent.choices)
    match = models.CharField(_("condiciones"), max_length=3, choices=RuleMatch.choices, default=RuleMatch.ALL)
    conditions = models.JSONField(default=list, blank=True)
    actions = models.JSONField(default=list)
    active = models.BooleanField(_("activa"), default=False)
    position = models.PositiveIntegerField(_("orden"), default=0)
    stop_after = models.BooleanField(_("detener las reglas siguientes"), default=False)
    frequency = models.CharField(_("frecuencia"), max_length=12, choices=RuleFrequency.choices,
                                 default=RuleFrequency.EVERY_TIME)
    cooldown_seconds = models.PositiveIntegerField(_("espera entre ejecuciones"), null=True, blank=True)
    # For the event "schedule": {"days": [0-6, Monday = 0], "time": "HH:MM"} in TIME_ZONE; {} for the others.
    # `schedule_slot` is the last time it was started (or skipped) and `schedule_cursor` the last conversation id
    # done in that run, None once every open conversation was looked at (automation.schedules).
    schedule = models.JSONField(default=dict, blank=True)
    schedule_slot = models.DateTimeField(null=True, blank=True)
    schedule_cursor = models.BigIntegerField(null=True, blank=True)
    schedule_progress_at = models.DateTimeField(null=True, blank=True)  # the run's last batch (stalled if old)
    preset = models.CharField(max_length=30, blank=True)
    run_count = models.PositiveIntegerField(default=0)
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("regla de automatización")
        verbose_name_plural = _("reglas de automatización")
        ordering = ["event", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(event__in=RuleEvent.values), name="rule_event_valid"),
            models.CheckConstraint(condition=Q(match__in=RuleMatch.values), name="rule_match_valid"),
            models.CheckConstraint(condition=Q(frequency__in=RuleFrequency.values), name="rule_frequency_valid"),
        ]
        indexes = [models.Index(fields=["event", "position"], name="rule_active_idx", condition=Q(active=True))]

    def __str__(self) -> str:
        return self.name


class RuleTrigger(models.Model):
    """An event some active rule listens to, kept in the emitting transaction (the outbox of the rules): the worker
    evaluates it once after commit and marks it processed in the transaction of the rules' actions, so a lost task
    or a killed worker neither loses nor repeats it (the periodic sweep takes what is still waiting). `chain`: the
    rules whose actions caused this event (loop protection)."""

    event = models.CharField(max_length=40)
    payload = models.JSONField()
    chain = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)  # by the sweep (automation.rules.MAX_ATTEMPTS)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="rule_trigger_waiting_idx",
                                condition=Q(processed_at__isnull=True))]

    def __str__(self) -> str:
        return f"{self.event} #{self.pk}"


class AutomationRun(models.Model):
    """What one rule did with one event: applied (its actions, each done, skipped with the reason, or failed),
    held back (frequency, cooldown, loop protection) or failed. Conditions that simply did not hold are not stored
    (every message would write a row per rule): the test box on the rule's page shows why a sample does not match."""

    rule = models.ForeignKey(AutomationRule, on_delete=models.CASCADE, related_name="runs")
    event = models.CharField(max_length=40)
    trigger = models.ForeignKey(RuleTrigger, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    conversation = models.ForeignKey("inbox.Conversation", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    customer = models.ForeignKey("customers.Customer", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    outcome = models.CharField(max_length=8, choices=RunOutcome.choices)  # only "applied" counts for frequency
    reason = models.CharField(max_length=20, blank=True)  # why held back (rule_spec.HELD_REASONS)
    actions = models.JSONField(default=list, blank=True)  # [{"type", "result": done|skipped|failed, "detail"}]
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(outcome__in=RunOutcome.values), name="run_outcome_valid")]
        indexes = [models.Index(fields=["rule", "-created_at"], name="run_rule_time_idx"),
                   models.Index(fields=["rule", "conversation"], name="run_rule_conv_idx",
                                condition=Q(outcome="applied")),
                   models.Index(fields=["rule", "customer"], name="run_rule_customer_idx",
                                condition=Q(outcome="applied"))]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.event} {self.outcome}"


class Sequence(models.Model):
    """Messages sent one after another to a customer (D+1, D+3, D+7…), started by a rule's action and stopped when
    the customer replies or the conversation is resolved (automation.sequences). `steps`: [{"delay_minutes" (from
    the start), "body", "template", "variables"}] as automation.sequences.clean_steps keeps them."""

    name = models.CharField(_("nombre"), max_length=100)
    description = models.CharField(_("descripción"), max_length=300, blank=True)
    steps = models.JSONField(default=list)
    stop_on_reply = models.BooleanField(_("detener si el cliente responde"), default=True)
    stop_on_close = models.BooleanField(_("detener si la conversación se resuelve"), default=True)
    active = models.BooleanField(_("activa"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("secuencia")
        verbose_name_plural = _("secuencias")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class SequenceEnrollment(models.Model):
    """One conversation going through a sequence: its steps are ScheduledMessage rows (`scheduled`), sent by the
    scheduled messages' worker; the state moves only through automation.sequences.do_transition_enrollment."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrollments")
    conversation = models.ForeignKey("inbox.Conversation", on_delete=models.CASCADE, related_name="+")
    # the conversation's customer (their reply on any conversation stops it: one indexed lookup on every message)
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=12, choices=EnrollmentState.choices, default=EnrollmentState.ACTIVE)
    reason = models.CharField(max_length=30, blank=True)  # why it ended (automation.sequences.STOP_REASONS)
    rule = models.ForeignKey(AutomationRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=EnrollmentState.values), name="enrollment_state_valid"),
            models.UniqueConstraint(fields=["sequence", "conversation"], condition=Q(state="activa"),
                                    name="enrollment_one_active"),
        ]
        indexes = [models.Index(fields=["conversation"], name="enrollment_active_idx", condition=Q(state="activa")),
                   models.Index(fields=["customer"], name="enrollment_customer_idx", condition=Q(state="activa"))]

    def __str__(self) -> str:
        return f"{self.sequence_id}/{self.conversation_id} {self.state}"
