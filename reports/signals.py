"""Marks conversations whose reporting facts may have changed, in the same transaction as the change.

Receivers rather than calls in every inbox/orders action: any save of a conversation or a sale (including ones
added later) keeps the dashboard right. Bulk `.update()` calls bypass signals; the actions that use them save
the conversation too (inbox merge), and imports rebuild the rollups explicitly."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from inbox.models import Conversation
from orders.models import Sale
from reports.rollups import mark_dirty


def _conversation_changed(sender: Any, instance: Conversation, **kwargs: Any) -> None:
    mark_dirty([instance.pk])


def _sale_changed(sender: Any, instance: Sale, **kwargs: Any) -> None:
    if instance.conversation_id:
        mark_dirty([instance.conversation_id])


def connect() -> None:
    post_save.connect(_conversation_changed, sender=Conversation, dispatch_uid="reports.conversation_saved")
    post_delete.connect(_conversation_changed, sender=Conversation, dispatch_uid="reports.conversation_deleted")
    post_save.connect(_sale_changed, sender=Sale, dispatch_uid="reports.sale_saved")
    post_delete.connect(_sale_changed, sender=Sale, dispatch_uid="reports.sale_deleted")
