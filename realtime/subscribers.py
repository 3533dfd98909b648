"""Domain events realtime shows live (core.events subscribers, after commit). Realtime sits above accounts: it
reacts to accounts' events instead of accounts calling it."""

from __future__ import annotations

from typing import Any, Final

from django.db.models.signals import post_delete

from accounts.actions import presence_payload
from accounts.events import AvailabilityChanged
from accounts.models import User
from core.events import DomainEvent
from realtime import topics
from realtime.events import close_connections_on_commit, is_muted, send_event_on_commit


def on_availability_changed(event: DomainEvent) -> None:
    """The user's new availability, to those who watch the team (one topic message) and to the user's own tabs
    when they are not among them."""
    if not isinstance(event, AvailabilityChanged) or is_muted():
        return
    user = User.objects.filter(pk=event.user_id).first()
    if user is None:
        return
    own = [] if topics.in_topic(user, topics.PRESENCE) else [user.pk]
    send_event_on_commit(presence_payload(user), topics=[topics.PRESENCE], user_ids=own)


ACCESS_FIELDS: Final = ("is_active", "role")


def remember_access(sender: type[User], instance: User, update_fields: Any = None, **kwargs: Any) -> None:
    """pre_save of User: what the account may see before this save (skipped for saves of other fields only, such as
    the last login)."""
    if instance.pk is None or (update_fields is not None and not set(update_fields) & set(ACCESS_FIELDS)):
        return
    instance._access_before = (  # type: ignore[attr-defined]
        User.objects.filter(pk=instance.pk).values_list(*ACCESS_FIELDS).first())


def close_on_access_change(sender: type[User], instance: User, **kwargs: Any) -> None:
    """post_save / post_delete of User: deactivated, deleted or given another role — by the users page, the API or
    Django's admin alike — the account's open sockets are closed, so what they joined (the topics of their
    permissions, chat rooms) is read again on reconnection, or the reconnection is refused."""
    before = getattr(instance, "_access_before", None)
    if kwargs.get("signal") is post_delete or (before is not None and before != (instance.is_active, instance.role)):
        close_connections_on_commit([instance.pk])
