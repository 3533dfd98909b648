"""/api/v1/quick-replies…: the same actions as the quick replies page and the composer's picker."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from accounts.roles import Perm
from automation import actions
from automation.models import QuickReply, ScheduledMessage, SlaPolicy
from automation.selectors import visible_quick_replies
from automation.variables import render
from core.api import (
    NOT_BLANK,
    DbId,
    ErrorOut,
    InputSchema,
    IsoDateTime,
    PageNumberPagination,
    api_require,
    api_user,
)
from inbox.actions import access_conversation, check_may_act

router = Router(tags=["automation"])


class QuickReplyIn(InputSchema):
    title: str = Field(..., min_length=1, max_length=100, pattern=NOT_BLANK)
    shortcut: str = Field(..., min_length=1, max_length=31, pattern=r"^/?[A-Za-z0-9_-]{1,30}$",
                          description="Typed after «/» in the composer: 1–30 letters without accents, digits, - or _ "
                                      "(stored in lower case, without the «/»)")
    body: str = Field(..., min_length=1, max_length=actions.BODY_MAX_LENGTH, pattern=NOT_BLANK,
                      description="May carry variables such as {{cliente.primer_nombre}} (docs/automation.md)")
    category: str = Field("", max_length=50)
    scope: Literal["mias", "bandeja", "todos"] = Field("mias", description="mias: the author only; bandeja: the "
                                                                          "people of `inbox`; todos: everyone "
                                                                          "(shared ones: supervisors)")
    inbox: str = Field("", max_length=50, description="The inbox's code when scope is `bandeja`")


class QuickReplyOut(Schema):
    id: int
    title: str
    shortcut: str
    body: str
    category: str
    scope: str
    inbox: str | None
    owner: str | None = Field(..., description="The author's username, for a personal one")
    usage_count: int
    last_used_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_inbox(obj: QuickReply) -> str | None:
        return obj.inbox.code if obj.inbox else None

    @staticmethod
    def resolve_owner(obj: QuickReply) -> str | None:
        return obj.owner.username if obj.owner else None


class RenderedOut(Schema):
    body: str = Field(..., description="The text with every variable that has a value replaced")
    missing: list[str] = Field(..., description="Variables without a value in this conversation, as written; a "
                                                "reply still carrying one is refused (400 `unfilled_variable`)")


def _save(request: HttpRequest, payload: QuickReplyIn, quick_reply_id: int | None) -> QuickReply:
    return actions.check_save_quick_reply(api_user(request), quick_reply_id=quick_reply_id, title=payload.title,
                                          shortcut=payload.shortcut, body=payload.body, category=payload.category,
                                          scope=payload.scope, inbox_code=payload.inbox)


@router.get("/quick-replies", response=list[QuickReplyOut],
            summary="The quick replies the caller may use (their own, their inboxes', everyone's)")
@paginate(PageNumberPagination)
def list_quick_replies(request: HttpRequest, q: str = "", category: str = "") -> QuerySet[QuickReply]:
    user = api_require(request, Perm.INBOX_WORK)
    qs = visible_quick_replies(user)
    if q.strip():
        qs = qs.filter(Q(shortcut__istartswith=q.strip().lstrip("/")) | Q(title__icontains=q.strip()))
    if category.strip():
        qs = qs.filter(category__iexact=category.strip())
    return qs.order_by("shortcut", "id")


@router.post("/quick-replies", response={201: QuickReplyOut, 409: ErrorOut},
             summary="Create one (409 `shortcut_taken`; 403 for a shared one without inbox.supervise)")
def create_quick_reply(request: HttpRequest, payload: QuickReplyIn) -> Any:
    return Status(201, _save(request, payload, None))


@router.get("/quick-replies/{quick_reply_id}", response=QuickReplyOut, summary="One quick reply")
def get_quick_reply(request: HttpRequest, quick_reply_id: DbId) -> Any:
    return actions.access_quick_reply(api_user(request), quick_reply_id)


@router.put("/quick-replies/{quick_reply_id}", response={200: QuickReplyOut, 409: ErrorOut},
            summary="Replace one (its author, or a supervisor for a shared one)")
def update_quick_reply(request: HttpRequest, quick_reply_id: DbId, payload: QuickReplyIn) -> Any:
    return _save(request, payload, quick_reply_id)


@router.delete("/quick-replies/{quick_reply_id}", response={204: None}, summary="Delete one")
def delete_quick_reply(request: HttpRequest, quick_reply_id: DbId) -> HttpResponse:
    actions.check_delete_quick_reply(api_user(request), quick_reply_id)
    return HttpResponse(status=204)


@router.get("/conversations/{conversation_id}/quick-replies/{quick_reply_id}/render", response=RenderedOut,
            summary="The quick reply as it would be inserted in this conversation (nothing is sent or counted)")
def render_quick_reply(request: HttpRequest, conversation_id: DbId, quick_reply_id: DbId) -> Any:
    user = api_user(request)
    c = access_conversation(user, conversation_id)
    check_may_act(user, c)
    reply = actions.access_quick_reply(user, quick_reply_id, conversation=c)
    rendered = render(reply.body, conversation=c, agent=user)
    return {"body": rendered.body, "missing": rendered.missing}


class ScheduledIn(InputSchema):
    body: str = Field("", max_length=10000, description="The text to send (or a WhatsApp `template`)")
    template: DbId | None = Field(None, description="An approved WhatsApp template's id (it can be sent after the "
                                                    "24-hour window closed); not with `body` (400 "
                                                    "`body_and_template`)")
    variables: dict[str, Annotated[str, Field(max_length=1024)]] = Field(
        default_factory=dict, max_length=20, description="The template's values by variable")
    send_at: IsoDateTime = Field(..., description="ISO 8601 with its offset; from the next minute to a year ahead")


class ScheduledOut(Schema):
    id: int
    conversation_id: int
    state: str = Field(..., description="programado | enviado | cancelado | fallido")
    send_at: datetime
    body: str
    template: str | None = Field(..., description="The template's name, when one was chosen")
    variables: dict[str, str]
    author: str
    sent_message_id: int | None
    failure: str = Field(..., description="Why it was not sent (state `fallido`)")
    created_at: datetime

    @staticmethod
    def resolve_template(obj: ScheduledMessage) -> str | None:
        return obj.template_name or None

    @staticmethod
    def resolve_author(obj: ScheduledMessage) -> str:
        return obj.author.username


@router.get("/conversations/{conversation_id}/scheduled-messages", response=list[ScheduledOut],
            summary="The conversation's scheduled messages, every state, by time")
def list_scheduled(request: HttpRequest, conversation_id: DbId) -> Any:
    user = api_user(request)
    c = access_conversation(user, conversation_id)
    check_may_act(user, c)
    return list(ScheduledMessage.objects.filter(conversation=c).select_related("author", "template")
                .order_by("send_at", "pk")[:200])


@router.post("/conversations/{conversation_id}/scheduled-messages", response={201: ScheduledOut, 409: ErrorOut},
             summary="Schedule a message (400 `send_at_past`, `send_at_too_far`, `unfilled_variable`, "
                     "`template_not_approved`…)")
def create_scheduled(request: HttpRequest, conversation_id: DbId, payload: ScheduledIn) -> Any:
    scheduled = actions.check_schedule_message(api_user(request), conversation_id, send_at=payload.send_at,
                                               body=payload.body, template_id=payload.template,
                                               variables=payload.variables)
    return Status(201, ScheduledMessage.objects.select_related("author", "template").get(pk=scheduled.pk))


@router.delete("/scheduled-messages/{scheduled_id}", response={204: None, 409: ErrorOut},
               summary="Cancel one that still waits (409 `not_scheduled` once sent, cancelled or failed)")
def cancel_scheduled(request: HttpRequest, scheduled_id: DbId) -> HttpResponse:
    actions.check_cancel_scheduled(api_user(request), scheduled_id)
    return HttpResponse(status=204)


Seconds = Annotated[int, Field(ge=actions.SLA_MIN_SECONDS, le=actions.SLA_MAX_SECONDS)]


class SlaPolicyIn(InputSchema):
    channel: Literal["whatsapp", "email", "webchat", "api"]
    inbox: str | None = Field(None, max_length=50, description="An inbox's code: this inbox's own policy on the "
                                                               "channel (replaces the channel's there); null: the "
                                                               "channel's")
    first_response_seconds: Seconds | None = Field(None, description="null: not timed")
    next_response_seconds: Seconds | None = None
    resolution_seconds: Seconds | None = None
    escalate_after_seconds: Seconds | None = Field(None, description="Not resolved this long after its assignment: "
                                                                     "the conversation goes to a supervisor")
    business_hours: bool = Field(False, description="Count only the inbox team's opening hours (holidays closed)")
    pause_on_hold: bool = Field(True, description="Stop the clock while the conversation is En espera")
    email_on_breach: bool = Field(False, description="Also email the agent and the inbox's supervisors")
    active: bool = True


class SlaPoliciesIn(InputSchema):
    policies: list[SlaPolicyIn] = Field(..., max_length=200)


class SlaPolicyOut(Schema):
    channel: str
    inbox: str | None
    first_response_seconds: int | None
    next_response_seconds: int | None
    resolution_seconds: int | None
    escalate_after_seconds: int | None
    business_hours: bool
    pause_on_hold: bool
    email_on_breach: bool
    active: bool
    updated_at: datetime

    @staticmethod
    def resolve_inbox(obj: SlaPolicy) -> str | None:
        return obj.inbox.code if obj.inbox else None


@router.get("/sla-policies", response=list[SlaPolicyOut],
            summary="The service-level policies: per channel, and an inbox's own on a channel")
def list_sla_policies(request: HttpRequest) -> Any:
    api_require(request, Perm.INBOX_WORK)
    return list(SlaPolicy.objects.select_related("inbox").order_by("channel", "inbox__code", "id"))


@router.put("/sla-policies", response=list[SlaPolicyOut],
            summary="Replace every policy (one left out is deleted: its channel or inbox is no longer timed)")
def replace_sla_policies(request: HttpRequest, payload: SlaPoliciesIn) -> Any:
    actions.check_save_sla_policies(api_user(request), [
        actions.SlaPolicyInput(channel=p.channel, inbox_code=p.inbox or "",
                               **p.model_dump(exclude={"channel", "inbox"})) for p in payload.policies])
    return list(SlaPolicy.objects.select_related("inbox").order_by("channel", "inbox__code", "id"))
