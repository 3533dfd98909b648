"""Domain events of the inbox (core.events)."""

from __future__ import annotations

import dataclasses

from core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConversationStateChanged(DomainEvent):
    """A conversation moved from one state to another through the transition function (`reason`: the closure
    reason, or why the system moved it, e.g. "customer_wrote_again")."""

    type = "conversation.state_changed"
    conversation_id: int
    customer_id: int
    channel: str
    from_state: str
    to_state: str
    reason: str = ""
