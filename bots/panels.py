"""The conversation's side panel "Bot": which flow talks (or talked) in this conversation, where it stands, what
it collected and how it ended — what an agent reads before taking over from the bot."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from bots.actions import step_label
from bots.choices import OPEN_STATES, HandoffReason, RunState
from bots.engine import LAST_ANSWER
from bots.models import BotRun
from inbox.models import Conversation


def bot_panel(user: User, conversation: Conversation) -> dict[str, Any] | None:
    run = (BotRun.objects.select_related("flow", "version").filter(conversation=conversation)
           .order_by("-started_at", "-pk").first())
    if run is None:
        return None
    steps = run.version.graph.get("steps", {})
    return {
        "run": run, "open": run.state in OPEN_STATES, "state": RunState(run.state).label,
        "step": step_label(steps.get(run.step), run.step),
        "reason": HandoffReason(run.handoff_reason).label if run.handoff_reason else "",
        "variables": sorted((k, v) for k, v in run.variables.items() if k != LAST_ANSWER and v),
    }
