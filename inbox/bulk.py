"""Bulk actions on the inbox list: the single-conversation actions, one conversation at a time.

Each conversation runs in its own transaction through the same check_* action the conversation page uses, so
the rules (who may assign, the descriptive comment of a move, the closure reasons) are identical one by one,
and one refusal never undoes or stops the others. Bounded to BULK_MAX ids per request so a request stays well
under a second of locks; larger selections are sent in several requests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError
from inbox import actions

BULK_MAX: Final = 200
BULK_OPS: Final = frozenset({"assign", "move", "tag", "close"})


@dataclass
class BulkResult:
    ok: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)  # (conversation id, the refusal's message)


def _add_tag(acting_user: User, conversation_id: int, tag: str) -> None:
    with transaction.atomic():
        # Locked before reading the tags, so two bulk tag requests at once never drop each other's tag.
        c = actions.access_conversation(acting_user, conversation_id, lock=True)
        existing = list(c.tags.values_list("name", flat=True))
        if tag not in existing:
            actions.check_set_associations(acting_user, conversation_id, tags=[*existing, tag])


def check_bulk(acting_user: User, *, conversation_ids: list[int], op: str, assignee_id: int | None = None,
               inbox_code: str | None = None, tag: str | None = None, reason: str | None = None,
               comment: str = "") -> BulkResult:
    """Applies `op` to each conversation: `assign` (to `assignee_id`; None unassigns, only in Global), `move` (to
    the inbox `inbox_code`, with the descriptive `comment` a transfer needs), `tag` (adds `tag` to the
    conversation's tags) or `close` (with `reason` and `comment`). Repeated ids count once. Safe to repeat:
    assigning to the current responsible, or adding a tag already there, is a success that changes nothing.

    Malformed requests (unknown op, no ids, more than BULK_MAX, a missing parameter) raise ActionError before
    anything changes; a conversation the rules refuse lands in `failed` with the action's message."""
    require_perm(acting_user, Perm.INBOX_WORK)
    if op not in BULK_OPS:
        raise ActionError("invalid_op", _("Acción masiva desconocida: %s") % op, field="op")
    ids = list(dict.fromkeys(conversation_ids))
    if not ids:
        raise ActionError("ids_required", _("Seleccione al menos una conversación."), field="ids")
    if len(ids) > BULK_MAX:
        raise ActionError("too_many_ids", _("Puede aplicar una acción a %d conversaciones como máximo por vez.")
                          % BULK_MAX, field="ids")
    clean_tag = (tag or "").strip()[:60]  # Tag.name's length, as check_set_associations stores it
    if op == "move" and not (inbox_code or "").strip():
        raise ActionError("inbox_required", _("Indique la bandeja de destino."), field="inbox")
    if op == "tag" and not clean_tag:
        raise ActionError("tag_required", _("Indique la etiqueta."), field="tag")

    def apply(conversation_id: int) -> None:
        if op == "assign":
            actions.check_assign(acting_user, conversation_id, assignee=assignee_id)
        elif op == "move":
            actions.check_transfer(acting_user, conversation_id, to_inbox=(inbox_code or "").strip(),
                                   comment=comment)
        elif op == "tag":
            _add_tag(acting_user, conversation_id, clean_tag)
        else:
            actions.check_close_conversation(acting_user, conversation_id, reason=reason or "", comment=comment)

    return _each(ids, apply)


def _each(ids: list[int], apply: Callable[[int], None]) -> BulkResult:
    # Only refusals are reported per conversation; anything else is a bug and surfaces as one (a 500).
    result = BulkResult()
    for conversation_id in ids:
        try:
            apply(conversation_id)  # the action's own transaction: committed or rolled back on its own
        except ActionError as exc:
            result.failed.append((conversation_id, exc.message))
        else:
            result.ok.append(conversation_id)
    return result
