"""/api/v1/conversations…: the API channel and the same actions as the inbox pages."""

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from accounts.roles import Perm
from core.api import ErrorOut, api_require, api_user
from inbox import actions
from inbox.models import Conversation
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
