"""Replies, internal notes (with mentions), delivery status, and work handled outside the inbox."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core import audit
from core.errors import ActionError, ConflictError, NotFoundError
from core.events import emit
from core.tasks import enqueue_on_commit
from core.validators import check_text
from inbox import notifications, outbound, tasks
from inbox.actions.assignment import (
    _assign,
)
from inbox.actions.base import (
    MENTION,
    S,
    _descriptive,
    _emit,
    _event,
    _may_act,
    access_conversation,
    do_transition_conversation,
    event_payload,
    message_max_length,
    message_payload,
)
from inbox.attachments import Upload, discard, resolve_reference, store_uploads
from inbox.choices import (
    Channel,
    DeliveryStatus,
    MessageKind,
)
from inbox.events import (
    MessageSent,
)
from inbox.models import Conversation, Message
from realtime.events import is_muted, send_event_on_commit

# --- messages, notes, handled elsewhere ---------------------------------------------------------------


def can_reply(c: Conversation) -> bool:
    """Whether an answer can be written to the customer: not on a call (the phone channel) unless a telephony
    connector registered a sender for it (or the reply describes the past: demo data, imported history)."""
    return c.channel != Channel.PHONE or outbound.has_sender(Channel.PHONE) or outbound.is_suppressed()


def check_send_reply(acting_user: User, conversation_id: int, *, body: str, attachments: list[Any] | None = None,
                     uploads: Sequence[Upload] = (), references: Sequence[str] = (),
                     meta: dict[str, Any] | None = None) -> Message:
    """An answer to the customer by its responsible agent (or a supervisor): see do_send_reply. `uploads` are files
    the agent attached, `references` files kept elsewhere that the agent chose ("quick_reply:12"); both are stored
    under the conversation (inbox.attachments) before the conversation is locked, and deleted again if the answer
    is refused."""
    stored = _store_files(acting_user, conversation_id, uploads, references, answer=True)
    try:
        with transaction.atomic():
            c = access_conversation(acting_user, conversation_id, lock=True)
            _may_act(acting_user, c)
            return do_send_reply(c, author=acting_user, body=body, attachments=[*(attachments or []), *stored],
                                 meta=meta)
    except BaseException:
        discard(stored)
        raise


def _store_files(user: User, conversation_id: int, uploads: Sequence[Upload], references: Sequence[str], *,
                 answer: bool) -> list[dict[str, Any]]:
    """Checks who may write (an answer: its responsible agent or a supervisor), then stores the files — without
    holding the conversation's row lock while bytes are written (the caller locks it afterwards and checks again)."""
    if not uploads and not references:
        return []
    c = access_conversation(user, conversation_id)
    if answer:
        _may_act(user, c)
    files = [*uploads, *(resolve_reference(user, c, reference) for reference in references)]
    return store_uploads(f"attachments/{c.pk}", files)


def attachments_preview(attachments: Sequence[dict[str, Any]]) -> str:
    """The list's one-line preview of a message that is only files: "📎 catálogo.pdf, foto.jpg"."""
    return ("📎 " + ", ".join(str(a.get("name") or "") for a in attachments))[:200] if attachments else ""


def do_send_reply(c: Conversation, *, author: User, body: str, attachments: list[Any] | None = None,
                  meta: dict[str, Any] | None = None) -> Message:
    """Stores an answer written by `author` in `c` (the caller holds its row lock and decided who may write:
    check_send_reply for a person, automation for a message they scheduled) and queues its delivery after commit.
    Connectors with rules of their own (WhatsApp's 24-hour window) register a guard in inbox.outbound and refuse
    here, before anything is stored."""
    body = body.strip()
    if not body and not attachments:
        raise ActionError("empty_message", _("La respuesta está vacía."), field="body")
    acting_user = author
    if not can_reply(c):
        raise ConflictError("phone_no_reply", _("Una llamada no se responde por escrito: escriba una nota "
                                                "interna, o llame al cliente desde la cola de llamadas."))
    check_text(body, field="body", label=_("La respuesta"), max_length=message_max_length(c.channel))
    guard = outbound.guard_for(c.channel)
    if guard is not None:
        guard(c, body, meta or {})
    for check in outbound.body_checks():
        check(c, body, meta or {})
    attachment_check = outbound.attachment_check_for(c.channel)
    if attachment_check is not None and attachments:
        attachment_check(c, attachments)
    if c.state == S.RESOLVED:
        do_transition_conversation(c, to=S.PENDING, acting_user=acting_user, reason="agent_wrote_again")
    if c.assignee_id is None:
        _assign(c, acting_user, acting_user=acting_user)
    now = timezone.now()
    status = DeliveryStatus.QUEUED if outbound.has_sender(c.channel) else DeliveryStatus.SENT
    message = Message.objects.create(conversation=c, cycle=c.cycle, kind=MessageKind.OUTBOUND,
                                     author=acting_user, body=body, delivery_status=status, created_at=now,
                                     attachments=attachments or [], meta=meta or {})
    c.first_response_at = c.first_response_at or now
    if c.first_response_seconds is None:  # the dashboard's first response: the conversation's, not the cycle's
        c.first_response_seconds = max(0, int((now - c.created_at).total_seconds()))
    c.last_agent_message_at, c.last_activity_at, c.awaiting_reply = now, now, False
    c.last_message_preview, c.waiting_since = body[:200] or attachments_preview(attachments or []), None
    c.save(update_fields=["first_response_at", "first_response_seconds", "last_agent_message_at",
                          "last_activity_at", "awaiting_reply", "last_message_preview", "waiting_since"])
    # Answered: now the conversation waits for the customer (an escalated one stays with the supervisor).
    if c.state == S.NEW:
        do_transition_conversation(c, to=S.PENDING, acting_user=acting_user, reason="replied")
    if c.state == S.PENDING:
        do_transition_conversation(c, to=S.ON_HOLD, acting_user=acting_user, reason="replied")
    emit(MessageSent(message_id=message.pk, conversation_id=c.pk, customer_id=c.customer_id, channel=c.channel,
                     author_id=acting_user.pk, body=body, delivery_status=status), actor=acting_user)
    _emit(c, "message", message=message_payload(message))
    if status == DeliveryStatus.QUEUED:  # after the message's own event (see check_retry_delivery)
        enqueue_on_commit(tasks.deliver_outbound, message.pk)
    return message


