"""Notification hooks: the inbox's actions say *who* should hear about *what*; connector apps decide how (the
email connector registers a notifier in its AppConfig.ready()), so the inbox depends on none of them.

`notify` is called inside the action's transaction; a notifier must schedule its work after commit
(core.tasks.enqueue_on_commit), so a rolled-back assignment never sends an email.
Events: "assigned" (conversation_id, actor_id), "mention" (conversation_id, actor_id, note_id).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Notifier = Callable[[str, list[int], dict[str, Any]], None]
_NOTIFIERS: list[Notifier] = []


def register_notifier(notifier: Notifier) -> None:
    if notifier not in _NOTIFIERS:
        _NOTIFIERS.append(notifier)


def notify(event: str, *, user_ids: Iterable[int], **data: Any) -> None:
    ids = sorted(set(user_ids))
    if not ids:
        return
    for notifier in _NOTIFIERS:
        notifier(event, ids, data)
