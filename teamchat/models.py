"""The team chat: channels (one per team, public, private), direct messages (two people or a small group), their
members with how far each has read, messages with threads, edits (their earlier texts kept), deletions and
reactions. Full-text search over messages: teamchat.search."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Team
from core.indexes import CoveringIndex
from teamchat.choices import ChannelKind, ChannelState, MemberRole

NAME_MAX = 80
TOPIC_MAX = 250
BODY_MAX = 4000
EMOJI_MAX = 16
GROUP_MAX_MEMBERS = 9


class Channel(models.Model):
    kind = models.CharField(_("tipo"), max_length=10, choices=ChannelKind.choices)
    # Empty for direct messages: they are named by their members for each reader.
    name = models.CharField(_("nombre"), max_length=NAME_MAX, blank=True)
    topic = models.CharField(_("descripción"), max_length=TOPIC_MAX, blank=True)
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="chat_channels",
                             verbose_name=_("equipo"))
    # Direct messages: the members' ids in order ("4:17"), so opening one with the same people finds the same one.
    direct_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    state = models.CharField(_("estado"), max_length=10, choices=ChannelState.choices, default=ChannelState.ACTIVE)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("creado por"))
    created_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("canal del chat")
        verbose_name_plural = _("canales del chat")
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=ChannelKind.values), name="chat_channel_kind_valid"),
            models.CheckConstraint(condition=Q(state__in=ChannelState.values), name="chat_channel_state_valid"),
            models.UniqueConstraint(fields=["team"], condition=Q(kind=ChannelKind.TEAM), name="chat_one_team_channel"),
            models.UniqueConstraint(Lower("name"), condition=Q(kind__in=[ChannelKind.TEAM, ChannelKind.PUBLIC,
                                                                         ChannelKind.PRIVATE]),
                                    name="chat_channel_name_unique"),
        ]

    def __str__(self) -> str:
        if self.name or self.pk is None:
            return self.name
        # A direct message is named by its people (the audit log's sentences read it).
        return ", ".join(m.user.display_name for m in self.memberships.select_related("user").order_by("user_id"))

    @property
    def is_direct(self) -> bool:
        return self.kind in (ChannelKind.DIRECT, ChannelKind.GROUP)

    @property
    def is_archived(self) -> bool:
        return self.state == ChannelState.ARCHIVED


class ChannelTransition(models.Model):
    """History row of a channel's state machine."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=10, choices=ChannelState.choices)
    to_state = models.CharField(max_length=10, choices=ChannelState.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.channel_id}: {self.from_state} → {self.to_state}"


class Membership(models.Model):
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_memberships")
    role = models.CharField(_("rol"), max_length=12, choices=MemberRole.choices, default=MemberRole.MEMBER)
    joined_at = models.DateTimeField(default=timezone.now)
    # The id of the last top-level message this member has read: unread = later messages of others.
    last_read_id = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "user"], name="chat_membership_unique"),
            models.CheckConstraint(condition=Q(role__in=MemberRole.values), name="chat_membership_role_valid"),
        ]
        indexes = [models.Index(fields=["user", "channel"], name="chat_membership_user")]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.channel_id}"


class Message(models.Model):
    id = models.BigAutoField(primary_key=True)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="+")
    # A reply in a thread: its root message (threads are one level deep, as in Slack and Zulip's topics).
    parent = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies")
    body = models.TextField(blank=True)
    # The body as safe HTML (teamchat.render.render_chat, its members' @mentions marked), rendered once when it is
    # written: the history draws it as is (rendering 50 messages on every page cost ~15 ms). Empty when deleted.
    html = models.TextField(blank=True, default="")
    # [{"name", "content_type", "size", "path"}] as inbox attachments (inbox.attachments.store_file).
    attachments = models.JSONField(default=list, blank=True)
    mentions = models.JSONField(default=list, blank=True)  # user ids named with @usuario
    mentions_channel = models.BooleanField(default=False)  # @canal
    # Links to our own objects found in the text: [{"kind": "conversation"|"lead"|"order"|"customer", "id": 12}];
    # each reader sees a card only for the objects they may see (teamchat.cards).
    refs = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    reply_count = models.PositiveIntegerField(default=0)
    last_reply_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # History pages and unread counts: a channel's top-level messages by id (keyset). On PostgreSQL it carries
            # the author and the deletion mark too, so the unread counts are index-only scans (measured at 1,000,000
            # messages: they visited ~5,800 heap pages per call without them).
            CoveringIndex(fields=["channel", "id"], covering=["author", "deleted_at"], condition=Q(parent__isnull=True),
                          name="chat_message_top"),
            models.Index(fields=["parent", "id"], condition=Q(parent__isnull=False), name="chat_message_thread"),
            models.Index(fields=["created_at"], name="chat_message_created"),  # retention
        ]

    def __str__(self) -> str:
        return f"{self.channel_id}#{self.pk}"


class MessageRevision(models.Model):
    """An earlier text of an edited message (who edited and when), kept for the edit history."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="revisions")
    body = models.TextField(blank=True)
    editor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="+")
    edited_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["edited_at", "id"]

    def __str__(self) -> str:
        return f"{self.message_id} @ {self.edited_at:%Y-%m-%d %H:%M}"


class Reaction(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    emoji = models.CharField(max_length=EMOJI_MAX)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "user", "emoji"], name="chat_reaction_unique")]

    def __str__(self) -> str:
        return f"{self.emoji} {self.user_id} → {self.message_id}"


class ChatSettings(models.Model):
    """The organization's chat settings (one row)."""

    # 0 keeps messages forever; otherwise messages older than this many days are deleted every night.
    retention_days = models.PositiveIntegerField(_("conservar los mensajes (días)"), default=0)

    class Meta:
        verbose_name = _("configuración del chat")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)

    @classmethod
    def load(cls) -> ChatSettings:
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj
