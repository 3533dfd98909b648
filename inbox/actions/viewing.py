"""The collision warning: who else has a conversation open."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.utils import timezone

from accounts.models import User
from core.errors import ActionError
from inbox.actions.base import (
    access_conversation,
)
from realtime.events import is_muted, send_event_on_commit

# --- collision warning ----------------------------------------------------------------------------------

VIEWING_TTL = 45  # seconds; pages announce themselves every 20 s


def on_viewing_message(acting_user: User, message: dict[str, Any]) -> None:
    """A browser says its user has a conversation open ({"type": "viewing", "conversation_id": n}, realtime)."""
    if isinstance(message.get("conversation_id"), int) and not isinstance(message["conversation_id"], bool):
        check_viewing(acting_user, message["conversation_id"])


def check_viewing(acting_user: User, conversation_id: int) -> list[str]:
    """Records that `acting_user` has the conversation open and tells everyone who has it open who else does,
    so two agents never answer the same customer unknowingly. Kept in the cache (shared through Redis at scale)."""

    try:
        access_conversation(acting_user, conversation_id)
    except ActionError:
        return []
    key = f"inbox:viewing:{conversation_id}"
    now = timezone.now().timestamp()
    viewers = {int(k): v for k, v in (cache.get(key) or {}).items() if now - v[1] < VIEWING_TTL}
    viewers[acting_user.pk] = (acting_user.display_name, now)
    cache.set(key, viewers, VIEWING_TTL)
    names = sorted(name for name, _stamp in viewers.values())
    if not is_muted():
        send_event_on_commit({"type": "viewing", "op": "update", "conversation_id": conversation_id,
                              "viewers": names}, user_ids=list(viewers))
    return names
