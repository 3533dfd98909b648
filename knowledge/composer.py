"""The knowledge base's part of the conversation page: an article picker under the composer (inbox.panels.composer)
that inserts an article's text or public link into the reply (knowledge/static/knowledge/composer.js)."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError
from inbox.actions import can_reply, check_may_act
from inbox.models import Conversation


def may_insert(user: User, conversation: Conversation) -> bool:
    """Whoever may answer in the conversation (its responsible agent or a supervisor) and read the knowledge base,
    on a conversation that takes written answers."""
    if not (user.has_perm_code(Perm.INBOX_WORK) and user.has_perm_code(Perm.KNOWLEDGE_VIEW)) or \
            not can_reply(conversation):
        return False
    try:
        check_may_act(user, conversation)
    except ActionError:
        return False
    return True


def composer_panel(user: User, conversation: Conversation) -> dict[str, Any] | None:
    if not may_insert(user, conversation):
        return None
    language = getattr(conversation.customer, "language", "") if conversation.customer_id else ""
    return {"c": conversation, "language": language or ""}
