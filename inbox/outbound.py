"""Outbound delivery through channel connectors, without the inbox depending on them.

Each connector app registers, in its AppConfig.ready(), a sender for its channel: a function taking a Message id
that delivers it to the outside world (WhatsApp Cloud API, SMTP, the web chat visitor's socket) and reports the
result through `inbox.actions.do_update_delivery_status`. The inbox schedules delivery after commit; channels
without a sender (api, phone) are "sent" as soon as they are stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inbox.models import Conversation

Sender = Callable[[int], None]
# A guard refuses an outbound message before it is stored (raise core.errors.ActionError with the reason).
Guard = Callable[["Conversation", str, dict[str, Any]], None]
# A requeue puts a failed send back in line in the connector's outbox (core.outbox) before a retry; False when the
# connector holds no failed row for the message (it failed before its first attempt).
Requeue = Callable[[int], bool]

# An attachment check refuses files a channel cannot deliver (WhatsApp's media types and sizes), before the
# message is stored; it gets the stored descriptions ({"name", "content_type", "size", "path"}).
AttachmentCheck = Callable[["Conversation", list[dict[str, Any]]], None]

_SENDERS: dict[str, Sender] = {}
_ATTACHMENT_CHECKS: dict[str, AttachmentCheck] = {}
_GUARDS: dict[str, Guard] = {}
_BODY_CHECKS: list[Guard] = []
_REQUEUES: dict[str, Requeue] = {}
_suppressed: ContextVar[bool] = ContextVar("centralita_outbound_suppressed", default=False)


@contextmanager
def suppressed() -> Iterator[None]:
    """Replies written inside are stored as already sent: no guard, no delivery. For data that describes the
    past or a demo (seed_demo, history import) — never for a reply a customer should receive."""
    token = _suppressed.set(True)
    try:
        yield
    finally:
        _suppressed.reset(token)


def is_suppressed() -> bool:
    return _suppressed.get()


def register_sender(channel: str, sender: Sender, *, requeue: Requeue | None = None) -> None:
    _SENDERS[channel] = sender
    if requeue is not None:
        _REQUEUES[channel] = requeue


def requeue_for(channel: str) -> Requeue | None:
    return _REQUEUES.get(channel)


def sender_for(channel: str) -> Sender | None:
    return None if _suppressed.get() else _SENDERS.get(channel)


def has_sender(channel: str) -> bool:
    return channel in _SENDERS and not _suppressed.get()


def register_guard(channel: str, guard: Guard) -> None:
    _GUARDS[channel] = guard


def guard_for(channel: str) -> Guard | None:
    return None if _suppressed.get() else _GUARDS.get(channel)


def register_attachment_check(channel: str, check: AttachmentCheck) -> None:
    _ATTACHMENT_CHECKS[channel] = check


def attachment_check_for(channel: str) -> AttachmentCheck | None:
    return None if _suppressed.get() else _ATTACHMENT_CHECKS.get(channel)


def register_body_check(check: Guard) -> None:
    """A check of every answer's text on every channel, before it is stored (automation: no quick-reply variable
    left unfilled reaches a customer)."""
    if check not in _BODY_CHECKS:
        _BODY_CHECKS.append(check)


def body_checks() -> list[Guard]:
    return [] if _suppressed.get() else list(_BODY_CHECKS)


def channel_templates(channel: str) -> dict[str, list[str]]:
    """Template extension points of the conversation page: a connector app may provide
    `<channel>/_message_body.html` (how one message renders: media, sanitized HTML, location…),
    `<channel>/_compose_extra.html` (above the reply box: WhatsApp's 24-hour window and template picker) and
    `<channel>/_sidebar.html`; the inbox's defaults are used otherwise."""
    return {
        "body_templates": [f"{channel}/_message_body.html", "inbox/_message_body.html"],
        "compose_templates": [f"{channel}/_compose_extra.html", "inbox/_empty.html"],
        "sidebar_templates": [f"{channel}/_sidebar.html", "inbox/_empty.html"],
    }
