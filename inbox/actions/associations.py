"""Tasks of a conversation and its links (company, order, ticket, tags)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from core.errors import ActionError, NotFoundError
from customers.models import Tag
from inbox.actions.assignment import (
    _user_ref,
)
from inbox.actions.base import (
    _event,
    _updated,
    access_conversation,
)
from inbox.choices import (
    Priority,
    TaskStatus,
)
from inbox.models import Conversation, Task

# --- tasks and associations -----------------------------------------------------------------------


def check_create_task(acting_user: User, conversation_id: int, *, title: str, responsible: str | None = None,
                      due_at: datetime | None = None) -> Task:
    if not title.strip():
        raise ActionError("missing_fields", _("Escriba la tarea."), field="title")
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        owner = _user_ref(responsible) if responsible else acting_user
        if owner is None:
            raise ActionError("invalid_responsible", _("Responsable desconocido."), field="responsible")
        return do_create_task(c, title=title, responsible=owner, due_at=due_at, acting_user=acting_user)


def do_create_task(c: Conversation, *, title: str, responsible: User, due_at: datetime | None = None,
                   acting_user: User | None) -> Task:
    """A task of the locked conversation `c` (a person's, or an automation rule's with `acting_user` None)."""
    task = Task.objects.create(conversation=c, cycle=c.cycle, title=title.strip()[:250], responsible=responsible,
                               due_at=due_at, created_by=acting_user)
    _event(c, "task", actor=acting_user, task=task.pk, title=task.title, responsible=responsible.username)
    return task


def check_set_task_status(acting_user: User, task_id: int, *, status: str) -> Task:
    if status not in TaskStatus.values:
        raise ActionError("invalid_status", _("Estado de tarea inválido."), field="status")
    with transaction.atomic():
        task = Task.objects.select_for_update().filter(pk=task_id).first()
        if task is None:
            raise NotFoundError("task_not_found", _("La tarea no existe."))
        access_conversation(acting_user, task.conversation_id)
        task.status = status
        task.save(update_fields=["status"])
    return task


def check_set_associations(acting_user: User, conversation_id: int, *, company: str | None = None,
                           ticket_ref: str | None = None, priority: str | None = None,
                           tags: Iterable[str] | None = None) -> Conversation:
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        return do_set_associations(c, company=company, ticket_ref=ticket_ref, priority=priority, tags=tags,
                                   acting_user=acting_user)


def do_set_associations(c: Conversation, *, company: str | None = None, ticket_ref: str | None = None,
                        priority: str | None = None, tags: Iterable[str] | None = None,
                        acting_user: User | None) -> Conversation:
    """Company, external ticket, priority and tags of the locked conversation `c` (None leaves a field alone)."""
    changes: dict[str, Any] = {}
    if company is not None and company != c.company:
        changes["company"], c.company = [c.company, company], company.strip()[:200]
    if ticket_ref is not None and ticket_ref != c.ticket_ref:
        changes["ticket_ref"], c.ticket_ref = [c.ticket_ref, ticket_ref], ticket_ref.strip()[:100]
    if priority is not None and priority != c.priority:
        if priority not in Priority.values:
            raise ActionError("invalid_priority", _("Prioridad inválida."), field="priority")
        changes["priority"], c.priority = [c.priority, priority], priority
    c.save(update_fields=["company", "ticket_ref", "priority"])
    tags_changed = False
    if tags is not None:
        before_tags = set(c.tags.values_list("pk", flat=True))
        c.tags.set([Tag.objects.get_or_create(name=t.strip()[:60])[0] for t in tags if t.strip()])
        tags_changed = before_tags != set(c.tags.values_list("pk", flat=True))
    if changes:
        _event(c, "updated", actor=acting_user, **changes)
    if changes or tags_changed:
        _updated(c, "details", acting_user=acting_user)
    return c