def do_send_automatic(c: Conversation, *, body: str, meta: dict[str, Any]) -> Message:
    """Stores an answer the system writes in the locked conversation `c` (an automation rule's reply, its
    scheduled follow-up; `meta["automation"]` names the rule) and queues its delivery after commit. The channel's
    rules hold as for a person (the WhatsApp window guard, the phone, the length), but it is nobody's answer: it
    does not assign the conversation, move its state or count as the team's response — the customer still waits
    for a person (service-level clocks and the dashboard's first response agree)."""
    body = body.strip()
    if not body:
        raise ActionError("empty_message", _("La respuesta está vacía."), field="body")
    if not can_reply(c):
        raise ConflictError("phone_no_reply", _("Una llamada no se responde por escrito."))
    check_text(body, field="body", label=_("La respuesta"), max_length=message_max_length(c.channel))
    guard = outbound.guard_for(c.channel)
    if guard is not None:
        guard(c, body, meta)
    for check in outbound.body_checks():
        check(c, body, meta)
    now = timezone.now()
    status = DeliveryStatus.QUEUED if outbound.has_sender(c.channel) else DeliveryStatus.SENT
    message = Message.objects.create(conversation=c, cycle=c.cycle, kind=MessageKind.OUTBOUND, author=None,
                                     body=body, delivery_status=status, created_at=now, meta=meta)
    # The preview shows it; the activity clock does not move (it times the wait for a person: the stale-conversation
    # return to the pool reads it).
    c.last_message_preview = body[:200]
    c.save(update_fields=["last_message_preview"])
    emit(MessageSent(message_id=message.pk, conversation_id=c.pk, customer_id=c.customer_id, channel=c.channel,
                     author_id=None, body=body, delivery_status=status, automatic=True))
    _emit(c, "message", message=message_payload(message))
    if status == DeliveryStatus.QUEUED:
        enqueue_on_commit(tasks.deliver_outbound, message.pk)
    return message


def do_add_system_note(c: Conversation, *, body: str, meta: dict[str, Any]) -> Message:
    """An internal note the system writes in the locked conversation `c` (an automation rule's; `meta` names it)."""
    body = body.strip()
    check_text(body, field="body", label=_("La nota"), max_length=settings.NOTE_MAX_LENGTH)
    note = Message.objects.create(conversation=c, cycle=c.cycle, kind=MessageKind.NOTE, author=None, body=body,
                                  meta=meta)
    _emit(c, "message", message=message_payload(note))
    return note


_DELIVERY_RANK = {DeliveryStatus.QUEUED: 0, DeliveryStatus.SENT: 1, DeliveryStatus.DELIVERED: 2,
                  DeliveryStatus.READ: 3, DeliveryStatus.FAILED: 4}


def do_update_delivery_status(message_id: int, *, status: str, error: str = "", external_id: str = "") -> bool:
    """A connector reports what happened to an outbound message. Statuses only move forward (a channel may report
    "read" before "delivered": the late "delivered" changes nothing); "failed" is final. Returns True on change."""
    new = DeliveryStatus(status)
    with transaction.atomic():
        m = Message.objects.select_for_update().select_related("conversation").filter(pk=message_id).first()
        if m is None:
            return False
        fields: list[str] = []
        if external_id and m.external_id != external_id:
            m.external_id = external_id
            fields.append("external_id")
        current = DeliveryStatus(m.delivery_status) if m.delivery_status else DeliveryStatus.QUEUED
        if current != DeliveryStatus.FAILED and _DELIVERY_RANK[new] > _DELIVERY_RANK[current]:
            m.delivery_status, m.delivery_error = new.value, error[:300]
            fields += ["delivery_status", "delivery_error"]
        if not fields:
            return False
        m.save(update_fields=fields)
        if "delivery_status" in fields:
            _emit(m.conversation, "delivery", message={"id": m.pk, "status": m.delivery_status,
                                                       "error": m.delivery_error})
    return "delivery_status" in fields


