from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Connection(models.Model):
    """One open websocket. Lets the server tell whether a user still has Centralita open anywhere.

    Rows are deleted on disconnect; a crashed server leaves rows whose `last_seen_at` stops moving
    (clients ping every 25 s), so readers treat rows older than STALE_AFTER as gone.
    """

    STALE_AFTER_SECONDS = 90

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="connections")
    channel_name = models.CharField(max_length=200, unique=True)
    connected_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.user_id} {self.channel_name}"
