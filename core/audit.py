"""The one constructor for audit entries (STYLE §5)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

from core.models import AuditLog
from core.request_context import current_origin

if TYPE_CHECKING:
    from accounts.models import User


def record(
    *,
    actor: User | None,
    action: str,
    target: models.Model | None = None,
    changes: dict[str, Any] | None = None,
    actor_username: str = "",
) -> AuditLog:
    entry = build(actor=actor, action=action, target=target, changes=changes, actor_username=actor_username)
    entry.save()
    return entry


def build(
    *,
    actor: User | None,
    action: str,
    target: models.Model | None = None,
    changes: dict[str, Any] | None = None,
    actor_username: str = "",
) -> AuditLog:
    """An unsaved entry, for writers of many rows at once (AuditLog.objects.bulk_create, e.g. a catalog import)."""
    origin = current_origin()
    return AuditLog(
        actor=actor if actor is not None and actor.pk else None,
        actor_username=(actor.get_username() if actor is not None else actor_username)[:150],
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        changes=changes or {},
        ip=origin.ip,
        user_agent=origin.user_agent,
        via=origin.via,
    )
