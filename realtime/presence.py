"""Websocket bookkeeping used to detect agents who closed Centralita without signing out."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from realtime.models import Connection


def register_connection(user_id: int, channel_name: str) -> None:
    Connection.objects.update_or_create(channel_name=channel_name, defaults={"user_id": user_id})


def touch_connection(channel_name: str) -> None:
    Connection.objects.filter(channel_name=channel_name).update(last_seen_at=timezone.now())


def drop_connection(channel_name: str) -> None:
    Connection.objects.filter(channel_name=channel_name).delete()


def has_live_connection(user_id: int) -> bool:
    fresh_since = timezone.now() - timedelta(seconds=Connection.STALE_AFTER_SECONDS)
    return Connection.objects.filter(user_id=user_id, last_seen_at__gte=fresh_since).exists()
