from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.choices import Availability, Language, Weekday
from accounts.roles import Perm, Role, role_has


class Skill(models.Model):
    code = models.SlugField(_("código"), max_length=50, unique=True)
    name = models.CharField(_("nombre"), max_length=100)

    class Meta:
        verbose_name = _("habilidad")
        verbose_name_plural = _("habilidades")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    name = models.CharField(_("nombre"), max_length=100, unique=True)
    code = models.SlugField(_("código"), max_length=50, unique=True)
    description = models.TextField(_("descripción"), blank=True)
    is_active = models.BooleanField(_("activo"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("equipo")
        verbose_name_plural = _("equipos")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BusinessHours(models.Model):
    """One opening interval of a team on a weekday, in the deployment's TIME_ZONE."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="hours", verbose_name=_("equipo"))
    weekday = models.PositiveSmallIntegerField(_("día"), choices=Weekday.choices)
    opens_at = models.TimeField(_("abre"))
    closes_at = models.TimeField(_("cierra"))

    class Meta:
        verbose_name = _("horario de atención")
        verbose_name_plural = _("horarios de atención")
        ordering = ["team", "weekday", "opens_at"]
        constraints = [
            models.CheckConstraint(condition=Q(opens_at__lt=models.F("closes_at")), name="hours_open_before_close"),
            models.CheckConstraint(condition=Q(weekday__gte=0, weekday__lte=6), name="hours_weekday_range"),
        ]

    def __str__(self) -> str:
        return f"{self.team} {self.get_weekday_display()} {self.opens_at:%H:%M}-{self.closes_at:%H:%M}"


class Holiday(models.Model):
    """A closed day; team=None closes every team (a national holiday)."""

    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, related_name="holidays", null=True, blank=True, verbose_name=_("equipo")
    )
    date = models.DateField(_("fecha"))
    name = models.CharField(_("nombre"), max_length=100)

    class Meta:
        verbose_name = _("feriado")
        verbose_name_plural = _("feriados")
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["team", "date"], name="holiday_unique_team_date")]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}"


class CentralitaUserManager(UserManager["User"]):
    def create_superuser(
        self, username: str, email: str | None = None, password: str | None = None, **extra_fields: object
    ) -> User:
        """`createsuperuser` makes a Centralita administrator, not only a Django-admin superuser."""
        extra_fields.setdefault("role", Role.ADMIN)
        extra_fields.setdefault("full_name", username)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """A person who uses Centralita. `role` drives every permission check (accounts.roles)."""

    # The identifier exports and the API give other systems (seed 002): stable, never reused, no row count leaked.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    full_name = models.CharField(_("nombre completo"), max_length=150)
    role = models.CharField(_("rol"), max_length=20, choices=Role.choices, default=Role.AGENTE)
    language = models.CharField(_("idioma"), max_length=5, choices=Language.choices, default=Language.ES)
    availability = models.CharField(
        _("disponibilidad"), max_length=16, choices=Availability.choices, default=Availability.OFFLINE
    )
    availability_changed_at = models.DateTimeField(_("cambio de disponibilidad"), null=True, blank=True)
    teams = models.ManyToManyField(Team, related_name="members", blank=True, verbose_name=_("equipos"))
    skills = models.ManyToManyField(Skill, related_name="users", blank=True, verbose_name=_("habilidades"))
    capacity = models.PositiveSmallIntegerField(
        _("capacidad"), default=8, help_text=_("Conversaciones abiertas simultáneas que puede atender.")
    )
    can_login = models.BooleanField(
        _("puede iniciar sesión"), default=True,
        help_text=_("Falso para perfiles importados del historial que no son usuarios del sistema."),
    )
    notify_browser = models.BooleanField(
        _("avisos del navegador"), default=False,
        help_text=_("Mostrar un aviso del navegador con cada conversación nueva, mención o respuesta de un cliente."),
    )
    notify_sound = models.BooleanField(
        _("sonido de aviso"), default=False,
        help_text=_("Reproducir un sonido corto con cada conversación nueva, mención o respuesta de un cliente."),
    )
    # The agent's id in imported history (import_history's agent_id), so re-imports find the same profile.
    import_ref = models.CharField(max_length=64, blank=True)

    objects = CentralitaUserManager()  # type: ignore[misc]

    class Meta:
        verbose_name = _("usuario")
        verbose_name_plural = _("usuarios")
        ordering = ["full_name", "username"]
        constraints = [
            models.CheckConstraint(condition=Q(role__in=Role.values), name="user_role_valid"),
            models.CheckConstraint(condition=Q(availability__in=Availability.values), name="user_availability_valid"),
            models.UniqueConstraint(fields=["import_ref"], condition=~Q(import_ref=""), name="user_import_ref_unique"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.username

    @property
    def display_name(self) -> str:
        return self.full_name or self.username

    def has_perm_code(self, perm: Perm) -> bool:
        return self.is_active and role_has(self.role, perm)


class AvailabilityEvent(models.Model):
    """History row of the availability state machine (accounts.actions.do_change_availability)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="availability_events")
    from_state = models.CharField(max_length=16, choices=Availability.choices)
    to_state = models.CharField(max_length=16, choices=Availability.choices)
    acting_user = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="avail_user_time_idx")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.from_state} -> {self.to_state}"


class LoginFailure(models.Model):
    """Failed logins, kept for throttling (accounts.throttle) and forensics. Pruned by a periodic job."""

    username = models.CharField(max_length=150, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.username} {self.ip} {self.created_at:%Y-%m-%d %H:%M}"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for /api/v1/. Only its SHA-256 is stored; the token is shown once at creation."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("nombre"), max_length=100)
    prefix = models.CharField(max_length=8)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("token de API")
        verbose_name_plural = _("tokens de API")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


def business_hours_open(team: Team, at: datetime) -> bool:
    """Whether `team` is open at `at` (aware), in TIME_ZONE, honouring team and global holidays."""
    local = timezone.localtime(at)
    if Holiday.objects.filter(Q(team=team) | Q(team__isnull=True), date=local.date()).exists():
        return False
    hours = BusinessHours.objects.filter(team=team)
    if not hours.exists():
        return True  # a team with no declared hours is always open
    return hours.filter(weekday=local.weekday(), opens_at__lte=local.time(), closes_at__gt=local.time()).exists()


__all__ = ["ApiToken", "AvailabilityEvent", "BusinessHours", "Holiday", "LoginFailure", "Skill", "Team", "User",
           "business_hours_open", "hash_token"]
