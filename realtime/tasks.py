"""Background work for realtime: thin shims over actions (STYLE §8)."""

from __future__ import annotations

from django.tasks import task

from accounts.actions import do_change_availability
from accounts.choices import Availability
from accounts.models import User
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
