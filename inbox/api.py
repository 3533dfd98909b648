"""/api/v1/conversations…, /api/v1/tasks…: the API channel and the same actions as the inbox pages.

Everything the inbox UI does is here too, through the same actions: the handlers parse, call one action and
serialize; permissions and rules live in the actions (inbox.actions, inbox.task_actions, inbox.bulk).
"""

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlencode
from uuid import UUID

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict, Strict

from accounts.models import User
from accounts.roles import Perm
from core.api import (
    NOT_BLANK,
    DbId,
    DbInt,
    ErrorOut,
    InputSchema,
    IsoDateTime,
    PageNumberPagination,
    api_require,
    api_user,
    explained,
)
from core.errors import ActionError
from inbox import actions, bulk, task_actions
from inbox.actions import MIN_COMMENT
from inbox.attachments import MAX_FILES_PER_MESSAGE, Upload
from inbox.choices import (
    Channel,
    ConversationOutcome,
    ConversationState,
    CustomerState,
    Priority,
    TaskStatus,
)
from inbox.models import Conversation, Message, Task
from inbox.people import assignable_people
from inbox.selectors import InboxFilters, filtered, page, timeline

router = Router(tags=["inbox"])

# The reasons a person may give (inbox.choices.MANUAL_CLOSE_REASONS; a test keeps both in step): calls close with
# their own reasons, never through the API.
ManualCloseReason = Literal["answered", "derived_documented", "task_created", "customer_confirmed"]


LIMITS_DOC = (f"At most {settings.MESSAGE_MAX_LENGTH:,} characters; on WhatsApp "
              f"{settings.MESSAGE_MAX_LENGTH_BY_CHANNEL['whatsapp']:,}, by email "
              f"{settings.MESSAGE_MAX_LENGTH_BY_CHANNEL['email']:,}, on web chat "
              f"{settings.MESSAGE_MAX_LENGTH_BY_CHANNEL['webchat']:,}, by SMS "
              f"{settings.MESSAGE_MAX_LENGTH_BY_CHANNEL['sms']:,} (docs/api.md, Limits).")


# The longest message any channel accepts; each channel's own limit is in LIMITS_DOC (400 `text_too_long` /
# `invalid_message` above it).
MESSAGE_MAX: Final = max(settings.MESSAGE_MAX_LENGTH, *settings.MESSAGE_MAX_LENGTH_BY_CHANNEL.values())
# A descriptive comment: at least MIN_COMMENT characters once surrounding spaces are stripped.
DESCRIPTIVE: Final = explained(rf"{NOT_BLANK}[\s\S]{{{MIN_COMMENT - 2},}}{NOT_BLANK}", format_lazy(gettext_lazy(
    "Escriba un comentario descriptivo (contexto, acciones realizadas, próximos pasos): al menos {n} caracteres."),
    n=MIN_COMMENT))
DESCRIPTIVE_DOC = (f"Descriptive: context, what was done, next steps (at least {MIN_COMMENT} characters)")
InboxCode = Annotated[str, Field(min_length=1, max_length=50, description="An inbox's code (400 `unknown_inbox`)")]
UserRef = Annotated[str, Field(min_length=1, max_length=150, description="A username (or a user id)")]


# The message's limit on each channel, as JSON Schema if/then (ConversationIn).
MESSAGE_LIMITS: list[Any] = [
    *[{"if": {"required": ["channel"], "properties": {"channel": {"const": channel}}},
       "then": {"properties": {"message": {"maxLength": limit}}}}
      for channel, limit in settings.MESSAGE_MAX_LENGTH_BY_CHANNEL.items()],
    {"if": {"not": {"required": ["channel"], "properties": {
        "channel": {"enum": list(settings.MESSAGE_MAX_LENGTH_BY_CHANNEL)}}}},
     "then": {"properties": {"message": {"maxLength": settings.MESSAGE_MAX_LENGTH}}}}]


