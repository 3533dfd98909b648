"""Regions other apps add to the conversation page's side panel: the order builder (orders) is one. See
core.panels."""

from __future__ import annotations

from core.panels import Panels
from inbox.models import Conversation

conversation_side: Panels[Conversation] = Panels()
