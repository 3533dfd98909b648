"""Domain events realtime shows live (core.events subscribers, after commit). Realtime sits above accounts: it
reacts to accounts' events instead of accounts calling it."""

from __future__ import annotations

from accounts.actions import presence_payload
from accounts.events import AccessChanged, AvailabilityChanged
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


def on_access_changed(event: DomainEvent) -> None:
    """Deactivated, reactivated or given another role: the user's open sockets are closed, so what they joined
    (topics of their permissions, chat rooms) is read again on reconnection — or the reconnection is refused."""
    if isinstance(event, AccessChanged):
        close_connections_on_commit([event.user_id])
