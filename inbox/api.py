"""/api/v1/conversations…, /api/v1/tasks…: the API channel and the same actions as the inbox pages.

Everything the inbox UI does is here too, through the same actions: the handlers parse, call one action and
serialize; permissions and rules live in the actions (inbox.actions, inbox.task_actions, inbox.bulk).
"""

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from accounts.roles import Perm
from core.api import DbInt, ErrorOut, PageNumberPagination, api_require, api_user
from inbox import actions, bulk, task_actions
from inbox.models import Conversation, Task
from inbox.selectors import InboxFilters, filtered, page, timeline

router = Router(tags=["inbox"])


class CustomerIn(Schema):
    name: str = ""
    phone: str = ""
    email: str = ""


class ConversationIn(Schema):
    customer: CustomerIn
    message: str
    inbox: str | None = None
    channel: str = "api"
    external_id: str = ""


class ConversationOut(Schema):
    id: int
    state: str = Field(..., description="nueva | pendiente | en_espera | resuelta | escalada")
    inbox: str
    category: str | None
    assignee: str | None
    channel: str
    priority: str
    cycle: int
    customer: dict[str, Any]
    last_message_preview: str
    awaiting_reply: bool
    created_at: datetime
    last_activity_at: datetime
    first_response_at: datetime | None
    closed_at: datetime | None
    close_reason: str


class ConversationDetailOut(ConversationOut):
    timeline: list[dict[str, Any]]


class ConversationPage(Schema):
    next: str | None
    results: list[ConversationOut]


class MessageIn(Schema):
    kind: str = Field("reply", description="reply | note")
    body: str


class AssignIn(Schema):
    assignee: str | None = Field(None, description="username (null to unassign, only in Global)")


class TransitionIn(Schema):
    to: str
    reason: str = Field("", description="answered | derived_documented | task_created | customer_confirmed")
    comment: str = ""
    waiting_until: datetime | None = None
    outcome: str = Field("", description="when closing, optional: genero_venta | resuelta | escalada | "
                                         "cerrada_sin_solucion (the dashboard's result)")
    customer_state: str = Field("", description="when closing, optional: interesado | en_seguimiento | convertido | "
                                                "no_interesado")


class TransferIn(Schema):
    comment: str
    to_user: str | None = None
    to_inbox: str | None = None
    category_id: int | None = None


def _out(c: Conversation) -> dict[str, Any]:
    return {"id": c.pk, "state": c.state, "inbox": c.inbox.code, "category": c.category.name if c.category else None,
            "assignee": c.assignee.username if c.assignee else None, "channel": c.channel, "priority": c.priority,
            "cycle": c.cycle, "customer": {"id": c.customer_id, "name": c.customer.name},
            "last_message_preview": c.last_message_preview, "awaiting_reply": c.awaiting_reply,
            "created_at": c.created_at, "last_activity_at": c.last_activity_at,
            "first_response_at": c.first_response_at, "closed_at": c.closed_at, "close_reason": c.close_reason}


def _detail(conversation_id: int) -> dict[str, Any]:
    c = Conversation.objects.select_related("customer", "inbox", "assignee", "category").get(pk=conversation_id)
    return {**_out(c), "timeline": [{**i, "at": i["at"].isoformat()} for i in timeline(c)]}  # type: ignore[attr-defined]


@router.post("/conversations", response={201: ConversationDetailOut, 200: ConversationDetailOut, 400: ErrorOut},
             summary="The API channel: a customer's message starts or continues their conversation")
def create_conversation(request: HttpRequest, payload: ConversationIn) -> Any:
    api_require(request, Perm.INBOX_WORK)
    c, _message, created = actions.do_receive_inbound(
        channel=payload.channel, body=payload.message, customer_name=payload.customer.name,
        phones=[payload.customer.phone] if payload.customer.phone else [],
        emails=[payload.customer.email] if payload.customer.email else [], inbox_code=payload.inbox,
        external_id=payload.external_id)
    return Status(201 if created else 200, _detail(c.pk))


@router.get("/conversations", response=ConversationPage, summary="Conversations (keyset pagination: follow `next`)")
def list_conversations(  # noqa: PLR0917 - ninja maps each query parameter to an argument
    request: HttpRequest, inbox: str = "", state: str = "", agent: str = "", channel: str = "", priority: str = "",
    tag: str = "", q: str = "", unowned: bool = False, unanswered: bool = False, after: str = "",
    page_size: int = 50,
) -> dict[str, Any]:
    user = api_require(request, Perm.INBOX_WORK)
    f = InboxFilters(inbox=inbox, state=state, agent=agent, channel=channel, priority=priority, tag=tag, q=q,
                     unowned=unowned, unanswered=unanswered)
    rows, nxt = page(filtered(user, f), after=after, size=max(1, min(page_size, 200)))
    link = None
    if nxt:
        params = request.GET.copy()
        params["after"] = nxt
        link = request.build_absolute_uri(f"{request.path}?{urlencode(params)}")
    return {"next": link, "results": [_out(c) for c in rows]}


