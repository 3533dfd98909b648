"""Regions other apps add to the conversation page: the side panel's (the order builder, orders) and the
composer's (the quick-reply picker, automation). See core.panels."""

from __future__ import annotations

from core.panels import Panels
from inbox.models import Conversation

conversation_side: Panels[Conversation] = Panels()
# Regions of the composer, under the text box (automation: the quick-reply picker).
composer: Panels[Conversation] = Panels()
