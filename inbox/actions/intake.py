"""A customer's message arriving from a channel adapter or the API channel."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError
from core.events import batch, emit
from core.validators import max_length_of, text_error
from customers.actions import do_find_or_create_customer
from customers.models import Customer
from customers.phones import normalize_phone, validate_customer_email
from inbox.actions.assignment import (
    do_auto_assign,
    segment_treatment,
)
from inbox.actions.base import (
    S,
    _emit,
    _event,
    do_transition_conversation,
    message_max_length,
    message_payload,
)
from inbox.choices import (
    OPEN_STATES,
    Channel,
    MessageKind,
    Priority,
)
from inbox.events import (
    ConversationCreated,
    MessageReceived,
)
from inbox.models import Conversation, Inbox, Message
from inbox.revision_actions import apply_pending_changes, deleted_preview

# --- intake (channel adapters and the API channel call this) --------------------------------------


def _global_inbox() -> Inbox:
    inbox = Inbox.objects.filter(is_global=True).first()
    if inbox is None:
        inbox = Inbox.objects.create(name="Global", code="global", is_global=True, auto_assign=False)
    return inbox


def do_receive_inbound(
    *, channel: str, body: str, customer_name: str = "", phones: Iterable[str] = (), emails: Iterable[str] = (),
    inbox_code: str | None = None, external_id: str = "", subject: str = "", attachments: list[Any] | None = None,
    received_at: datetime | None = None, conversation_id: int | None = None, channel_ref: str = "",
    meta: dict[str, Any] | None = None, customer_id: int | None = None,
) -> tuple[Conversation, Message, bool]:
    """A customer's message: continues their open conversation on that channel, reopens a recently resolved one
    (new cycle), or starts a new one (in Global unless an inbox is given). Idempotent on `external_id` (channels
    redeliver). Returns (conversation, message, created_now).

    Connectors may pass `conversation_id` (a thread they recognised, e.g. an email reply) to continue that
    conversation, `customer_id` when they already know the customer (a web chat visitor), `channel_ref` to pin
    the conversation to one connector endpoint (a WhatsApp number, a mailbox, a web chat site) and `meta` with
    channel details kept on the message (message type, headers, location…)."""
    if channel not in Channel.values:
        raise ActionError("invalid_channel", _("Canal desconocido: %s") % channel, field="channel")
    if not body.strip() and not attachments:
        raise ActionError("empty_message", _("El mensaje está vacío."), field="message")
    if external_id:
        existing = Message.objects.filter(external_id=external_id).select_related("conversation").first()
        if existing is not None:
            return existing.conversation, existing, False
    now = received_at or timezone.now()
    with transaction.atomic(), batch():  # its events (up to three) logged in one INSERT
        # Two messages of one customer processed at once by two workers must not both find no open conversation
        # and start two: the customer's row serializes the open / reopen / start decision below. Locks are taken
        # customer first, then conversations, on every path (the other order could deadlock two workers).
        # A customer created just now exists only in this transaction: nobody else can hold it, and it has no
        # conversation to continue (no lock, no lookup).
        threaded_customer = (Conversation.objects.filter(pk=conversation_id).values_list("customer_id", flat=True)
                             .first() if conversation_id else None)
        new_customer = False
        if threaded_customer is not None:
            customer = Customer.objects.get(pk=threaded_customer)
        elif customer_id is not None:
            customer = Customer.objects.get(pk=customer_id)
        else:
            customer, new_customer = do_find_or_create_customer(name=customer_name, phones=phones, emails=emails)
        if not new_customer:
            list(Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk", flat=True))
        threaded = None
        if threaded_customer is not None and conversation_id is not None:
            threaded = (Conversation.objects.select_for_update().select_related("customer")
                        .filter(pk=conversation_id).first())
        inbox = Inbox.objects.filter(code=inbox_code).first() if inbox_code else None
        if inbox_code and inbox is None:
            raise ActionError("unknown_inbox", _("Bandeja desconocida: %s") % inbox_code, field="inbox")
        c, recent = threaded, None
        if c is not None and c.state == S.RESOLVED:
            do_transition_conversation(c, to=S.PENDING, acting_user=None, reason="customer_wrote_again")
        if c is None and not new_customer:
            # One query for both candidates, under the customer's lock: their open conversation on this channel
            # (most recent activity first), else one resolved within INBOX_REOPEN_DAYS (most recently closed).
            rows = list(Conversation.objects.select_for_update()
                        .filter(customer=customer, channel=channel,
                                **({"channel_ref": channel_ref} if channel_ref else {}))
                        .filter(Q(state__in=[s.value for s in OPEN_STATES])
                                | Q(state=S.RESOLVED,
                                    closed_at__gte=now - timedelta(days=settings.INBOX_REOPEN_DAYS))))
            open_rows = [row for row in rows if row.state != S.RESOLVED]
            c = max(open_rows, key=lambda row: (row.last_activity_at, row.pk)) if open_rows else None
            resolved = [row for row in rows if row.state == S.RESOLVED]
            recent = max(resolved, key=lambda row: (row.closed_at, row.pk)) if resolved else None
        new = False
        treatment_skills: list[int] | None = None  # a new conversation's routing (its customer's segments)
        if c is None:
            if recent is not None:
                c = recent
                do_transition_conversation(c, to=S.PENDING, acting_user=None, reason="customer_wrote_again")
            else:
                # The message's marks go in with the row (no UPDATE once the message is stored, unless a pending
                # WhatsApp edit changes its text below).
                # The customer's segments' treatment (VIP: priority "alta", agents with the skill "senior").
                priority, treatment_skills = segment_treatment(customer.pk)
                c = Conversation.objects.create(customer=customer, channel=channel, inbox=inbox or _global_inbox(),
                                                subject=subject[:250], created_at=now, last_activity_at=now,
                                                channel_ref=channel_ref, last_customer_message_at=now,
                                                waiting_since=now, awaiting_reply=True,
                                                last_message_preview=body[:200],
                                                priority=priority or Priority.NORMAL)
                new = True
                _event(c, "created", actor=None, channel=channel)
                emit(ConversationCreated(conversation_id=c.pk, customer_id=customer.pk, channel=channel,
                                         inbox=c.inbox.code, subject=c.subject))
        fields = {"conversation": c, "cycle": c.cycle, "kind": MessageKind.INBOUND, "body": body,
                  "attachments": attachments or [], "external_id": external_id, "created_at": now, "meta": meta or {}}
        if not external_id:  # no key another delivery could race on: no savepoint
            message = Message.objects.create(**fields)
        else:
            try:
                with transaction.atomic():
                    message = Message.objects.create(**fields)
            except IntegrityError:  # the same external id raced in: the other delivery stored it
                message = Message.objects.get(external_id=external_id)
                return message.conversation, message, False

        # The customer's edit or deletion may have overtaken the message itself (only WhatsApp has them).
        if channel == Channel.WHATSAPP and apply_pending_changes(message):
            body = deleted_preview() if message.deleted_at else message.body
        if not new or c.last_message_preview != body[:200]:
            c.last_customer_message_at, c.last_activity_at = now, now
            if c.waiting_since is None or not c.awaiting_reply:  # the wait starts at the first unanswered message
                c.waiting_since = now
            c.awaiting_reply, c.last_message_preview = True, body[:200]
            update = ["last_customer_message_at", "last_activity_at", "awaiting_reply", "last_message_preview",
                      "waiting_since"]
            c.save(update_fields=update)
        if c.state == S.ON_HOLD:
            do_transition_conversation(c, to=S.PENDING, acting_user=None, reason="customer_replied")
        if c.assignee_id is None and c.inbox.auto_assign and not c.inbox.is_global:
            do_auto_assign(c, skills=treatment_skills)
        emit(MessageReceived(message_id=message.pk, conversation_id=c.pk, customer_id=c.customer_id,
                             channel=channel, inbox=c.inbox.code, body=message.body,
                             attachments=len(message.attachments or [])))
        _emit(c, "message", message=message_payload(message))
    return c, message, new


def check_receive_api_message(
    acting_user: User, *, body: str, customer_name: str = "", phone: str = "", email: str = "",
    channel: str = Channel.API, inbox_code: str | None = None, external_id: str = "",
) -> tuple[Conversation, Message, bool]:
    """A customer's message sent by an integration (POST /api/v1/conversations): do_receive_inbound once the input
    is checked. The customer must be reachable and recognisable: a valid phone or a valid email (a conversation
    nobody can answer, or that would start a nameless duplicate customer, is refused). Every problem is reported
    at once (`errors`, keyed by the API's field names); nothing is written on error."""
    require_perm(acting_user, Perm.INBOX_WORK)
    errors: dict[str, str] = {}
    for field, value, label, max_length in (
            ("message", body, _("El mensaje"), message_max_length(channel)),
            ("customer.name", customer_name, _("El nombre del cliente"), max_length_of(Customer, "name")),
            ("customer.phone", phone, _("El teléfono"), 40), ("customer.email", email, _("El correo"), 254),
            ("external_id", external_id, _("El identificador externo"),
             max_length_of(Message, "external_id"))):
        message = text_error(value, label=label, max_length=max_length)
        if message is not None:
            errors[field] = message
    if not phone.strip() and not email.strip():
        errors["customer"] = _("Indique el teléfono o el correo del cliente: sin ellos nadie puede responderle.")
    if "customer.phone" not in errors and phone.strip() and normalize_phone(phone) is None:
        errors["customer.phone"] = _("Teléfono inválido: «%s».") % phone.strip()
    if "customer.email" not in errors and email.strip() and validate_customer_email(email) is None:
        errors["customer.email"] = _("Correo inválido: «%s».") % email.strip()
    if errors:
        raise ActionError("invalid_message", " ".join(errors.values()), errors=errors,
                          field=next(iter(errors)))
    return do_receive_inbound(channel=channel, body=body, customer_name=customer_name,
                              phones=[phone] if phone.strip() else [], emails=[email] if email.strip() else [],
                              inbox_code=inbox_code, external_id=external_id)
