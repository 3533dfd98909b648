"""Automation's part of the conversation page: the quick-reply picker under the composer, and the check that no
quick-reply variable without a value reaches a customer."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from accounts.models import User
from accounts.roles import Perm
from automation.variables import variables_in
from core.errors import ActionError
from inbox.actions import can_reply, check_may_act
from inbox.models import Conversation


def composer_panel(user: User, conversation: Conversation) -> dict[str, Any] | None:
    """For whoever may answer in it (its responsible agent or a supervisor), on a conversation that takes written
    answers (a call takes notes only)."""
    if not user.has_perm_code(Perm.INBOX_WORK) or not can_reply(conversation):
        return None
    try:
        check_may_act(user, conversation)
    except ActionError:
        return None
    return {"c": conversation}


def refuse_unfilled_variables(conversation: Conversation, body: str, meta: dict[str, Any]) -> None:
    """inbox.outbound body check: `{{cliente.nombre}}` with no value was left in the text (400 `unfilled_variable`)."""
    left = variables_in(body)
    if left:
        names = ", ".join(dict.fromkeys(left))
        raise ActionError("unfilled_variable", _("Complete o borre antes de enviar: %s") % names, field="body",
                          variables=left)
