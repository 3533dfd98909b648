"""/api/v1/bot-flows/…: the chatbot's flows (list, create, read, replace, publish, simulate) and
/api/v1/conversations/{id}/bot (the run in a conversation) — the same actions as the editor."""

from datetime import datetime
from typing import Any, Final

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from accounts.roles import Perm
from bots import actions
from bots.choices import OPEN_STATES
from bots.models import KEYWORDS_MAX, NAME_MAX, BotFlow, BotRun
from core.api import NOT_BLANK, DbId, ErrorOut, InputSchema, api_require, api_user
from core.errors import NotFoundError
from inbox.actions import access_conversation

router = Router(tags=["bots"])
GRAPH_DOC: Final = ("The flow as a graph: {\"start\": step id, \"steps\": {id: {\"type\", \"next\": {port: step id}, "
                    "…fields of its type}}} — docs/bots.md lists the types, their fields and ports; 400 "
                    "`invalid_flow` names the step and field that is wrong")


class ProblemOut(Schema):
    step: str = Field(..., description="The step's id, or \"\" for the whole flow")
    message: str
    blocking: bool = Field(..., description="Keeps the flow from being published")


class FlowOut(Schema):
    id: int
    name: str
    description: str
    enabled: bool
    inbox: str | None = Field(None, description="The inbox's code when the flow is its default entry")
    published_version: int | None
    handoff_keywords: list[str]
    expire_minutes: int
    expire_text: str
    max_retries: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_inbox(obj: BotFlow) -> str | None:
        return obj.inbox.code if obj.inbox else None

    @staticmethod
    def resolve_published_version(obj: BotFlow) -> int | None:
        return obj.published.number if obj.published else None

    @staticmethod
    def resolve_handoff_keywords(obj: BotFlow) -> list[str]:
        return sorted(actions.keywords_of(obj))


class FlowDetailOut(FlowOut):
    graph: dict[str, Any] = Field(..., description=GRAPH_DOC)
    problems: list[ProblemOut]

    @staticmethod
    def resolve_problems(obj: BotFlow) -> list[ProblemOut]:
        return [ProblemOut(step=p.step, message=p.message, blocking=p.blocking) for p in actions.flow_problems(obj)]


class FlowIn(InputSchema):
    name: str = Field(..., min_length=1, max_length=NAME_MAX, pattern=NOT_BLANK)
    description: str = Field("", max_length=500)
    graph: dict[str, Any] | None = Field(None, description=GRAPH_DOC + "; absent: an empty draft")


class FlowPutIn(InputSchema):
    """The draft and the settings, replaced (absent settings keep their value)."""

    name: str = Field(..., min_length=1, max_length=NAME_MAX, pattern=NOT_BLANK)
    description: str = Field("", max_length=500)
    graph: dict[str, Any] = Field(..., description=GRAPH_DOC)
    enabled: bool | None = None
    inbox: str | None = Field(None, max_length=50, description="An inbox's code to make this flow its default "
                                                              "entry; \"\" for none; absent keeps it")
    handoff_keywords: list[str] | None = Field(None, max_length=20, description="Words a customer types to ask "
                                                                               "for a person")
    expire_minutes: int | None = Field(None, ge=1, le=7 * 24 * 60)
    expire_text: str | None = Field(None, max_length=1000)
    max_retries: int | None = Field(None, ge=0, le=10)


class VersionOut(Schema):
    flow: int
    version: int
    published_at: datetime


class SimulateIn(InputSchema):
    messages: list[str] = Field(..., max_length=actions.SIM_MESSAGES_MAX,
                                description="The customer's messages in order; the first one starts the flow")
    graph: dict[str, Any] | None = Field(None, description="A graph to try instead of the stored draft (people "
                                                              "with bots.manage; ignored for viewers)")


class BotLineOut(Schema):
    text: str
    choices: list[str]
    note: str = Field(..., description="What the bot would do besides writing (a handoff, a write), in a sentence")


class SimTurnOut(Schema):
    customer: str | None
    bot: list[BotLineOut]


class SimulationOut(Schema):
    turns: list[SimTurnOut]
    variables: dict[str, str]
    step: str
    state: str
    finished: bool