def check_retry_delivery(acting_user: User, conversation_id: int, message_id: int) -> Message:
    """Sends again an answer whose delivery failed (the channel refused it, the mailbox was down past its retries,
    the mail bounced): the connector puts its send back in line (a WhatsApp send resumes after the parts Meta
    already took; an email keeps its Message-ID) and the message is queued again. Anyone who may act on the
    conversation may retry; the conversation's history says who did."""
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        m = (Message.objects.select_for_update()
             .filter(pk=message_id, conversation=c, kind=MessageKind.OUTBOUND).first())
        if m is None:
            raise NotFoundError("message_not_found", _("El mensaje no existe."))
        _may_act(acting_user, c)
        if m.delivery_status != DeliveryStatus.FAILED:
            raise ConflictError("not_failed", _("Solo se reintenta un mensaje cuyo envío falló."))
        if not outbound.has_sender(c.channel):
            raise ConflictError("no_sender", _("Este canal no envía mensajes: no hay nada que reintentar."))
        requeue = outbound.requeue_for(c.channel)
        if requeue is not None:
            requeue(m.pk)
        error = m.delivery_error
        m.delivery_status, m.delivery_error = DeliveryStatus.QUEUED, ""
        m.save(update_fields=["delivery_status", "delivery_error"])
        ev = _event(c, "delivery_retried", actor=acting_user, message=m.pk, error=error[:300])
        audit.record(actor=acting_user, action="message.delivery_retried", target=c, changes={"error": error[:300]})
        # The "queued" event leaves before the delivery is enqueued (on-commit callbacks run in order): a sender
        # that finishes at once (in-process tasks) must not have its outcome overtaken by the older status.
        _emit(c, "delivery", message={"id": m.pk, "status": m.delivery_status, "error": ""}, item=event_payload(ev))
        enqueue_on_commit(tasks.deliver_outbound, m.pk)
    return m


def check_add_note(acting_user: User, conversation_id: int, *, body: str, uploads: Sequence[Upload] = (),
                   references: Sequence[str] = ()) -> Message:
    """An internal note (never sent to the customer), with files if any. @usuario mentions notify those users
    live."""
    body = body.strip()
    if not body and not uploads and not references:
        raise ActionError("empty_message", _("La nota está vacía."), field="body")
    check_text(body, field="body", label=_("La nota"), max_length=settings.NOTE_MAX_LENGTH)
    stored = _store_files(acting_user, conversation_id, uploads, references, answer=False)
    try:
        with transaction.atomic():
            c = access_conversation(acting_user, conversation_id, lock=True)
            return _add_note(acting_user, c, body, stored)
    except BaseException:
        discard(stored)
        raise


def _add_note(acting_user: User, c: Conversation, body: str, attachments: list[dict[str, Any]]) -> Message:
    note = Message.objects.create(conversation=c, cycle=c.cycle, kind=MessageKind.NOTE, author=acting_user,
                                  body=body, attachments=attachments)
    mentioned = list(User.objects.filter(username__in=MENTION.findall(body), is_active=True))
    if mentioned:
        _event(c, "mention", actor=acting_user, users=[u.username for u in mentioned], note=note.pk)
        if not is_muted():
            send_event_on_commit({"type": "mention", "op": "new", "conversation_id": c.pk,
                                  "by": acting_user.display_name, "body": body[:300]},
                                 user_ids=[u.pk for u in mentioned])
            notifications.notify("mention", user_ids=[u.pk for u in mentioned if u.pk != acting_user.pk],
                                 conversation_id=c.pk, actor_id=acting_user.pk, note_id=note.pk)
    c.last_activity_at = timezone.now()
    c.save(update_fields=["last_activity_at"])
    _emit(c, "message", message=message_payload(note))
    return note


def check_mark_handled_outside(acting_user: User, conversation_id: int, *, external_channel: str,
                               comment: str) -> Conversation:
    """Attended by phone, personal WhatsApp or external email: documented with a descriptive comment."""
    comment = _descriptive(comment)
    if not external_channel.strip():
        raise ActionError("channel_required", _("Indique el canal externo."), field="external_channel")
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        _may_act(acting_user, c)
        _event(c, "handled_outside", actor=acting_user, comment=comment, channel=external_channel.strip())
        Message.objects.create(conversation=c, cycle=c.cycle, kind=MessageKind.NOTE, author=acting_user,
                               body=_("Atendida fuera del CRM (%(ch)s): %(c)s")
                               % {"ch": external_channel, "c": comment})
    return c
