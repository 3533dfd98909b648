"""Announcements: news, policies, procedures, celebrations and recognitions that supervisors, managers and admins
publish to everyone or to teams; a banner on every page until each person confirms (or, without confirmation, reads)
it, and a page of announcements. docs/announcements.md tells the whole story."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Team
from announcements.choices import AnnouncementCategory, AnnouncementState

TITLE_MAX = 200
BODY_MAX = 20_000


class Announcement(models.Model):
    """One announcement. `everyone` or `teams` say who it is for; publishing snapshots them into recipient rows.
    `image` is the description inbox.attachments.store_file returns ({"name", "content_type", "size", "path"}), or
    {} for none; it is served only to those who may read the announcement (announcements.views.image)."""

    title = models.CharField(_("título"), max_length=TITLE_MAX)
    body = models.TextField(_("texto (Markdown)"), blank=True)
    category = models.CharField(_("categoría"), max_length=20, choices=AnnouncementCategory.choices,
                                default=AnnouncementCategory.NEWS)
    state = models.CharField(_("estado"), max_length=12, choices=AnnouncementState.choices,
                             default=AnnouncementState.DRAFT)
    everyone = models.BooleanField(_("para todos"), default=True)
    teams = models.ManyToManyField(Team, blank=True, related_name="+", verbose_name=_("equipos"))
    requires_ack = models.BooleanField(_("pide confirmación de lectura"), default=False)
    pinned_until = models.DateField(_("fijado hasta"), null=True, blank=True)
    publish_at = models.DateTimeField(_("publicación programada"), null=True, blank=True)
    image = models.JSONField(_("imagen"), default=dict, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="+", verbose_name=_("autor"))
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # The one-time token of the form that created it: the same form sent twice (a double click on "Publicar")
    # creates one announcement (announcements.actions.check_save_announcement).
    form_token = models.CharField(max_length=32, null=True, blank=True, unique=True, editable=False)
    published_at = models.DateTimeField(_("publicado"), null=True, blank=True)
    archived_at = models.DateTimeField(_("archivado"), null=True, blank=True)

    class Meta:
        verbose_name = _("anuncio")
        verbose_name_plural = _("anuncios")
        constraints = [
            models.CheckConstraint(condition=Q(state__in=AnnouncementState.values), name="ann_state_valid"),
            models.CheckConstraint(condition=Q(category__in=AnnouncementCategory.values), name="ann_category_valid"),
            models.CheckConstraint(condition=~Q(state=AnnouncementState.SCHEDULED) | Q(publish_at__isnull=False),
                                   name="ann_scheduled_has_time"),
        ]
        indexes = [
            # The list's order (published ones, newest first) and the scheduler's question (which are due).
            models.Index(fields=["state", "-published_at"], name="ann_state_published_idx"),
            models.Index(fields=["publish_at"], condition=Q(state=AnnouncementState.SCHEDULED), name="ann_due_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_pinned(self) -> bool:
        return self.pinned_until is not None and self.pinned_until >= timezone.localdate()

    @property
    def has_image(self) -> bool:
        return bool(isinstance(self.image, dict) and self.image.get("path"))


class AnnouncementRecipient(models.Model):
    """One person an announcement was published to (the audience's snapshot at publication), or one who confirmed
    it later on their own (`late`: they joined the audience after it was published). `cleared_at` is null while the
    banner shows: it is set when they confirm it (announcements that ask for confirmation) or read or close it (the
    others)."""

    announcement = models.ForeignKey(Announcement, on_delete=models.CASCADE, related_name="recipients")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    late = models.BooleanField(default=False)
    added_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    acked_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    reminders = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["announcement", "user"], name="ann_recipient_unique"),
        ]
        indexes = [
            # The banner on every page: this person's rows whose banner still shows (a handful), one index read.
            models.Index(fields=["user", "announcement"], condition=Q(cleared_at__isnull=True),
                         name="ann_recipient_banner_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.announcement_id} → {self.user_id}"


class AnnouncementTransition(models.Model):
    """The history of an announcement's states: who scheduled, published or archived it, and when (actor null: the
    scheduler published it at its time)."""

    announcement = models.ForeignKey(Announcement, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=12, choices=AnnouncementState.choices)
    to_state = models.CharField(max_length=12, choices=AnnouncementState.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(from_state__in=AnnouncementState.values), name="ann_transition_from"),
            models.CheckConstraint(condition=Q(to_state__in=AnnouncementState.values), name="ann_transition_to"),
        ]

    def __str__(self) -> str:
        return f"{self.announcement_id}: {self.from_state} → {self.to_state}"


class AnnouncementReminder(models.Model):
    """One "Recordar a quienes no lo han confirmado": who sent it, when, and to how many people. The latest one's
    time is the rate limit (one an hour per announcement)."""

    announcement = models.ForeignKey(Announcement, on_delete=models.CASCADE, related_name="reminder_log")
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    recipients = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["announcement", "-at"], name="ann_reminder_latest_idx")]

    def __str__(self) -> str:
        return f"{self.announcement_id} @ {self.at:%Y-%m-%d %H:%M}"