class BulkIn(Schema):
    ids: list[int] = Field(..., description=f"conversation ids, at most {bulk.BULK_MAX}")
    op: str = Field(..., description="assign | move | tag | close")
    assignee: int | None = Field(None, description="assign: user id (null unassigns, only in Global)")
    inbox: str | None = Field(None, description="move: the target inbox's code")
    tag: str | None = Field(None, description="tag: the tag to add")
    reason: str | None = Field(None, description="close: answered | derived_documented | task_created | "
                                                 "customer_confirmed")
    comment: str = Field("", description="move: descriptive comment (required); close: comment")


class BulkFailureOut(Schema):
    id: int
    error: str


class BulkOut(Schema):
    ok: list[int]
    failed: list[BulkFailureOut]


# Declared before /conversations/{conversation_id}: ninja's path parameters match any text, so "bulk" would
# resolve to that route (and answer 405) if it came first.
@router.post("/conversations/bulk", response={200: BulkOut, 400: ErrorOut, 403: ErrorOut},
             summary="One action on many conversations, each on its own: refusals are listed, the rest is done")
def bulk_action(request: HttpRequest, payload: BulkIn) -> Any:
    result = bulk.check_bulk(api_user(request), conversation_ids=payload.ids, op=payload.op,
                             assignee_id=payload.assignee, inbox_code=payload.inbox, tag=payload.tag,
                             reason=payload.reason, comment=payload.comment)
    return {"ok": result.ok, "failed": [{"id": cid, "error": error} for cid, error in result.failed]}


@router.get("/conversations/{conversation_id}", response={200: ConversationDetailOut, 403: ErrorOut, 404: ErrorOut},
            summary="A conversation with its timeline (messages, notes, assignments, transfers, state changes)")
def get_conversation(request: HttpRequest, conversation_id: int) -> Any:
    actions.access_conversation(api_user(request), conversation_id)
    return _detail(conversation_id)


@router.post("/conversations/{conversation_id}/messages", response={201: ConversationDetailOut, 400: ErrorOut,
                                                                    403: ErrorOut, 404: ErrorOut},
             summary="Reply to the customer, or add an internal note")
def post_message(request: HttpRequest, conversation_id: int, payload: MessageIn) -> Any:
    user = api_user(request)
    if payload.kind == "note":
        actions.check_add_note(user, conversation_id, body=payload.body)
    elif payload.kind == "reply":
        actions.check_send_reply(user, conversation_id, body=payload.body)
    else:
        from core.errors import ActionError

        raise ActionError("invalid_kind", "kind must be reply or note", field="kind")
    return Status(201, _detail(conversation_id))


@router.post("/conversations/{conversation_id}/assign", response={200: ConversationDetailOut, 400: ErrorOut,
                                                                  403: ErrorOut, 404: ErrorOut})
def assign(request: HttpRequest, conversation_id: int, payload: AssignIn) -> Any:
    actions.check_assign(api_user(request), conversation_id, assignee=payload.assignee)
    return _detail(conversation_id)