class CustomerIn(InputSchema):
    """A phone or an email is required (either one), and each one given must be valid."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["phone"], "properties": {"phone": {"pattern": NOT_BLANK}}},
        {"required": ["email"], "properties": {"email": {"pattern": NOT_BLANK}}}]})

    name: str = Field("", max_length=200)
    phone: str = Field("", max_length=40, description="Any usual format; stored as E.164 (400 `invalid_message` "
                                                      "naming `customer.phone` when it is not a valid number)")
    email: str = Field("", max_length=254, json_schema_extra={"anyOf": [{"format": "email"}, {"maxLength": 0}]})


class ConversationIn(InputSchema):
    """The message's length limit depends on `channel` (stated with if/then); the action checks it, answering 400
    `invalid_message` naming `message` and the limit."""

    model_config = ConfigDict(json_schema_extra={"allOf": MESSAGE_LIMITS})

    customer: CustomerIn
    message: str = Field(..., min_length=1, pattern=NOT_BLANK, description=LIMITS_DOC,
                         json_schema_extra={"maxLength": MESSAGE_MAX})
    inbox: InboxCode | None = Field(None, description="An inbox's code (400 `unknown_inbox`); default Global")
    channel: Channel = Field(Channel.API, strict=False)
    external_id: str = Field("", max_length=200, description="The sender's id for the message: sending the same "
                                                             "one again changes nothing (idempotency)")


class ConversationSlaOut(Schema):
    """The service level of the current cycle (automation.sla); null when no policy times the conversation."""

    policy: str = Field(..., description="The policy's name: its channel, and its inbox when it is an inbox's own")
    first_response_due: datetime | None
    next_response_due: datetime | None
    resolution_due: datetime | None
    escalate_at: datetime | None = Field(..., description="When it goes to a supervisor if still not resolved")
    breached: list[str] = Field(..., description="Targets missed in this cycle: first_response, next_response, "
                                                 "resolution, escalation")
    escalated_at: datetime | None
    paused: bool = Field(..., description="True while En espera, when the policy pauses the clock")


# Fields other apps add to every conversation item (automation: `sla`), each loaded once per page:
# loader(conversations) -> {conversation id: value}.
ItemLoader = Callable[[list[Conversation]], dict[int, Any]]
_ITEM_FIELDS: dict[str, ItemLoader] = {}


def register_item_field(name: str, loader: ItemLoader) -> None:
    _ITEM_FIELDS[name] = loader


def _items(rows: list[Conversation]) -> list[dict[str, Any]]:
    extra = {name: loader(rows) for name, loader in _ITEM_FIELDS.items()} if rows else {}
    return [{**_out(c), **{name: values.get(c.pk) for name, values in extra.items()}} for c in rows]


class ConversationOut(Schema):
    id: int
    uuid: UUID = Field(..., description="Stable public identifier (the one exports use)")
    state: str = Field(..., description="nueva | pendiente | en_espera | resuelta | escalada")
    inbox: str
    category: str | None
    assignee: str | None
    channel: str
    priority: str
    cycle: int
    customer: dict[str, Any] = Field(..., description="id, uuid and name")
    last_message_preview: str
    awaiting_reply: bool
    created_at: datetime
    last_activity_at: datetime
    first_response_at: datetime | None
    closed_at: datetime | None
    close_reason: str
    sla: ConversationSlaOut | None = None


class ConversationDetailOut(ConversationOut):
    timeline: list[dict[str, Any]]


class ConversationPage(Schema):
    next: str | None
    results: list[ConversationOut]


class FileIn(InputSchema):
    name: str = Field(..., min_length=1, max_length=200, pattern=NOT_BLANK, description="The file's name")
    content_type: str = Field("application/octet-stream", max_length=100,
                              description="Its media type (image/jpeg, application/pdf…)")
    data: str = Field(..., min_length=1, description="Its bytes, base64-encoded (400 `invalid_attachment` when they "
                                                     "are not); the request body's 5 MB limit applies")


class FileOut(Schema):
    name: str
    content_type: str
    size: int


def uploads_from(files: list[FileIn]) -> list[Upload]:
    """The files of a request body, decoded (400 `invalid_attachment` naming the first that is not base64)."""
    uploads = []
    for f in files:
        try:
            data = base64.b64decode(f.data, validate=True)
        except (binascii.Error, ValueError):
            raise ActionError("invalid_attachment", gettext("El archivo «%(name)s» no está en base64.")
                              % {"name": f.name}, field="attachments") from None
        uploads.append(Upload(name=f.name, content_type=f.content_type, data=data))
    return uploads


class MessageIn(InputSchema):
    kind: Literal["reply", "note"] = "reply"
    # The limit depends on the conversation's channel (and on `kind`): the action checks it (400 `text_too_long`);
    # the schema states the largest.
    body: str = Field("", json_schema_extra={"maxLength": MESSAGE_MAX},
                      description=f"A reply: {LIMITS_DOC[0].lower()}{LIMITS_DOC[1:]} A note: at most "
                                  f"{settings.NOTE_MAX_LENGTH:,} characters (400 `text_too_long`). May be empty "
                                  f"when files are attached (400 `empty_message` when neither is given).")
    attachments: list[FileIn] = Field(default_factory=list, max_length=MAX_FILES_PER_MESSAGE,
                                      description=f"Files sent with it (at most {MAX_FILES_PER_MESSAGE}). The "
                                                  "request body's 5 MB limit caps them at about 3.7 MB together "
                                                  "once decoded; larger files go through the conversation page. "
                                                  "Each channel's own limits apply (WhatsApp's media types and "
                                                  "sizes: 400 `attachment_type_refused`, `attachment_too_large`)")


class AssignIn(InputSchema):
    assignee: UserRef | None = Field(None, description="Username or id of someone who works the conversation's inbox "
                                                       "(400 `invalid_assignee`, `assignee_cannot_take`); null "
                                                       "unassigns, only in Global (400 `owner_required`)")


class TransitionIn(InputSchema):
    """Escalating (`to: escalada`) needs a descriptive comment; closing (`to: resuelta`) needs a reason that holds
    now (409 `close_needs_reason` lists them)."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"properties": {"to": {"not": {"const": ConversationState.ESCALATED.value}}}},
        {"required": ["comment"], "properties": {"comment": {"minLength": MIN_COMMENT, "pattern": DESCRIPTIVE}}}]})

    to: ConversationState = Field(..., strict=False, description="A move the state machine forbids is a 409")
    reason: ManualCloseReason | Literal[""] = Field("", description="When closing: why")
    comment: str = Field("", max_length=settings.NOTE_MAX_LENGTH,
                         description=f"When escalating: {DESCRIPTIVE_DOC[0].lower()}{DESCRIPTIVE_DOC[1:]}")
    waiting_until: IsoDateTime | None = Field(None, description="When putting on hold: until when")
    outcome: Annotated[ConversationOutcome, Strict(False)] | Literal[""] = Field(
        "", description="When closing, optional: the dashboard's result")
    customer_state: Annotated[CustomerState, Strict(False)] | Literal[""] = Field(
        "", description="When closing, optional")


