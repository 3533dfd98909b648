"""/api/v1/quick-replies…: the same actions as the quick replies page and the composer's picker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from accounts.roles import Perm
from automation import actions, rules, schedules, sequences
from automation.models import (
    AutomationRule,
    AutomationRun,
    QuickReply,
    ScheduledMessage,
    Sequence,
    SequenceEnrollment,
    SlaPolicy,
)
from automation.rule_spec import IDLE_HOURS_MAX, detail_text
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
from inbox.api import FileIn, FileOut, uploads_from

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
    attachment: FileIn | None = Field(None, description="A file sent with the text. On PUT: absent keeps the "
                                                        "current one, null removes it")


class QuickReplyOut(Schema):
    id: int
    title: str
    shortcut: str
    body: str
    category: str
    scope: str
    inbox: str | None
    owner: str | None = Field(..., description="The author's username, for a personal one")
    attachment: FileOut | None = Field(..., description="The file sent with the text, if any")
    usage_count: int
    last_used_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_attachment(obj: QuickReply) -> dict[str, Any] | None:
        a = obj.attachment or {}
        return {"name": a.get("name") or "", "content_type": a.get("content_type") or "",
                "size": a.get("size") or 0} if a.get("path") else None

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
    upload = uploads_from([payload.attachment])[0] if payload.attachment is not None else None
    remove = "attachment" in payload.model_fields_set and payload.attachment is None
    return actions.check_save_quick_reply(api_user(request), quick_reply_id=quick_reply_id, title=payload.title,
                                          shortcut=payload.shortcut, body=payload.body, category=payload.category,
                                          scope=payload.scope, inbox_code=payload.inbox, attachment=upload,
                                          remove_attachment=remove)


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
    author: str | None = Field(..., description="Who scheduled it; null when an automation rule did (`rule`)")
    rule: str | None = Field(..., description="The automation rule that scheduled it, by name")
    sent_message_id: int | None
    failure: str = Field(..., description="Why it was not sent (state `fallido`)")
    created_at: datetime

    @staticmethod
    def resolve_template(obj: ScheduledMessage) -> str | None:
        return obj.template_name or None

    @staticmethod
    def resolve_author(obj: ScheduledMessage) -> str | None:
        return obj.author.username if obj.author else None

    @staticmethod
    def resolve_rule(obj: ScheduledMessage) -> str | None:
        return obj.rule_name or None


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
    channel: Literal["whatsapp", "email", "webchat", "sms", "api"]
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


# --- automation rules ----------------------------------------------------------------------------------------

RuleEventCode = Literal["message.received", "conversation.created", "conversation.state_changed",
                        "conversation.assigned", "customer.tagged", "segment.entered", "lead.noted",
                        "order.confirmed", "sla.breached", "schedule"]


class ScheduleIn(InputSchema):
    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(..., min_length=1, max_length=7,
                                                          description="Days of the week, Monday = 0")
    time: str = Field(..., pattern=r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM in the organization's "
                                                                                   "time zone")


class ConditionIn(InputSchema):
    field: str = Field(..., max_length=40, description="channel, inbox, text, business_hours, customer_tag, "
                                                       "conversation_tag, priority, state, first_message, started_by, "
                                                       "idle_hours, customer_segment, customer_language")
    op: str = Field(..., max_length=20, description="Per field (docs/automation.md): is / is_not, contains / "
                                                     "not_contains / matches, inside / outside, has / has_not, "
                                                     "yes / no, customer / agent, at_least / less_than "
                                                     "(idle_hours: a whole number of hours, 48 or \"48\")")
    value: list[Annotated[str, Field(max_length=100)]] | Annotated[int, Field(ge=1, le=IDLE_HOURS_MAX)] | Annotated[
        str, Field(max_length=300)] = Field(
        "", description="A list of codes or words (segment codes for `customer_segment`, es/en for "
                        "`customer_language`); a regular expression for `matches`; a number of hours for "
                        "`idle_hours`; empty when the operator says it all")


ActionType = Literal["send_message", "schedule_message", "add_note", "add_tag", "remove_tag", "tag_customer",
                     "set_priority", "assign", "move_inbox", "escalate", "create_task", "webhook", "start_sequence"]


class ActionIn(InputSchema):
    """One action; which keys it takes depends on `type` (400 `invalid_action` naming the action otherwise)."""

    type: ActionType
    body: str | None = Field(None, max_length=4096, description="send_message, schedule_message, add_note")
    template: str | None = Field(None, max_length=512, description="send_message, schedule_message: a WhatsApp "
                                                                   "template for a closed 24-hour window")
    variables: dict[Annotated[str, Field(max_length=30)], Annotated[str, Field(max_length=1024)]] | None = Field(
        None, max_length=20, description="The template's variables (themselves may use {{…}} variables)")
    delay_minutes: int | None = Field(None, ge=1, le=90 * 24 * 60, description="schedule_message")
    tag: str | None = Field(None, max_length=60, description="add_tag, remove_tag, tag_customer")
    priority: Literal["baja", "normal", "alta", "urgente"] | None = Field(None, description="set_priority")
    agent: str | None = Field(None, max_length=60, description="assign: a username, or `auto`")
    inbox: str | None = Field(None, max_length=60, description="move_inbox: an inbox's code")
    comment: str | None = Field(None, max_length=4096, description="escalate")
    title: str | None = Field(None, max_length=4096, description="create_task")
    endpoint: int | None = Field(None, ge=1, le=2**31 - 1, description="webhook: an outgoing webhook's id")
    sequence: int | None = Field(None, ge=1, le=2**31 - 1, description="start_sequence: a sequence's id")


class RuleIn(InputSchema):
    name: str = Field(..., min_length=1, max_length=100, pattern=NOT_BLANK)
    description: str = Field("", max_length=300)
    event: RuleEventCode = Field(..., description="What starts the rule")
    match: Literal["all", "any"] = "all"
    conditions: list[ConditionIn] = Field(default_factory=list, max_length=20)
    actions: list[ActionIn] = Field(..., min_length=1, max_length=10, description=(
        "In order: send_message {body, template?, variables?}, schedule_message {delay_minutes, body, template?, "
        "variables?}, add_note {body}, add_tag / remove_tag / tag_customer {tag}, set_priority {priority}, assign "
        "{agent: username or \"auto\"}, move_inbox {inbox}, escalate {comment?}, create_task {title}, webhook "
        "{endpoint}, start_sequence {sequence}"))
    active: bool = False
    position: int | None = Field(None, ge=0, le=100_000, description="Order among the event's rules (lower first); "
                                                                     "a new rule goes last when omitted")
    stop_after: bool = Field(False, description="When this rule applies, the event's later rules do not run")
    frequency: Literal["every_time", "conversation", "customer"] = "every_time"
    cooldown_seconds: int | None = Field(None, ge=0, le=rules.COOLDOWN_MAX,
                                         description="Not again for the same conversation within this time")
    schedule: ScheduleIn | None = Field(None, description="For the event `schedule` (required there, 400 "
                                                          "`invalid_schedule`): at these days and time the rule's "
                                                          "conditions are checked on every open conversation")


class RuleOut(Schema):
    id: int
    name: str
    description: str
    event: str
    match: str
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    active: bool
    position: int
    stop_after: bool
    frequency: str
    cooldown_seconds: int | None
    schedule: dict[str, Any] = Field(..., description="{days, time} for the event `schedule`, else {}")
    next_run_at: datetime | None = Field(..., description="The next time a scheduled rule runs (active ones)")
    preset: str
    run_count: int
    last_run_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_next_run_at(obj: AutomationRule) -> datetime | None:
        if obj.event != "schedule" or not obj.active:
            return None
        upcoming = schedules.next_slot(obj.schedule or {}, timezone.now())
        return upcoming.astimezone(UTC) if upcoming else None


class RunActionOut(Schema):
    type: str
    result: Literal["done", "skipped", "failed"]
    detail: str


class RunOut(Schema):
    id: int
    event: str
    outcome: Literal["applied", "skipped", "held", "failed"] = Field(
        ..., description="skipped: every action was skipped (see each `detail`)")
    reason: str = Field(..., description="Why it was held back: loop, frequency, cooldown")
    conversation_id: int | None
    customer_id: int | None
    actions: list[RunActionOut]
    created_at: datetime

    @staticmethod
    def resolve_actions(obj: AutomationRun) -> list[dict[str, str]]:
        return [{"type": str(a.get("type", "")), "result": str(a.get("result", "")),
                 "detail": detail_text(a.get("detail"))} for a in obj.actions if isinstance(a, dict)]


RunLimit = Annotated[int, Query(ge=1, le=500, description="How many runs (newest first); `before`: only runs "
                                                         "older than that run's id, for the next page")]


class RuleTestIn(InputSchema):
    event: RuleEventCode = "message.received"
    message: str = Field("", max_length=rules.TEXT_SCAN_MAX)
    channel: Literal["", "whatsapp", "email", "webchat", "sms", "api", "phone"] = ""
    inbox: str = Field("", max_length=30, description="An inbox's code (for inbox and business-hours conditions)")


class RuleTestItemOut(Schema):
    id: int
    name: str
    active: bool
    matches: bool
    failed_conditions: list[str] = Field(..., description="The conditions the sample does not meet")
    unchecked_conditions: list[str] = Field(..., description="Conditions about the customer or the conversation, "
                                                             "which a sample cannot tell: counted as met")
    actions: list[str]
    stop_after: bool


def _rule(request: HttpRequest, rule_id: int) -> AutomationRule:
    return rules.access_rule(api_user(request), rule_id)


def _input(payload: RuleIn) -> rules.RuleInput:
    data = payload.model_dump()
    data["schedule"] = payload.schedule.model_dump() if payload.schedule else {}
    data["conditions"] = [c.model_dump() for c in payload.conditions]
    data["actions"] = [a.model_dump(exclude_none=True) for a in payload.actions]
    return rules.RuleInput(**data)


@router.get("/automation-rules", response=list[RuleOut], summary="Every automation rule, by event and order")
def list_rules(request: HttpRequest) -> Any:
    api_require(request, Perm.INBOX_SUPERVISE)
    return list(AutomationRule.objects.order_by("event", "position", "pk"))


@router.post("/automation-rules", response={201: RuleOut}, summary="Create a rule (inactive unless `active`)")
def create_rule(request: HttpRequest, payload: RuleIn) -> Any:
    return Status(201, rules.check_save_rule(api_user(request), _input(payload)))


@router.post("/automation-rules/test", response=list[RuleTestItemOut],
             summary="Which rules would fire for a sample message, and what they would do — nothing is done")
def test_rules(request: HttpRequest, payload: RuleTestIn) -> Any:
    found = rules.check_test_rules(api_user(request), event=payload.event, message=payload.message,
                                   channel=payload.channel, inbox=payload.inbox)
    return [{"id": s.rule.pk, "name": s.rule.name, "active": s.rule.active, "matches": s.verdict.matched,
             "failed_conditions": s.failed_texts, "unchecked_conditions": s.unchecked_texts, "actions": s.actions,
             "stop_after": s.rule.stop_after} for s in found]


@router.get("/automation-rules/{rule_id}", response=RuleOut, summary="One rule")
def get_rule(request: HttpRequest, rule_id: DbId) -> Any:
    return _rule(request, rule_id)


@router.put("/automation-rules/{rule_id}", response=RuleOut, summary="Replace a rule")
def replace_rule(request: HttpRequest, rule_id: DbId, payload: RuleIn) -> Any:
    return rules.check_save_rule(api_user(request), _input(payload), rule_id=rule_id)


@router.delete("/automation-rules/{rule_id}", response={204: None}, summary="Delete a rule (its runs go with it)")
def delete_rule(request: HttpRequest, rule_id: DbId) -> HttpResponse:
    rules.check_delete_rule(api_user(request), rule_id)
    return HttpResponse(status=204)


@router.get("/automation-rules/{rule_id}/runs", response=list[RunOut],
            summary="What the rule did, newest first: applied, held back (and why) or failed, action by action")
def list_runs(request: HttpRequest, rule_id: DbId, limit: RunLimit = 50, before: DbId | None = None) -> Any:
    rule = _rule(request, rule_id)
    runs = AutomationRun.objects.filter(rule=rule)
    if before is not None:
        runs = runs.filter(pk__lt=before)
    return list(runs.order_by("-pk")[:limit])


# --- sequences -----------------------------------------------------------------------------------------------


class StepIn(InputSchema):
    delay_minutes: int = Field(..., ge=1, le=90 * 24 * 60, description="From the start; each later than the one "
                                                                       "before")
    body: str = Field("", max_length=4096, description="The text (variables allowed); or only a template")
    template: str = Field("", max_length=512, description="A WhatsApp template's name, for when the 24-hour "
                                                          "window is closed")
    variables: dict[Annotated[str, Field(max_length=30)], Annotated[str, Field(max_length=1024)]] = Field(
        default_factory=dict, max_length=20)


class SequenceIn(InputSchema):
    name: str = Field(..., min_length=1, max_length=100, pattern=NOT_BLANK)
    description: str = Field("", max_length=300)
    steps: list[StepIn] = Field(..., min_length=1, max_length=10)
    stop_on_reply: bool = True
    stop_on_close: bool = True
    active: bool = True


class SequenceOut(Schema):
    id: int
    name: str
    description: str
    steps: list[dict[str, Any]]
    stop_on_reply: bool
    stop_on_close: bool
    active: bool
    created_at: datetime
    updated_at: datetime


class EnrollmentOut(Schema):
    id: int
    sequence_id: int
    conversation_id: int
    state: Literal["activa", "completada", "detenida"]
    reason: str = Field(..., description="Why it ended: customer_replied, resolved, stopped, steps_cancelled, "
                                         "steps_failed, sequence_deleted")
    started_at: datetime
    ended_at: datetime | None


def _sequence_input(payload: SequenceIn) -> sequences.SequenceInput:
    data = payload.model_dump()
    return sequences.SequenceInput(**data)


@router.get("/sequences", response=list[SequenceOut], summary="Every sequence of messages")
def list_sequences(request: HttpRequest) -> Any:
    api_require(request, Perm.INBOX_SUPERVISE)
    return list(Sequence.objects.order_by("name", "pk"))


@router.post("/sequences", response={201: SequenceOut}, summary="Create a sequence (started by a rule's action)")
def create_sequence(request: HttpRequest, payload: SequenceIn) -> Any:
    return Status(201, sequences.check_save_sequence(api_user(request), _sequence_input(payload)))


@router.get("/sequences/{sequence_id}", response=SequenceOut, summary="One sequence")
def get_sequence(request: HttpRequest, sequence_id: DbId) -> Any:
    return sequences.access_sequence(api_user(request), sequence_id)


@router.put("/sequences/{sequence_id}", response=SequenceOut,
            summary="Replace a sequence (conversations already on their way keep their messages)")
def replace_sequence(request: HttpRequest, sequence_id: DbId, payload: SequenceIn) -> Any:
    return sequences.check_save_sequence(api_user(request), _sequence_input(payload), sequence_id=sequence_id)


@router.delete("/sequences/{sequence_id}", response={204: None},
               summary="Delete a sequence (conversations on their way stop; their waiting messages are cancelled)")
def delete_sequence(request: HttpRequest, sequence_id: DbId) -> HttpResponse:
    sequences.check_delete_sequence(api_user(request), sequence_id)
    return HttpResponse(status=204)


@router.get("/sequences/{sequence_id}/enrollments", response=list[EnrollmentOut],
            summary="The conversations that went or go through it, newest first (last 200)")
def list_enrollments(request: HttpRequest, sequence_id: DbId) -> Any:
    sequence = sequences.access_sequence(api_user(request), sequence_id)
    return list(SequenceEnrollment.objects.filter(sequence=sequence).order_by("-started_at", "-pk")[:200])


@router.post("/sequence-enrollments/{enrollment_id}/stop", response=EnrollmentOut,
             summary="Stop a conversation's sequence (its waiting messages are cancelled)")
def stop_enrollment(request: HttpRequest, enrollment_id: DbId) -> Any:
    return sequences.check_stop_enrollment(api_user(request), enrollment_id)
