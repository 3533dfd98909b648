from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AppendOnlyError(Exception):
    pass


class AuditLog(models.Model):
    """Who did what, when and from where. Append-only: rows are never updated or deleted by the app.

    Written by `core.audit.record` inside the action's transaction, so a rolled-back change leaves no entry.
    """

    created_at = models.DateTimeField(_("fecha"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("usuario"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    actor_username = models.CharField(_("usuario (texto)"), max_length=150, blank=True)
    action = models.CharField(_("acción"), max_length=64, db_index=True)
    target_type = models.CharField(_("tipo de objeto"), max_length=64, blank=True)
    target_id = models.CharField(_("id de objeto"), max_length=64, blank=True)
    target_repr = models.CharField(_("objeto"), max_length=200, blank=True)
    changes = models.JSONField(_("cambios"), default=dict, blank=True)
    ip = models.GenericIPAddressField(_("dirección IP"), null=True, blank=True)
    user_agent = models.CharField(_("navegador"), max_length=300, blank=True)
    via = models.CharField(_("origen"), max_length=16, blank=True)

    class Meta:
        verbose_name = _("registro de auditoría")
        verbose_name_plural = _("registro de auditoría")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target_idx")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_username} {self.action} {self.target_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("audit log rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("audit log rows are append-only")


class EventLog(models.Model):
    """Every domain event, append-only (core.events): the feed `GET /api/v1/events` pages through and outgoing
    webhooks and integrations read. Written in the emitting action's transaction (a rolled-back change leaves no
    event); pruned after EVENT_LOG_RETENTION_DAYS."""

    type = models.CharField(max_length=64, db_index=True)
    version = models.PositiveSmallIntegerField(default=1)
    payload = models.JSONField(default=dict)
    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")

    class Meta:
        verbose_name = _("evento")
        verbose_name_plural = _("eventos")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"


class PeriodicRun(models.Model):
    """Last time each periodic job (core.schedule) was enqueued.

    The scheduler claims a run with a compare-and-set on `next_run_at`, so two scheduler processes
    never enqueue the same slot twice.
    """

    name = models.CharField(max_length=100, unique=True)
    next_run_at = models.DateTimeField()
    last_enqueued_at = models.DateTimeField(null=True, blank=True)
    runs = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("tarea periódica")
        verbose_name_plural = _("tareas periódicas")

    def __str__(self) -> str:
        return self.name


class Heartbeat(models.Model):
    """One row per background process — each worker and each scheduler (`process` = "worker host:pid"), written by
    the process itself every few seconds (core.heartbeats) — plus the `queue` probe: the last periodic job a worker
    completed, which proves the scheduler → queue → worker path. The system page and the silence alert read them."""

    class Kind(models.TextChoices):
        WORKER = "worker", _("Procesador de tareas")
        SCHEDULER = "scheduler", _("Programador de tareas")
        QUEUE = "queue", _("Prueba de la cola")

    class State(models.TextChoices):
        RUNNING = "running", _("Activo")
        WAITING = "waiting", _("Esperando a Redis o a la base de datos")
        STOPPED = "stopped", _("Detenido")
        DISMISSED = "dismissed", _("Descartado")

    process = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.WORKER)
    host = models.CharField(max_length=100, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.RUNNING)
    started_at = models.DateTimeField(null=True, blank=True)
    seen_at = models.DateTimeField()

    class Meta:
        verbose_name = _("latido de proceso")
        verbose_name_plural = _("latidos de procesos")

    def __str__(self) -> str:
        return f"{self.process} @ {self.seen_at:%H:%M:%S}"


class AvailabilityOnLogin(models.TextChoices):
    AVAILABLE = "disponible", _("Disponible")
    KEEP = "mantener", _("Mantener el estado anterior")


class SiteSettings(models.Model):
    """Organization-wide settings edited in the app by administrators (one row, pk=1)."""

    company_name = models.CharField(_("nombre de la empresa"), max_length=120, default="Centralita")
    default_language = models.CharField(
        _("idioma por defecto de los usuarios nuevos"), max_length=5, default="es",
        choices=[("es", "Español"), ("en", "English")],
    )
    brand_color = models.CharField(
        _("color de marca"), max_length=7, default="#0b5cad",
        help_text=_("Color hexadecimal, p. ej. #0b5cad. Se usa en la barra lateral y los botones."),
    )
    availability_on_login = models.CharField(
        _("disponibilidad al iniciar sesión"), max_length=16, choices=AvailabilityOnLogin.choices,
        default=AvailabilityOnLogin.AVAILABLE,
        help_text=_("Disponible: quien inicia sesión empieza a recibir conversaciones sin tener que acordarse."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("configuración de la organización")
        verbose_name_plural = _("configuración de la organización")
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="site_settings_singleton")]

    def __str__(self) -> str:
        return self.company_name

    @classmethod
    def load(cls) -> SiteSettings:
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj
