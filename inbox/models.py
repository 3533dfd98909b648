from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Skill, Team
from customers.models import Customer, Tag
from inbox.choices import (
    Channel,
    CloseReason,
    ConversationOutcome,
    ConversationState,
    CustomerState,
    DeliveryStatus,
    MessageKind,
    Priority,
    TaskStatus,
)


class Inbox(models.Model):
    """A bandeja: Global (entry point) or a team's inbox. Conversations outside Global always have an owner."""

    name = models.CharField(_("nombre"), max_length=100, unique=True)
    code = models.SlugField(_("código"), max_length=50, unique=True)
    is_global = models.BooleanField(_("bandeja de entrada global"), default=False)
    teams = models.ManyToManyField(Team, blank=True, related_name="inboxes", verbose_name=_("equipos miembros"))
    skill = models.ForeignKey(Skill, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              verbose_name=_("habilidad requerida para la asignación automática"))
    auto_assign = models.BooleanField(_("asignación automática"), default=True)
    sort = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("bandeja")
        verbose_name_plural = _("bandejas")
        ordering = ["sort", "name"]
        constraints = [models.UniqueConstraint(fields=["is_global"], condition=Q(is_global=True),
                                               name="inbox_single_global")]

    def __str__(self) -> str:
        return self.name


class InboxCategory(models.Model):
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="categories")
    name = models.CharField(_("nombre"), max_length=100)
    sort = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("categoría")
        verbose_name_plural = _("categorías")
        ordering = ["inbox", "sort", "name"]
        constraints = [models.UniqueConstraint(fields=["inbox", "name"], name="category_unique_per_inbox")]

    def __str__(self) -> str:
        return f"{self.inbox} / {self.name}"


HISTORY_INBOX = "historial"  # the inbox imported past conversations live in (inbox.actions.history)


class ConversationQuerySet(models.QuerySet["Conversation"]):
    def live(self) -> ConversationQuerySet:
        """Conversations the live jobs may act on (pool return, reassignment, and the SLA timers and automation rules
        to come): not imported history. Past conversations keep the agent, state and times their file gave them —
        their agents are import-created profiles that cannot sign in, so a job treating them as live would take
        the agent off their facts and make the dashboard's charts disagree (issue 15)."""
        return self.filter(import_ref="").exclude(inbox__code=HISTORY_INBOX)


