"""The chatbot's flows, their published versions, and the runs of a flow in conversations.

A flow's `graph` is its draft (bots.spec describes the document); publishing copies it into an immutable
BotFlowVersion. A run is pinned to the version it started on, so editing or republishing never changes a
conversation that is under way."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bots.choices import OPEN_STATES, HandoffReason, RunState, VisitOutcome
from customers.models import Customer
from inbox.models import Conversation, Inbox

NAME_MAX = 120
KEYWORDS_MAX = 300
STEP_ID_MAX = 40
ANSWER_MAX = 500
DEFAULT_KEYWORDS = "agente, humano, asesor, persona"


def empty_graph() -> dict[str, object]:
    return {"start": "", "steps": {}}


class BotFlow(models.Model):
    name = models.CharField(_("nombre"), max_length=NAME_MAX, unique=True)
    description = models.CharField(_("descripción"), max_length=500, blank=True)
    graph = models.JSONField(_("diagrama (borrador)"), default=empty_graph)
    published = models.ForeignKey("BotFlowVersion", on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+", verbose_name=_("versión publicada"))
    enabled = models.BooleanField(_("activo"), default=True)
    # Its default entry: a customer's message in this inbox with nobody attending starts the flow.
    inbox = models.OneToOneField(Inbox, on_delete=models.SET_NULL, null=True, blank=True, related_name="bot_flow",
                                 verbose_name=_("entrada por defecto de la bandeja"))
    handoff_keywords = models.CharField(_("palabras para pedir una persona"), max_length=KEYWORDS_MAX,
                                        default=DEFAULT_KEYWORDS, blank=True)
    expire_minutes = models.PositiveIntegerField(_("expira tras minutos sin respuesta"), default=30)
    expire_text = models.CharField(_("mensaje al expirar"), max_length=1000, blank=True)
    max_retries = models.PositiveSmallIntegerField(_("reintentos ante respuestas no reconocidas"), default=2)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("flujo del bot")
        verbose_name_plural = _("flujos del bot")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(expire_minutes__gte=1) & Q(expire_minutes__lte=7 * 24 * 60),
                                   name="bots_flow_expire_range"),
            models.CheckConstraint(condition=Q(max_retries__lte=10), name="bots_flow_retries_range"),
        ]

    def __str__(self) -> str:
        return self.name


class BotFlowVersion(models.Model):
    flow = models.ForeignKey(BotFlow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("versión"))
    graph = models.JSONField(_("diagrama"))
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("versión de un flujo")
        verbose_name_plural = _("versiones de flujos")
        constraints = [models.UniqueConstraint(fields=["flow", "number"], name="bots_version_unique")]

    def __str__(self) -> str:
        return f"{self.flow_id} v{self.number}"


class BotRun(models.Model):
    """A flow walked in one conversation. `step` is where it stands: the question awaiting an answer while
    ACTIVE, the wait step while WAITING, the last step once ended."""

    flow = models.ForeignKey(BotFlow, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(BotFlowVersion, on_delete=models.PROTECT, related_name="runs")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="bot_runs")
    customer = models.ForeignKey(Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    state = models.CharField(_("estado"), max_length=12, choices=RunState.choices, default=RunState.ACTIVE)
    step = models.CharField(_("paso"), max_length=STEP_ID_MAX, blank=True)
    variables = models.JSONField(default=dict)
    retries = models.PositiveSmallIntegerField(default=0)
    started_by = models.CharField(max_length=40, blank=True)  # "inbox", "rule:<id>", "api"
    cycle = models.PositiveIntegerField(default=1)  # the conversation's cycle it started in
    handoff_reason = models.CharField(max_length=12, choices=HandoffReason.choices, blank=True)
    # The newest customer message the run has read: a message handled twice (a retried task) is a no-op.
    last_message_id = models.BigIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now)
    resume_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("conversación con el bot")
        verbose_name_plural = _("conversaciones con el bot")
        constraints = [
            models.CheckConstraint(condition=Q(state__in=RunState.values), name="bots_run_state_valid"),
            # At most one open run per conversation: the bot never talks twice at once.
            models.UniqueConstraint(fields=["conversation"], condition=Q(state__in=sorted(OPEN_STATES)),
                                    name="bots_run_one_open"),
        ]
        indexes = [
            models.Index(fields=["state", "last_activity_at"], name="bots_run_sweep_idx"),
            models.Index(fields=["state", "resume_at"], name="bots_run_resume_idx"),
            models.Index(fields=["flow", "-started_at"], name="bots_run_flow_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.flow_id}@{self.conversation_id}"


class BotRunTransition(models.Model):
    run = models.ForeignKey(BotRun, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=12, choices=RunState.choices)
    to_state = models.CharField(max_length=12, choices=RunState.choices)
    reason = models.CharField(max_length=40, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(to_state__in=RunState.values),
                                              name="bots_transition_state_valid")]

    def __str__(self) -> str:
        return f"{self.run_id}: {self.from_state} → {self.to_state}"


class BotStepVisit(models.Model):
    """A run reached a step (the per-step analytics: reached, answered, dropped, handed over)."""

    run = models.ForeignKey(BotRun, on_delete=models.CASCADE, related_name="visits")
    flow = models.ForeignKey(BotFlow, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(BotFlowVersion, on_delete=models.CASCADE, related_name="+")
    step = models.CharField(max_length=STEP_ID_MAX)
    outcome = models.CharField(max_length=12, choices=VisitOutcome.choices, default=VisitOutcome.PASSED)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["flow", "version", "step"], name="bots_visit_step_idx"),
                   models.Index(fields=["run", "-id"], name="bots_visit_run_idx")]

    def __str__(self) -> str:
        return f"{self.run_id}@{self.step}"


class BotUnrecognised(models.Model):
    """An answer the bot did not understand at a step (grouped by similarity for the flow's author)."""

    flow = models.ForeignKey(BotFlow, on_delete=models.CASCADE, related_name="unrecognised")
    version = models.ForeignKey(BotFlowVersion, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(BotRun, on_delete=models.CASCADE, related_name="+")
    step = models.CharField(max_length=STEP_ID_MAX)
    text = models.CharField(max_length=ANSWER_MAX)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["flow", "-at"], name="bots_unrecognised_flow_idx")]

    def __str__(self) -> str:
        return self.text