class TransferIn(InputSchema):
    comment: str = Field(..., min_length=MIN_COMMENT, max_length=settings.NOTE_MAX_LENGTH, pattern=DESCRIPTIVE,
                         description=DESCRIPTIVE_DOC)
    to_user: UserRef | None = Field(None, description="Username or id of someone who works the destination inbox "
                                                      "(400 `invalid_assignee`, `assignee_cannot_take`)")
    to_inbox: InboxCode | None = None
    category_id: DbId | None = Field(None, description="A category of the destination inbox (ignored otherwise)")


def _out(c: Conversation) -> dict[str, Any]:
    return {"id": c.pk, "uuid": c.uuid, "state": c.state, "inbox": c.inbox.code,
            "category": c.category.name if c.category else None,
            "assignee": c.assignee.username if c.assignee else None, "channel": c.channel, "priority": c.priority,
            "cycle": c.cycle, "customer": {"id": c.customer_id, "uuid": c.customer.uuid, "name": c.customer.name},
            "last_message_preview": c.last_message_preview, "awaiting_reply": c.awaiting_reply,
            "created_at": c.created_at, "last_activity_at": c.last_activity_at,
            "first_response_at": c.first_response_at, "closed_at": c.closed_at, "close_reason": c.close_reason}


def _detail(conversation_id: int, user: User, *, fresh: tuple[Conversation, Message] | None = None,
            ) -> dict[str, Any]:
    """The conversation as the API shows it. `fresh`: the conversation an action just created and its one message
    (its customer, inbox and assignee in hand), so a create answers without reading them back."""
    c = fresh[0] if fresh is not None else (
        Conversation.objects.select_related("customer", "inbox", "assignee", "category").get(pk=conversation_id))
    can_supervise = user.has_perm_code(Perm.INBOX_SUPERVISE)
    items = timeline(c, messages=[fresh[1]] if fresh is not None else None)
    return {**_items([c])[0], "timeline": [_readable({**i, "at": i["at"].isoformat()}, can_supervise)  # type: ignore[attr-defined]
                                    for i in items]}