class Conversation(models.Model):
    """One customer conversation on one channel. `cycle` counts reopenings: each cycle has its own first
    response and closure, so a reopened conversation never inflates or hides response-time metrics."""

    # The identifier exports and the API give other systems (seed 002): stable, never reused, no row count leaked.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="conversations")
    channel = models.CharField(_("canal"), max_length=12, choices=Channel.choices)
    inbox = models.ForeignKey(Inbox, on_delete=models.PROTECT, related_name="conversations")
    category = models.ForeignKey(InboxCategory, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="assigned_conversations", verbose_name=_("responsable"))
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    priority = models.CharField(_("prioridad"), max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    tags = models.ManyToManyField(Tag, blank=True, related_name="conversations")
    state = models.CharField(_("estado"), max_length=10, choices=ConversationState.choices,
                             default=ConversationState.NEW)
    subject = models.CharField(_("asunto"), max_length=250, blank=True)
    waiting_until = models.DateTimeField(_("en espera hasta"), null=True, blank=True)
    cycle = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    last_agent_message_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=20, choices=CloseReason.choices, blank=True)
    close_comment = models.TextField(blank=True)
    last_message_preview = models.CharField(max_length=200, blank=True)
    awaiting_reply = models.BooleanField(default=True, help_text="the last message is the customer's")
    # Since when the customer has been waiting for an answer (their first unanswered message); empty once an agent
    # answers or the conversation is resolved. The list's "oldest waiting first" order and the waiting time per row.
    waiting_since = models.DateTimeField(_("esperando desde"), null=True, blank=True)
    company = models.CharField(_("empresa"), max_length=200, blank=True)
    ticket_ref = models.CharField(_("referencia de ticket"), max_length=100, blank=True)
    external_ref = models.CharField(max_length=200, blank=True, db_index=True)  # channel thread id
    # The connector endpoint the conversation lives on ("wa:<phone number id>", "mail:<mailbox id>",
    # "webchat:<site id>"), so replies leave through the same number/address/site the customer wrote to.
    channel_ref = models.CharField(max_length=100, blank=True)
    # Reporting facts (issue 7). Live conversations fill them from their own timestamps and the closing form;
    # imported history brings them from the company's old exports (import_history, keyed by import_ref).
    import_ref = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(_("resultado"), max_length=20, choices=ConversationOutcome.choices, blank=True)
    customer_state = models.CharField(_("estado del cliente"), max_length=16, choices=CustomerState.choices,
                                      blank=True)
    first_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    resolution_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Service level (issue 16), kept by automation.sla: the nearest target still to meet (a first or next response,
    # the resolution) and the moment 80 % of its time is used, so the list's badge and its "SLA due" order need no
    # join. Empty when nothing is due (no policy, answered, on hold with the clock paused, resolved).
    sla_due_at = models.DateTimeField(_("vencimiento del SLA"), null=True, blank=True)
    sla_warn_at = models.DateTimeField(null=True, blank=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        verbose_name = _("conversación")
        verbose_name_plural = _("conversaciones")
        constraints = [
            models.CheckConstraint(condition=Q(state__in=ConversationState.values), name="conversation_state_valid"),
            models.CheckConstraint(condition=Q(priority__in=Priority.values), name="conversation_priority_valid"),
            models.UniqueConstraint(fields=["import_ref"], condition=~Q(import_ref=""),
                                    name="conversation_import_ref_unique"),
        ]
        indexes = [
            # The inbox list: keyset over (last_activity_at, id) inside the common filters.
            models.Index(fields=["inbox", "state", "-last_activity_at", "-id"], name="conv_inbox_state_idx"),
            models.Index(fields=["assignee", "state", "-last_activity_at", "-id"], name="conv_assignee_state_idx"),
            models.Index(fields=["-last_activity_at", "-id"], name="conv_activity_idx"),
            models.Index(fields=["customer", "channel", "state"], name="conv_customer_channel_idx"),
            # "Oldest waiting first": its order (ASC NULLS LAST, id) is the btree's own, so the list walks it and
            # stops at the page's last row; conversations nobody waits on (NULL) sit at its end.
            models.Index(fields=["waiting_since", "id"], name="conv_waiting_idx"),
            # "SLA due": the same shape, over the conversations that carry a deadline.
            models.Index(fields=["sla_due_at", "id"], name="conv_sla_due_idx"),
            # The folder counts: open rows only, counted from the index (inbox.selectors.counts).
            models.Index(fields=["state", "inbox", "assignee"], name="conv_open_counts_idx",
                         condition=Q(state__in=["nueva", "pendiente", "en_espera", "escalada"])),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.customer_id} {self.channel}"


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    cycle = models.PositiveIntegerField(default=1)
    kind = models.CharField(max_length=8, choices=MessageKind.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    body = models.TextField()
    attachments = models.JSONField(default=list, blank=True)
    delivery_status = models.CharField(max_length=10, choices=DeliveryStatus.choices, blank=True)
    delivery_error = models.CharField(max_length=300, blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    meta = models.JSONField(default=dict, blank=True)  # channel details: message type, headers, location…
    created_at = models.DateTimeField(default=timezone.now)
    # The customer changed the message on their channel (WhatsApp edits and deletions): the body is the current
    # text ("" once deleted); earlier versions are MessageRevision rows.
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "-created_at", "-id"], name="message_conv_time_idx"),
                   # The WhatsApp safety net's look for replies still queued (a tiny set at any time).
                   models.Index(fields=["created_at"], name="message_queued_outbound_idx",
                                condition=Q(kind=MessageKind.OUTBOUND, delivery_status=DeliveryStatus.QUEUED))]
        constraints = [models.UniqueConstraint(fields=["external_id"], condition=~Q(external_id=""),
                                               name="message_external_id_unique")]

    def __str__(self) -> str:
        return f"{self.conversation_id} {self.kind}"


# A message the system wrote (an automation rule's reply or note, the chatbot's: inbox.actions.do_send_automatic):
# nobody's answer, so never a response, a reply time or an "answered" closure.
AUTOMATIC = Q(author__isnull=True) & (Q(meta__has_key="automation") | Q(meta__has_key="bot"))
# Of those, the automation rules' own (their hourly cap; the bot's conversation is not theirs to count).
RULE_AUTOMATIC = Q(author__isnull=True, meta__has_key="automation")


class MessageRevision(models.Model):
    """One version of a customer's message, kept when they edit or delete it on their channel (append-only).

    `original` is the text as first received, `edit` a later text, `delete` the moment it was deleted. The
    message's body is always its newest version (empty once deleted). A change that arrives before the message
    it changes (webhooks overtake each other) waits with `message` empty and `target_external_id` set, and is
    applied when that message is stored. `external_id` is the channel's id of the edit or deletion event: the
    same event delivered twice is recorded once."""

    class Kind(models.TextChoices):
        ORIGINAL = "original", _("Texto original")
        EDIT = "edit", _("Edición")
        DELETE = "delete", _("Eliminación")

    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE, related_name="revisions")
    target_external_id = models.CharField(max_length=200, blank=True)
    # The channel endpoint (WhatsApp: our number) a waiting change arrived on: it only ever attaches to a message of
    # a conversation on that same endpoint, like a change whose message is already stored.
    channel_ref = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    body = models.TextField(blank=True)
    meta = models.JSONField(default=dict, blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField()  # when the customer wrote, edited or deleted it (the channel's time)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], condition=~Q(external_id=""),
                                    name="message_revision_external_id_unique"),
            models.CheckConstraint(condition=Q(kind__in=["original", "edit", "delete"]),
                                   name="message_revision_kind_valid"),
        ]
        indexes = [models.Index(fields=["target_external_id"], condition=Q(message__isnull=True),
                                name="message_revision_pending_idx")]

    def __str__(self) -> str:
        return f"{self.message_id or self.target_external_id} {self.kind}"


