"""Background work for accounts: thin shims over actions (STYLE §8)."""

from __future__ import annotations

from datetime import timedelta

from django.tasks import task
from django.utils import timezone

from accounts.models import LoginFailure


@task()
def prune_login_failures(days: int = 30) -> int:
    """Periodic: failed sign-in records older than `days` (they only feed the throttle and the security page)."""
    deleted, _ = LoginFailure.objects.filter(created_at__lt=timezone.now() - timedelta(days=days)).delete()
    return deleted