@router.post("/conversations/{conversation_id}/transition",
             response={200: ConversationDetailOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
             summary="Change state; closing needs a reason (409 lists the reasons that would be accepted)")
def transition(request: HttpRequest, conversation_id: int, payload: TransitionIn) -> Any:
    actions.check_transition(api_user(request), conversation_id, to=payload.to, reason=payload.reason,
                             comment=payload.comment, waiting_until=payload.waiting_until, outcome=payload.outcome,
                             customer_state=payload.customer_state)
    return _detail(conversation_id)


@router.post("/conversations/{conversation_id}/transfer",
             response={200: ConversationDetailOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut})
def transfer(request: HttpRequest, conversation_id: int, payload: TransferIn) -> Any:
    actions.check_transfer(api_user(request), conversation_id, comment=payload.comment, to_user=payload.to_user,
                           to_inbox=payload.to_inbox, category_id=payload.category_id)
    return _detail(conversation_id)


class PriorityIn(Schema):
    priority: str = Field(..., description="baja | normal | alta | urgente")


class TagsIn(Schema):
    tags: list[str] = Field(..., description="the conversation's whole tag list (replaces the current one)")


class AssociationsIn(Schema):
    company: str | None = Field(None, description="absent or null keeps the current value")
    ticket_ref: str | None = Field(None, description="absent or null keeps the current value")


class HandledOutsideIn(Schema):
    external_channel: str = Field(..., description="where it was attended: phone, personal WhatsApp, email…")
    comment: str = Field(..., description="descriptive: context, what was done, next steps")


@router.post("/conversations/{conversation_id}/priority",
             response={200: ConversationDetailOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut})
def set_priority(request: HttpRequest, conversation_id: int, payload: PriorityIn) -> Any:
    actions.check_set_associations(api_user(request), conversation_id, priority=payload.priority)
    return _detail(conversation_id)


@router.put("/conversations/{conversation_id}/tags",
            response={200: ConversationDetailOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
            summary="Replace the conversation's tags (unknown tags are created)")
def set_tags(request: HttpRequest, conversation_id: int, payload: TagsIn) -> Any:
    actions.check_set_associations(api_user(request), conversation_id, tags=payload.tags)
    return _detail(conversation_id)


@router.patch("/conversations/{conversation_id}/associations",
              response={200: ConversationDetailOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
              summary="The company and the external ticket the conversation belongs to")
def set_associations(request: HttpRequest, conversation_id: int, payload: AssociationsIn) -> Any:
    actions.check_set_associations(api_user(request), conversation_id, company=payload.company,
                                   ticket_ref=payload.ticket_ref)
    return _detail(conversation_id)


@router.post("/conversations/{conversation_id}/handled-outside",
             response={200: ConversationDetailOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
             summary="Document that the customer was attended outside the CRM (a closure reason then holds)")
def handled_outside(request: HttpRequest, conversation_id: int, payload: HandledOutsideIn) -> Any:
    actions.check_mark_handled_outside(api_user(request), conversation_id,
                                       external_channel=payload.external_channel, comment=payload.comment)
    return _detail(conversation_id)


class PersonOut(Schema):
    id: int
    name: str
    username: str
    availability: str
    availability_label: str
    open_load: int = Field(..., description="open conversations assigned now")
    capacity: int
    inboxes: list[str]


@router.get("/conversations/{conversation_id}/assignable", response={200: list[PersonOut], 403: ErrorOut,
                                                                      404: ErrorOut},
            summary="People who can take this conversation, best candidates first (search with `q`)")
def assignable(request: HttpRequest, conversation_id: int, q: str = "") -> Any:
    from inbox.people import assignable_people

    c = actions.access_conversation(api_user(request), conversation_id)
    return assignable_people(c, q=q)


# --- tasks -----------------------------------------------------------------------------------------------


class UserRefOut(Schema):
    id: int
    username: str
    name: str


class TaskOut(Schema):
    id: int
    conversation: int
    cycle: int
    title: str
    status: str = Field(..., description="abierta | completada | cancelada")
    due_at: datetime | None
    responsible: UserRefOut
    created_by: str | None = Field(..., description="username")
    created_at: datetime

    @staticmethod
    def resolve_conversation(obj: Task) -> int:
        return obj.conversation_id

    @staticmethod
    def resolve_responsible(obj: Task) -> dict[str, Any]:
        return {"id": obj.responsible.pk, "username": obj.responsible.username,
                "name": obj.responsible.display_name}

    @staticmethod
    def resolve_created_by(obj: Task) -> str | None:
        return obj.created_by.username if obj.created_by is not None else None


class ReassignTaskIn(Schema):
    responsible: int = Field(..., description="user id")


@router.get("/tasks", response=list[TaskOut],
            summary="Tasks of the conversations the caller can see, open first, then by due date")
@paginate(PageNumberPagination)
def list_tasks(request: HttpRequest, conversation: DbInt | None = None, status: str = "",
               mine: bool = False) -> QuerySet[Task]:
    return task_actions.tasks_for(api_user(request), conversation_id=conversation, status=status or None, mine=mine)


@router.post("/tasks/{task_id}/complete", response={200: TaskOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut})
def complete_task(request: HttpRequest, task_id: int) -> Any:
    return _task(task_actions.check_complete_task(api_user(request), task_id).pk)


@router.post("/tasks/{task_id}/reopen", response={200: TaskOut, 403: ErrorOut, 404: ErrorOut})
def reopen_task(request: HttpRequest, task_id: int) -> Any:
    return _task(task_actions.check_reopen_task(api_user(request), task_id).pk)


@router.post("/tasks/{task_id}/reassign", response={200: TaskOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut})
def reassign_task(request: HttpRequest, task_id: int, payload: ReassignTaskIn) -> Any:
    return _task(task_actions.check_reassign_task(api_user(request), task_id, responsible_id=payload.responsible).pk)


def _task(task_id: int) -> Task:
    return Task.objects.select_related("responsible", "created_by").get(pk=task_id)
