"""Background work for accounts: thin shims over actions (STYLE §8)."""

from __future__ import annotations

from datetime import timedelta

from django.tasks import task
from django.utils import timezone

from accounts.actions import do_change_availability
from accounts.choices import Availability
from accounts.models import LoginFailure, User
from realtime.presence import has_live_connection


@task()
def auto_offline(user_id: int) -> bool:
    """Sets a user offline when they no longer have Centralita open anywhere.

    Safe to repeat: a user who reconnected, or is already offline, is left alone. Runs in the worker, so
    the presence event it sends crosses processes through the channel layer.
    """

    user = User.objects.filter(pk=user_id).only("availability").first()
    if user is None or user.availability == Availability.OFFLINE or has_live_connection(user_id):
        return False
    do_change_availability(user_id, to=Availability.OFFLINE, acting_user=None)
    return True


@task()
def prune_login_failures(days: int = 30) -> int:
    """Periodic: failed sign-in records older than `days` (they only feed the throttle and the security page)."""
    deleted, _ = LoginFailure.objects.filter(created_at__lt=timezone.now() - timedelta(days=days)).delete()
    return deleted