class RunOut(Schema):
    id: int
    flow: dict[str, Any]
    version: int
    state: str
    state_label: str
    open: bool
    step: str
    variables: dict[str, Any]
    retries: int
    started_by: str
    handoff_reason: str
    handoff_reason_label: str
    started_at: datetime
    last_activity_at: datetime
    resume_at: datetime | None
    finished_at: datetime | None


def _detail(flow: BotFlow) -> BotFlow:
    return BotFlow.objects.select_related("published", "inbox").get(pk=flow.pk)


@router.get("/bot-flows", response=list[FlowOut], summary="The bot's flows, by name")
def list_flows(request: HttpRequest) -> Any:
    api_require(request, Perm.BOTS_VIEW)
    return list(BotFlow.objects.select_related("published", "inbox").order_by("name")[:500])


@router.post("/bot-flows", response={201: FlowDetailOut, 409: ErrorOut}, summary="Create a flow (a draft)")
def create_flow(request: HttpRequest, payload: FlowIn) -> Any:
    flow = actions.check_create_flow(api_user(request), name=payload.name, description=payload.description,
                                     graph=payload.graph)
    return Status(201, _detail(flow))


@router.get("/bot-flows/{flow_id}", response={200: FlowDetailOut, 404: ErrorOut},
            summary="A flow with its draft graph and what keeps it from being published")
def get_flow(request: HttpRequest, flow_id: DbId) -> Any:
    return _detail(actions.access_flow(api_user(request), flow_id))


@router.put("/bot-flows/{flow_id}", response={200: FlowDetailOut, 404: ErrorOut, 409: ErrorOut},
            summary="Replace a flow's draft graph and settings (running conversations keep their version)")
def put_flow(request: HttpRequest, flow_id: DbId, payload: FlowPutIn) -> Any:
    flow = actions.check_save_flow(
        api_user(request), flow_id, name=payload.name, description=payload.description, graph=payload.graph,
        enabled=payload.enabled, inbox_code=payload.inbox,
        handoff_keywords=", ".join(payload.handoff_keywords)[:KEYWORDS_MAX + 1]
        if payload.handoff_keywords is not None else None,
        expire_minutes=payload.expire_minutes, expire_text=payload.expire_text, max_retries=payload.max_retries)
    return _detail(flow)


@router.post("/bot-flows/{flow_id}/publish", response={200: VersionOut, 404: ErrorOut},
             summary="Publish the draft as a new version (400 `flow_has_problems` lists what blocks it)")
def publish_flow(request: HttpRequest, flow_id: DbId) -> Any:
    version = actions.check_publish_flow(api_user(request), flow_id)
    return VersionOut(flow=flow_id, version=version.number, published_at=version.published_at)


@router.post("/bot-flows/{flow_id}/simulate", response={200: SimulationOut, 404: ErrorOut},
             summary="Chat with the draft: the customer's messages → the bot's answers and the final variables "
                     "(writes nothing)")
def simulate_flow(request: HttpRequest, flow_id: DbId, payload: SimulateIn) -> Any:
    result = actions.check_simulate(api_user(request), flow_id, messages=payload.messages, graph=payload.graph)
    return SimulationOut(
        turns=[SimTurnOut(customer=t.customer, bot=[BotLineOut(text=b.text, choices=b.choices, note=b.note)
                                                     for b in t.bot]) for t in result.turns],
        variables=result.variables, step=result.step, state=result.state, finished=result.finished)


@router.get("/conversations/{conversation_id}/bot", response={200: RunOut, 404: ErrorOut},
            summary="The bot in a conversation: its open run, or the latest one (404 when the bot never talked "
                    "there)")
def conversation_bot(request: HttpRequest, conversation_id: DbId) -> Any:
    conversation = access_conversation(api_user(request), conversation_id)
    run = (BotRun.objects.select_related("flow", "version").filter(conversation=conversation)
           .order_by("-started_at", "-pk").first())
    if run is None:
        raise NotFoundError("no_bot_run", _("El bot no ha hablado en esta conversación."))
    return {**actions.run_summary(run), "open": run.state in OPEN_STATES}