def _readable(item: dict[str, Any], can_supervise: bool) -> dict[str, Any]:
    """What the customer deleted reaches supervisors only, as on the page: others get the message without its text,
    files or earlier versions (its `deleted_at` says what happened)."""
    if item.get("type") == "message" and item.get("deleted_at") and not can_supervise:
        return {**item, "body": "", "attachments": [], "meta": {}, "versions": []}
    return item


@router.post("/conversations", response={201: ConversationDetailOut, 200: ConversationDetailOut},
             summary="The API channel: a customer's message starts or continues their conversation")
def create_conversation(request: HttpRequest, payload: ConversationIn) -> Any:
    c, message, created = actions.check_receive_api_message(
        api_user(request), channel=payload.channel, body=payload.message, customer_name=payload.customer.name,
        phone=payload.customer.phone, email=payload.customer.email, inbox_code=payload.inbox,
        external_id=payload.external_id)
    if created:
        return Status(201, _detail(c.pk, api_user(request), fresh=(c, message)))
    return Status(200, _detail(c.pk, api_user(request)))


@router.get("/conversations", response=ConversationPage, summary="Conversations (keyset pagination: follow `next`)")
def list_conversations(  # noqa: PLR0917 - ninja maps each query parameter to an argument
    request: HttpRequest, inbox: str = "", state: Literal["", "open"] | ConversationState = "",
    agent: str = Query("", description="A username, or `me`"),  # type: ignore[type-arg]
    channel: Channel | Literal[""] = "", priority: Priority | Literal[""] = "",
    tag: str = "", q: str = "", unowned: bool = False, unanswered: bool = False,
    after: str = Query("", description="The cursor of `next`"),  # type: ignore[type-arg]
    page_size: int = Query(50, ge=1, le=200),  # type: ignore[type-arg]
) -> dict[str, Any]:
    user = api_require(request, Perm.INBOX_WORK)
    f = InboxFilters(inbox=inbox, state=state, agent=agent, channel=channel, priority=priority, tag=tag, q=q,
                     unowned=unowned, unanswered=unanswered)
    rows, nxt = page(filtered(user, f), after=after, size=page_size)
    link = None
    if nxt:
        params = request.GET.copy()
        params["after"] = nxt
        link = request.build_absolute_uri(f"{request.path}?{urlencode(params)}")
    return {"next": link, "results": _items(rows)}


