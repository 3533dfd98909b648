"""A customer edits or deletes a message they sent (WhatsApp: `edit` and `revoke` webhooks).

The message keeps one row and one place in the timeline; its body becomes the newest text (empty once deleted)
and every earlier version stays as a MessageRevision, so the agent sees "(editado)" with the versions, and a
deleted message as «Mensaje eliminado por el cliente». Like WhatsApp and Chatwoot, a deleted text is hidden from
everyone working the conversation; supervisors can still open it (why: docs/whatsapp.md, "Edits and deletions").

Changes are idempotent on the channel's event id and may arrive in any order: an older edit arriving after a
newer one only joins the history, and a change that overtakes its message waits (`target_external_id`) until
`do_receive_inbound` stores that message and calls `apply_pending_changes`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from inbox.actions.base import _emit, message_payload
from inbox.choices import MessageKind
from inbox.models import Message, MessageRevision

R = MessageRevision.Kind


def deleted_preview() -> str:
    """What the conversation list shows when the last message was deleted (stored text, the site's language)."""
    return _("Mensaje eliminado por el cliente")


def do_record_message_change(*, kind: str, target_external_id: str, event_id: str, at: datetime, body: str = "",
                             meta: dict[str, Any] | None = None, channel_ref: str = "") -> str:
    """The customer edited (`edit`, with the new `body`) or deleted (`delete`) the message whose channel id is
    `target_external_id`. Returns "applied", "pending" (that message is not stored yet: applied when it is),
    "duplicate" (this event was recorded already) or "ignored" (not a message of this customer on `channel_ref`).

    Only inbound messages change: a customer cannot edit the agent's answers. Emits `conversation/message_updated`
    after commit with the message as the timeline shows it."""
    if kind not in (R.EDIT, R.DELETE) or not target_external_id:
        return "ignored"
    with transaction.atomic():
        _take_turns_on(target_external_id)
        if event_id and MessageRevision.objects.filter(external_id=event_id).exists():
            return "duplicate"
        # Lock the message row only: PostgreSQL cannot lock the nullable side of the outer join to the assignee.
        message = (Message.objects.select_for_update(of=("self",))
                   .select_related("conversation", "conversation__inbox", "conversation__customer",
                                   "conversation__assignee")
                   .filter(external_id=target_external_id).first())
        if message is not None and (message.kind != MessageKind.INBOUND
                                    or (channel_ref and message.conversation.channel_ref != channel_ref)):
            return "ignored"
        try:
            with transaction.atomic():
                MessageRevision.objects.create(
                    message=message, target_external_id="" if message else target_external_id, kind=kind,
                    body=body if kind == R.EDIT else "", meta=meta or {}, external_id=event_id, at=at,
                    channel_ref=channel_ref)
        except IntegrityError:  # the same event raced in from a parallel redelivery
            return "duplicate"
        if message is None:
            return "pending"
        if _apply(message):
            _emit(message.conversation, "message_updated", message=message_payload(message))
    return "applied"


def apply_pending_changes(message: Message) -> bool:
    """Edits and deletions that arrived before `message` (same external id, and the same channel endpoint when the
    change named one): attached and applied. Called by do_receive_inbound inside its transaction, after storing a
    message of a channel whose customers can change their messages (WhatsApp) and before announcing it. True when
    the message changed. The same rules as do_record_message_change: only inbound messages change, and a change
    that arrived on another number never attaches (it keeps waiting)."""
    if not message.external_id or message.kind != MessageKind.INBOUND:
        return False
    _take_turns_on(message.external_id)
    attached = (MessageRevision.objects
                .filter(message__isnull=True, target_external_id=message.external_id)
                .filter(Q(channel_ref="") | Q(channel_ref=message.conversation.channel_ref))
                .update(message=message))
    return bool(attached) and _apply(message)


def _take_turns_on(external_id: str) -> None:
    """"Is the message stored yet?" and the storing of that message take turns: without it, a change and its
    message processed at the same moment by two workers could each miss the other (the change would wait for ever).
    PostgreSQL: a transaction-level advisory lock on the id, taken by the change before it looks for the message
    and by the message (after its insert) before it looks for waiting changes. SQLite writes one transaction at a
    time already."""
    if connection.vendor != "postgresql":
        return
    key = int.from_bytes(hashlib.blake2b(external_id.encode(), digest_size=8).digest(), "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _apply(message: Message) -> bool:
    """Brings a locked message to its newest version; the first change keeps the text as received. True when the
    body, edited or deleted time changed (the conversation's preview follows when it showed this message)."""
    revisions = list(message.revisions.all())
    if not any(r.kind == R.ORIGINAL for r in revisions):
        revisions.append(MessageRevision.objects.create(message=message, kind=R.ORIGINAL, body=message.body,
                                                        at=message.created_at))
    # WhatsApp's times are whole seconds: an edit stamped the same second as the original still comes after it.
    texts = sorted((r for r in revisions if r.kind in (R.ORIGINAL, R.EDIT)),
                   key=lambda r: (r.at, r.kind != R.ORIGINAL, r.pk))
    deletions = [r.at for r in revisions if r.kind == R.DELETE]
    edits = [r.at for r in revisions if r.kind == R.EDIT]
    old_body, before = message.body, (message.body, message.edited_at, message.deleted_at)
    message.deleted_at = min(deletions) if deletions else None
    message.edited_at = max(edits) if edits else None
    message.body = "" if message.deleted_at else texts[-1].body
    changed = (message.body, message.edited_at, message.deleted_at) != before
    Message.objects.filter(pk=message.pk).update(body=message.body, edited_at=message.edited_at,
                                                 deleted_at=message.deleted_at)
    conversation = message.conversation
    if changed and conversation.last_message_preview == old_body[:200]:
        conversation.last_message_preview = (deleted_preview() if message.deleted_at else message.body)[:200]
        conversation.save(update_fields=["last_message_preview"])
    return changed
