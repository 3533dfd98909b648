"""Pushing to visitors' sockets: one channel-layer group per visitor, events shaped `{event, data}` as in
Chatwoot's widget protocol. Everything here runs after commit, so a rolled-back reply never reaches a visitor."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils.translation import gettext as _

from connectors.webchat.models import Visitor
from connectors.webchat.selectors import message_payload
from inbox.actions import do_update_delivery_status
from inbox.choices import DeliveryStatus, MessageKind
from inbox.models import Message

logger = logging.getLogger(__name__)


def visitor_group(visitor_key: str) -> str:
    return f"webchat.v.{visitor_key}"


def push_on_commit(visitor_keys: Iterable[str], event: str, data: dict[str, Any]) -> None:
    """Queue `{event, data}` for the visitors' sockets once the current transaction commits."""
    keys = sorted(set(visitor_keys))
    if keys:
        transaction.on_commit(lambda: _push_now_rollback_unsafe(keys, event, data))


def _push_now_rollback_unsafe(keys: list[str], event: str, data: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "webchat.event", "event": event, "data": data}
    try:
        for key in keys:
            async_to_sync(layer.group_send)(visitor_group(key), message)
    except Exception:
        # The message is stored: a widget that missed the push fetches it on its next (re)connect.
        logger.exception("webchat push %s not delivered", event)


def deliver_to_visitor(message_id: int) -> None:
    """inbox.outbound sender for "webchat": pushes an agent's reply to the visitor's open widgets.

    "sent" means it left for the visitor's socket; the widget then acknowledges it as delivered (and read when the
    chat is open on screen). Idempotent: a message already past "queued" is not pushed again. Internal notes are
    never handed to a connector, and this refuses anything but an outbound reply all the same."""

    m = Message.objects.select_related("author").filter(pk=message_id).first()
    if m is None or m.kind != MessageKind.OUTBOUND or m.delivery_status not in ("", DeliveryStatus.QUEUED):
        return
    keys = list(Visitor.objects.filter(conversation_id=m.conversation_id).values_list("key", flat=True))
    if not keys:
        do_update_delivery_status(m.pk, status=DeliveryStatus.FAILED,
                                  error=_("Ningún visitante del chat web está vinculado a esta conversación."))
        return
    push_on_commit(keys, "message.created", message_payload(m))
    do_update_delivery_status(m.pk, status=DeliveryStatus.SENT)