class BulkIn(InputSchema):
    """`move` needs `inbox`, `tag` needs `tag`; each conversation's refusal is listed in `failed`."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"properties": {"op": {"enum": ["assign", "close"]}}},
        {"required": ["inbox"], "properties": {"op": {"const": "move"}, "inbox": {"type": "string",
                                                                                  "pattern": NOT_BLANK}}},
        {"required": ["tag"], "properties": {"op": {"const": "tag"}, "tag": {"type": "string",
                                                                            "pattern": NOT_BLANK}}}]})

    ids: list[DbId] = Field(..., min_length=1, max_length=bulk.BULK_MAX,
                            description=f"conversation ids, at most {bulk.BULK_MAX}")
    op: Literal["assign", "move", "tag", "close"]
    assignee: DbId | None = Field(None, description="assign: user id (null unassigns, only in Global)")
    inbox: str | None = Field(None, max_length=50, description="move: the target inbox's code")
    tag: str | None = Field(None, max_length=60, description="tag: the tag to add")
    reason: ManualCloseReason | None = Field(None, description="close: why")
    comment: str = Field("", max_length=settings.NOTE_MAX_LENGTH,
                         description="move: descriptive comment (required); close: comment")


class BulkFailureOut(Schema):
    id: int
    error: str


class BulkOut(Schema):
    ok: list[int]
    failed: list[BulkFailureOut]


# Declared before /conversations/{conversation_id}: ninja's path parameters match any text, so "bulk" would
# resolve to that route (and answer 405) if it came first.
@router.post("/conversations/bulk", response=BulkOut,
             summary="One action on many conversations, each on its own: refusals are listed, the rest is done")
def bulk_action(request: HttpRequest, payload: BulkIn) -> Any:
    result = bulk.check_bulk(api_user(request), conversation_ids=payload.ids, op=payload.op,
                             assignee_id=payload.assignee, inbox_code=payload.inbox, tag=payload.tag,
                             reason=payload.reason, comment=payload.comment)
    return {"ok": result.ok, "failed": [{"id": cid, "error": error} for cid, error in result.failed]}


@router.get("/conversations/{conversation_id}", response=ConversationDetailOut,
            summary="A conversation with its timeline (messages, notes, assignments, transfers, state changes)")
def get_conversation(request: HttpRequest, conversation_id: DbId) -> Any:
    actions.access_conversation(api_user(request), conversation_id)
    return _detail(conversation_id, api_user(request))


@router.post("/conversations/{conversation_id}/messages", response={201: ConversationDetailOut},
             summary="Reply to the customer, or add an internal note")
def post_message(request: HttpRequest, conversation_id: DbId, payload: MessageIn) -> Any:
    user = api_user(request)
    uploads = uploads_from(payload.attachments)
    if payload.kind == "note":
        actions.check_add_note(user, conversation_id, body=payload.body, uploads=uploads)
    else:
        actions.check_send_reply(user, conversation_id, body=payload.body, uploads=uploads)
    return Status(201, _detail(conversation_id, api_user(request)))


@router.post("/conversations/{conversation_id}/messages/{message_id}/retry",
             response={200: ConversationDetailOut, 409: ErrorOut},
             summary="Send again an answer whose delivery failed (409 when it has not failed or its channel sends "
                     "nothing)")
def retry_delivery(request: HttpRequest, conversation_id: DbId, message_id: DbId) -> Any:
    actions.check_retry_delivery(api_user(request), conversation_id, message_id)
    return _detail(conversation_id, api_user(request))


@router.post("/conversations/{conversation_id}/assign", response=ConversationDetailOut,
             summary="Assign the conversation (agents: only an unowned one, to themselves)")
def assign(request: HttpRequest, conversation_id: DbId, payload: AssignIn) -> Any:
    actions.check_assign(api_user(request), conversation_id, assignee=payload.assignee)
    return _detail(conversation_id, api_user(request))


@router.post("/conversations/{conversation_id}/transition", response={200: ConversationDetailOut, 409: ErrorOut},
             summary="Change state; closing needs a reason (409 lists the reasons that would be accepted)")
def transition(request: HttpRequest, conversation_id: DbId, payload: TransitionIn) -> Any:
    actions.check_transition(api_user(request), conversation_id, to=payload.to, reason=payload.reason,
                             comment=payload.comment, waiting_until=payload.waiting_until, outcome=payload.outcome,
                             customer_state=payload.customer_state)
    return _detail(conversation_id, api_user(request))


@router.post("/conversations/{conversation_id}/transfer", response=ConversationDetailOut,
             summary="Transfer to another person and/or inbox, with a descriptive comment")
def transfer(request: HttpRequest, conversation_id: DbId, payload: TransferIn) -> Any:
    actions.check_transfer(api_user(request), conversation_id, comment=payload.comment, to_user=payload.to_user,
                           to_inbox=payload.to_inbox, category_id=payload.category_id)
    return _detail(conversation_id, api_user(request))


class PriorityIn(InputSchema):
    priority: Priority = Field(..., strict=False)


class TagsIn(InputSchema):
    tags: list[Annotated[str, Field(max_length=60)]] = Field(
        ..., max_length=100, description="the conversation's whole tag list (replaces the current one); blank names "
                                         "are skipped")


class AssociationsIn(InputSchema):
    company: str | None = Field(None, max_length=200, description="absent or null keeps the current value")
    ticket_ref: str | None = Field(None, max_length=100, description="absent or null keeps the current value")


class HandledOutsideIn(InputSchema):
    external_channel: str = Field(..., min_length=1, max_length=100, pattern=NOT_BLANK,
                                  description="where it was attended: phone, personal WhatsApp, email…")
    comment: str = Field(..., min_length=MIN_COMMENT, max_length=settings.NOTE_MAX_LENGTH, pattern=DESCRIPTIVE,
                         description=DESCRIPTIVE_DOC)


@router.post("/conversations/{conversation_id}/priority", response=ConversationDetailOut,
             summary="Set the conversation's priority")
def set_priority(request: HttpRequest, conversation_id: DbId, payload: PriorityIn) -> Any:
    actions.check_set_associations(api_user(request), conversation_id, priority=payload.priority)
    return _detail(conversation_id, api_user(request))


@router.put("/conversations/{conversation_id}/tags", response=ConversationDetailOut,
            summary="Replace the conversation's tags (unknown tags are created)")
def set_tags(request: HttpRequest, conversation_id: DbId, payload: TagsIn) -> Any:
    actions.check_set_associations(api_user(request), conversation_id, tags=payload.tags)
    return _detail(conversation_id, api_user(request))


@router.patch("/conversations/{conversation_id}/associations", response=ConversationDetailOut,
              summary="The company and the external ticket the conversation belongs to")
def set_associations(request: HttpRequest, conversation_id: DbId, payload: AssociationsIn) -> Any:
    actions.check_set_associations(api_user(request), conversation_id, company=payload.company,
                                   ticket_ref=payload.ticket_ref)
    return _detail(conversation_id, api_user(request))


@router.post("/conversations/{conversation_id}/handled-outside", response=ConversationDetailOut,
             summary="Document that the customer was attended outside the CRM (a closure reason then holds)")
def handled_outside(request: HttpRequest, conversation_id: DbId, payload: HandledOutsideIn) -> Any:
    actions.check_mark_handled_outside(api_user(request), conversation_id,
                                       external_channel=payload.external_channel, comment=payload.comment)
    return _detail(conversation_id, api_user(request))


class PersonOut(Schema):
    id: int
    name: str
    username: str
    availability: str
    availability_label: str
    open_load: int = Field(..., description="open conversations assigned now")
    capacity: int
    inboxes: list[str]


@router.get("/conversations/{conversation_id}/assignable", response=list[PersonOut],
            summary="People who can take this conversation, best candidates first (search with `q`)")
def assignable(request: HttpRequest, conversation_id: DbId, q: str = "") -> Any:
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


class ReassignTaskIn(InputSchema):
    responsible: DbId = Field(..., description="The id of an active user who works the inbox (400 "
                                              "`invalid_responsible`)")


@router.get("/tasks", response=list[TaskOut],
            summary="Tasks of the conversations the caller can see, open first, then by due date")
@paginate(PageNumberPagination)
def list_tasks(request: HttpRequest, conversation: DbInt | None = None, status: TaskStatus | Literal[""] = "",
               mine: bool = False) -> QuerySet[Task]:
    return task_actions.tasks_for(api_user(request), conversation_id=conversation, status=status or None, mine=mine)


@router.post("/tasks/{task_id}/complete", response={200: TaskOut, 409: ErrorOut},
             summary="Complete a task (409 `invalid_task_transition` for a cancelled one)")
def complete_task(request: HttpRequest, task_id: DbId) -> Any:
    return _task(task_actions.check_complete_task(api_user(request), task_id).pk)


@router.post("/tasks/{task_id}/reopen", response={200: TaskOut, 409: ErrorOut}, summary="Reopen a task")
def reopen_task(request: HttpRequest, task_id: DbId) -> Any:
    return _task(task_actions.check_reopen_task(api_user(request), task_id).pk)


@router.post("/tasks/{task_id}/reassign", response=TaskOut, summary="Give the task to someone else")
def reassign_task(request: HttpRequest, task_id: DbId, payload: ReassignTaskIn) -> Any:
    return _task(task_actions.check_reassign_task(api_user(request), task_id, responsible_id=payload.responsible).pk)


def _task(task_id: int) -> Task:
    return Task.objects.select_related("responsible", "created_by").get(pk=task_id)
