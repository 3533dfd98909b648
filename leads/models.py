from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.text import fold
from customers.models import Customer, MarketingList, Tag
from leads.choices import LeadEventKind, Outcome, WorkStatus


class Lead(models.Model):
    """A Kommo lead in (or once in) the "Para Llamar" stage, worked from the call-center queue.

    `work_status`, `last_note_*` and `notes_count` are maintained by leads.actions (one transition function)
    so the queue sorts and filters on indexed columns instead of aggregating notes.
    """

    kommo_id = models.BigIntegerField(_("id en Kommo"), unique=True)
    name = models.CharField(_("nombre"), max_length=250)
    search_name = models.CharField(max_length=250, blank=True, editable=False)  # core.text.fold(name)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads",
                                 verbose_name=_("cliente"))
    price = models.DecimalField(_("valor"), max_digits=14, decimal_places=2, default=0)
    pipeline_id = models.BigIntegerField(_("embudo"), null=True, blank=True)
    status_id = models.BigIntegerField(_("etapa en Kommo"), null=True, blank=True)
    stage_name = models.CharField(_("etapa"), max_length=120, blank=True)
    kommo_updated_at = models.BigIntegerField(default=0)
    kommo_responsible_id = models.BigIntegerField(null=True, blank=True)
    custom_fields = models.JSONField(default=list, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="leads", verbose_name=_("etiquetas"))
    in_queue = models.BooleanField(_("en la cola"), default=False)
    queue_entered_at = models.DateTimeField(_("llegó"), default=timezone.now)
    left_queue_at = models.DateTimeField(null=True, blank=True)
    deleted_in_kommo = models.BooleanField(default=False)
    work_status = models.CharField(_("estado"), max_length=12, choices=WorkStatus.choices, default=WorkStatus.NONE)
    # No plain index: lead_held_idx below is partial (held rows only). A full index on held_by made SQLite's
    # planner pick it for "held_by IS NULL" (nearly every row) in "Siguiente lead" instead of lead_next_unheld_idx.
    held_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="held_leads", verbose_name=_("tomado por"), db_index=False)
    held_at = models.DateTimeField(null=True, blank=True)
    # Queue order: never contacted first (by arrival), then by oldest last contact. Two NOT NULL columns
    # instead of `last_note_at NULLS FIRST`, which SQLite cannot index.
    contacted = models.BooleanField(default=False)
    queue_sort_at = models.DateTimeField(default=timezone.now)
    notes_count = models.PositiveIntegerField(default=0)
    first_note_at = models.DateTimeField(null=True, blank=True)
    last_note_at = models.DateTimeField(_("último contacto"), null=True, blank=True)
    last_note_text = models.CharField(_("última nota"), max_length=300, blank=True)
    last_note_outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        indexes = [
            # The queue's default order (never contacted first, then oldest contact) over open leads.
            models.Index(fields=["contacted", "queue_sort_at", "id"],
                         condition=Q(in_queue=True, closed_at__isnull=True), name="lead_queue_open_idx"),
            # A status filter in queue order (work_status = X ORDER BY contacted, queue_sort_at, id): an ordered
            # index scan that stops after one page instead of sorting every lead in that status.
            models.Index(fields=["work_status", "contacted", "queue_sort_at", "id"], condition=Q(in_queue=True),
                         name="lead_queue_status_order_idx"),
            models.Index(fields=["held_by", "work_status"], condition=Q(held_by__isnull=False),
                         name="lead_held_idx"),
            # "Siguiente lead": the next unheld open lead in queue order, and "a lead I took but never noted".
            # Without these SQLite (and PostgreSQL at some sizes) walks every unheld row and sorts it.
            models.Index(fields=["contacted", "queue_sort_at", "id"],
                         condition=Q(in_queue=True, closed_at__isnull=True, held_by__isnull=True),
                         name="lead_next_unheld_idx"),
            models.Index(fields=["held_by", "held_at", "id"],
                         condition=Q(in_queue=True, closed_at__isnull=True, notes_count=0),
                         name="lead_taken_unnoted_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(work_status__in=WorkStatus.values), name="lead_work_status_valid"),
            models.CheckConstraint(condition=Q(held_by__isnull=True) | Q(held_at__isnull=False),
                                   name="lead_held_has_time"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (#{self.kommo_id})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.search_name = fold(self.name)[:250]
        if kwargs.get("update_fields") is not None and "name" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_name"}
        super().save(*args, **kwargs)


class NoteTemplate(models.Model):
    """A predefined note ("Llamar nuevamente", "No interesado"): its tags are applied to the customer at once."""

    title = models.CharField(_("título"), max_length=100)
    text = models.TextField(_("texto"))
    outcome = models.CharField(_("resultado"), max_length=16, choices=Outcome.choices, default=Outcome.UNCLASSIFIED)
    tags = models.ManyToManyField(Tag, blank=True, related_name="note_templates", verbose_name=_("etiquetas"))
    is_active = models.BooleanField(_("activa"), default=True)
    sort = models.PositiveSmallIntegerField(_("orden"), default=0)

    class Meta:
        verbose_name = _("nota predefinida")
        verbose_name_plural = _("notas predefinidas")
        ordering = ["sort", "title"]

    def __str__(self) -> str:
        return self.title


class LeadNote(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="lead_notes")
    text = models.TextField(_("nota"))
    outcome = models.CharField(_("resultado"), max_length=16, choices=Outcome.choices, default=Outcome.UNCLASSIFIED)
    template = models.ForeignKey(NoteTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["lead", "-created_at"], name="leadnote_lead_time_idx"),
                   models.Index(fields=["author", "created_at"], name="leadnote_author_time_idx")]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.text[:40]}"


class LeadEvent(models.Model):
    """Append-only history of a lead: arrivals, Kommo moves, notes, holds, status changes."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=LeadEventKind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    data = models.JSONField(default=dict, blank=True)
    # Kommo deliveries are at-least-once and `update`/`status` may both report one change:
    # the same change yields the same key, so it is recorded once.
    dedupe_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["lead", "-created_at"], name="leadevent_lead_time_idx")]

    def __str__(self) -> str:
        return f"{self.lead_id} {self.kind}"


class LeadSettings(models.Model):
    """Call-center settings (one row): who is bound by reservations, which lists feed the queue."""

    reservation_roles = models.JSONField(
        _("roles con reserva"), default=list,
        help_text=_("Roles para los que la primera nota reserva el lead (por defecto: agente)."),
    )
    queue_lists = models.ManyToManyField(MarketingList, blank=True, related_name="+",
                                         verbose_name=_("limitar la cola a estas listas"))
    require_document = models.BooleanField(
        _("exigir documento de identidad para confirmar pedidos"), default=False)
    extra_customer_fields = models.JSONField(
        _("datos extra del cliente a mostrar"), default=list, blank=True,
        help_text=_("Claves de los datos adicionales del cliente que se muestran en la pantalla de "
                    "llamada."),
    )

    class Meta:
        verbose_name = _("configuración de la cola")
        verbose_name_plural = _("configuración de la cola")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="lead_settings_singleton")]

    def __str__(self) -> str:
        return "LeadSettings"

    @classmethod
    def load(cls) -> LeadSettings:
        obj, _created = cls.objects.get_or_create(pk=1, defaults={"reservation_roles": ["agente"]})
        return obj
