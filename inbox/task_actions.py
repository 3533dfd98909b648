"""Follow-up tasks of a conversation: complete, reopen, reassign, and the list a user may see.

Every change locks the conversation, then the task (the order inbox.actions uses when it creates or merges
tasks, so two writers never wait on each other in a cycle), does nothing when the value is unchanged, and
otherwise writes one ConversationEvent and tells the conversation's audience after commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError, InvalidTransition, NotFoundError, PermissionDeniedError
from inbox import actions
from inbox.choices import TaskStatus
from inbox.models import Conversation, ConversationEvent, Task
from inbox.selectors import visible

T = TaskStatus
# Completed and cancelled tasks reopen; only an open task is completed (a cancelled one is reopened first, so
# the timeline never shows work "done" that someone had called off).
TASK_TRANSITIONS: Final[Mapping[TaskStatus, frozenset[TaskStatus]]] = {
    T.OPEN: frozenset({T.DONE, T.CANCELLED}),
    T.DONE: frozenset({T.OPEN}),
    T.CANCELLED: frozenset({T.OPEN}),
}


def _task_not_found() -> NotFoundError:
    return NotFoundError("task_not_found", _("La tarea no existe."))


def access_task(acting_user: User, task_id: int, *, lock: bool = False) -> tuple[Task, Conversation]:
    """The task and its conversation, if the user may see that conversation or is the task's responsible.
    Anything else answers "does not exist", like an invisible conversation. With `lock`, the conversation row
    and then the task row are locked (the caller holds a transaction)."""
    row = Task.objects.filter(pk=task_id).values_list("conversation_id", "responsible_id").first()
    if row is None:
        raise _task_not_found()
    conversation_id, responsible_id = row
    try:
        c = actions.access_conversation(acting_user, conversation_id, lock=lock)
    except NotFoundError:
        # An agent sees only their own conversations, Global and unowned ones of their teams, so a task handed to
        # a colleague usually sits in a conversation they cannot open. Their own task still reaches them, or it
        # could never be completed (nor listed under "mine").
        if responsible_id != acting_user.pk:
            raise _task_not_found() from None
        qs = Conversation.objects.select_for_update() if lock else Conversation.objects.all()
        found = qs.filter(pk=conversation_id).first()
        if found is None:
            raise _task_not_found() from None
        c = found
    tasks = Task.objects.select_for_update() if lock else Task.objects.all()
    # Filtered by conversation too: a merge may have moved the task between the two reads.
    task = tasks.filter(pk=task_id, conversation_id=c.pk).first()
    if task is None:
        raise _task_not_found()
    return task, c


def _may_change(acting_user: User, task: Task, c: Conversation) -> None:
    """The task's responsible, the conversation's responsible, or a supervisor."""
    if acting_user.has_perm_code(Perm.INBOX_SUPERVISE) or acting_user.pk in (task.responsible_id, c.assignee_id):
        return
    raise PermissionDeniedError("not_task_responsible", _(
        "Solo el responsable de la tarea, el responsable de la conversación o un supervisor pueden cambiarla."))


def _record(c: Conversation, task: Task, kind: str, *, acting_user: User, frm: object, to: object) -> None:
    ev = ConversationEvent.objects.create(conversation=c, cycle=c.cycle, kind=kind, actor=acting_user,
                                          data={"task": task.pk, "title": task.title, "from": frm, "to": to})
    actions._emit(c, "task", item=actions.event_payload(ev))


def _set_status(acting_user: User, task_id: int, *, to: TaskStatus, kind: str) -> Task:
    with transaction.atomic():
        task, c = access_task(acting_user, task_id, lock=True)
        _may_change(acting_user, task, c)
        current = TaskStatus(task.status)
        if current == to:
            return task
        if to not in TASK_TRANSITIONS[current]:
            raise InvalidTransition("invalid_task_transition", _("Una tarea %(a)s no puede pasar a %(b)s.")
                                    % {"a": current.label.lower(), "b": to.label.lower()},
                                    allowed=sorted(s.value for s in TASK_TRANSITIONS[current]))
        task.status = to.value
        task.save(update_fields=["status"])
        _record(c, task, kind, acting_user=acting_user, frm=current.value, to=to.value)
    return task


def check_complete_task(acting_user: User, task_id: int) -> Task:
    """Marks an open task done (event `task_done`, data from/to are statuses). Completing a done task changes
    nothing; a cancelled one must be reopened first (409)."""
    return _set_status(acting_user, task_id, to=T.DONE, kind="task_done")


def check_reopen_task(acting_user: User, task_id: int) -> Task:
    """Opens a done or cancelled task again (event `task_reopened`). Reopening an open task changes nothing."""
    return _set_status(acting_user, task_id, to=T.OPEN, kind="task_reopened")


def check_reassign_task(acting_user: User, task_id: int, *, responsible_id: int) -> Task:
    """Hands the task to another active user who works the inbox (event `task_reassigned`, data from/to are user
    ids). Giving it to its current responsible changes nothing."""
    with transaction.atomic():
        task, c = access_task(acting_user, task_id, lock=True)
        _may_change(acting_user, task, c)
        target = User.objects.filter(pk=responsible_id, is_active=True).first()
        if target is None or not target.has_perm_code(Perm.INBOX_WORK):
            raise ActionError("invalid_responsible", _("El responsable no existe o no atiende conversaciones."),
                              field="responsible")
        if target.pk == task.responsible_id:
            return task
        previous = task.responsible_id
        task.responsible = target
        task.save(update_fields=["responsible"])
        _record(c, task, "task_reassigned", acting_user=acting_user, frm=previous, to=target.pk)
    return task


def tasks_for(user: User, *, conversation_id: int | None = None, status: str | None = None,
              mine: bool = False) -> QuerySet[Task]:
    """Tasks of the conversations `user` can see (inbox.selectors.visible) and the user's own tasks wherever
    they are (see access_task), open ones first, then by due date (undated last). `mine` keeps the user's own.
    Responsible and creator come joined, so a page of any size is one query."""
    require_perm(user, Perm.INBOX_WORK)
    qs = Task.objects.all()
    if not user.has_perm_code(Perm.INBOX_SUPERVISE):
        qs = qs.filter(Q(conversation__in=visible(user).values("pk")) | Q(responsible=user))
    if conversation_id is not None:
        qs = qs.filter(conversation_id=conversation_id)
    if status:
        if status not in TaskStatus.values:
            raise ActionError("invalid_status", _("Estado de tarea inválido."), field="status")
        qs = qs.filter(status=status)
    if mine:
        qs = qs.filter(responsible=user)
    return (qs.select_related("responsible", "created_by")
            .order_by("status", F("due_at").asc(nulls_last=True), "id"))