class ConversationEvent(models.Model):
    """Append-only history: state changes, assignments, transfers, moves, closures and reviews."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    cycle = models.PositiveIntegerField(default=1)
    kind = models.CharField(max_length=20)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    data = models.JSONField(default=dict, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="convevent_conv_time_idx"),
                   models.Index(fields=["kind", "created_at"], name="convevent_kind_time_idx")]

    def __str__(self) -> str:
        return f"{self.conversation_id} {self.kind}"


class Task(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="tasks")
    cycle = models.PositiveIntegerField(default=1)
    title = models.CharField(_("tarea"), max_length=250)
    responsible = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="inbox_tasks")
    due_at = models.DateTimeField(_("vence"), null=True, blank=True)
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["status", "due_at", "id"]

    def __str__(self) -> str:
        return self.title


class ClosureReview(models.Model):
    """A supervisor's verdict on one closed cycle (the weekly closure review)."""

    class Verdict(models.TextChoices):
        CORRECT = "correcto", _("Correcto")
        WRONG = "incorrecto", _("Cierre incorrecto")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="reviews")
    cycle = models.PositiveIntegerField()
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    feedback = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "cycle"], name="review_once_per_cycle")]

    def __str__(self) -> str:
        return f"{self.conversation_id}/{self.cycle} {self.verdict}"


class SavedView(models.Model):
    """A user's named inbox filter: the list's query string, replayed as a link (`/inbox/?<query>`)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_saved_views")
    name = models.CharField(_("nombre"), max_length=80)
    query = models.CharField(_("filtros"), max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("vista guardada")
        verbose_name_plural = _("vistas guardadas")
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="saved_view_unique_name_per_user")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.name}"
