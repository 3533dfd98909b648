"""/api/v1/campaigns…: list, create, read, edit a draft, launch, pause, resume, cancel, and the recipients with their
results. The same actions as the campaign pages: the handlers parse, call one action and serialize."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja import Field, Query, Router, Schema, Status
from pydantic import Strict

from accounts.roles import Perm
from campaigns import actions, stats
from campaigns import audience as audiences
from campaigns.actions import CampaignInput
from campaigns.choices import CampaignChannel, CampaignState, Objective, RecipientState, ScheduleMode
from campaigns.models import Campaign
from core.api import END, DbId, ErrorOut, InputSchema, IsoDateTime, QuerySchema, api_require, api_user, explained
from core.errors import ActionError
from customers.api import HourMinute

router = Router(tags=["campaigns"])
PAGE_MAX: Final = 200
COST_PATTERN: Final = explained(r"^([0-9]{1,6}([.,][0-9]{1,4})?)?" + END,
                                gettext_lazy("Costo inválido: hasta 6 cifras y 4 decimales, sin signo."))
Code = Annotated[str, Field(min_length=1, max_length=50)]


class AudienceIn(InputSchema):
    segments: list[Code] = Field(default_factory=list, max_length=50, description="Segment codes")
    tags: list[DbId] = Field(default_factory=list, max_length=50, description="Tag ids")
    lists: list[Code] = Field(default_factory=list, max_length=50, description="Marketing-list codes")
    lead_states: list[Literal["ninguno", "en_proceso", "completado"]] = Field(
        default_factory=list, max_length=3)


class VariableIn(InputSchema):
    source: Literal["field", "text"]
    value: str = Field(max_length=1024)


class CampaignIn(InputSchema):
    """A draft's fields; on PATCH, absent fields keep their value."""

    name: str | None = Field(None, max_length=150)
    objective: Annotated[Objective, Strict(False)] | None = None
    channel: Annotated[CampaignChannel, Strict(False)] | None = None
    audience: AudienceIn | None = None
    wa_number: DbId | None = Field(None, description="WhatsApp number id (channel whatsapp)")
    wa_template: DbId | None = Field(None, description="Approved template id of that number's account")
    wa_variables: dict[Annotated[str, Field(max_length=40)], VariableIn] | None = Field(
        None, description='Each template variable: {"source": "field", "value": "nombre"} or {"source": "text", …}')
    wa_header_image: str | None = Field(None, max_length=200)
    mailbox: DbId | None = Field(None, description="Sending mailbox id (channel email)")
    sms_account: DbId | None = Field(None, description="SMS account id (channel sms)")
    subject: str | None = Field(None, max_length=200)
    preheader: str | None = Field(None, max_length=200)
    body: str | None = Field(None, max_length=4000, description="Email: Markdown; SMS: text; {{variables}} allowed")
    image_url: str | None = Field(None, max_length=200)
    button_label: str | None = Field(None, max_length=60)
    link_url: str | None = Field(None, max_length=200)
    schedule_mode: Annotated[ScheduleMode, Strict(False)] | None = None
    starts_at: IsoDateTime | None = None
    window_start: HourMinute | None = Field(None, description='"HH:MM", the allowed hours\' start (schedule `local`)')
    window_end: HourMinute | None = Field(None, description='"HH:MM", the allowed hours\' end')
    rate_per_second: int | None = Field(None, ge=1, le=1000)
    conversion_days: int | None = Field(None, ge=1, le=90)
    cost_per_message: Annotated[str, Field(pattern=COST_PATTERN)] | int | None = Field(
        None, description='Decimal string with at most 4 decimals, comma or point ("35.5"), or an integer; "" (PATCH) '
                          'goes back to the channel\'s cost. Never a float.')


class CampaignOut(Schema):
    id: int
    name: str
    objective: str
    channel: str
    state: str
    state_label: str
    audience: dict[str, Any]
    audience_text: str
    schedule_mode: str
    starts_at: datetime | None
    launched_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    results: dict[str, Any]
    note: str


class CampaignPageOut(Schema):
    results: list[CampaignOut]


class RecipientOut(Schema):
    id: int
    customer: int
    customer_name: str
    address: str
    state: str
    skip_reason: str
    error: str
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None
    clicked_at: datetime | None
    clicks: int
    replied_at: datetime | None
    converted_at: datetime | None
    order: int | None
    revenue: Decimal
    cost: Decimal
    unsubscribed_at: datetime | None


class RecipientPageOut(Schema):
    results: list[RecipientOut]
    next_cursor: str


class CampaignListQuery(QuerySchema):
    state: Annotated[CampaignState, Strict(False)] | None = None
    channel: Annotated[CampaignChannel, Strict(False)] | None = None
    limit: int = Field(50, ge=1, le=PAGE_MAX)


class RecipientQuery(QuerySchema):
    state: Literal[*RecipientState.values, "clicked", "replied", "converted", "unsubscribed", ""] = ""  # type: ignore[valid-type]
    cursor: str = Field("", max_length=500)
    limit: int = Field(50, ge=1, le=PAGE_MAX)


def _out(c: Campaign, summary: stats.Summary | None = None, audience_text: str | None = None) -> dict[str, Any]:
    return {"id": c.pk, "name": c.name, "objective": c.objective, "channel": c.channel, "state": c.state,
            "state_label": str(c.get_state_display()), "audience": c.audience,
            "audience_text": audiences.describe(c.audience) if audience_text is None else audience_text,
            "schedule_mode": c.schedule_mode,
            "starts_at": c.starts_at, "launched_at": c.launched_at, "started_at": c.started_at,
            "finished_at": c.finished_at, "created_at": c.created_at,
            "results": (summary or stats.summary(c)).as_dict(), "note": c.sender_note}


def _input(payload: CampaignIn) -> CampaignInput:
    data = payload.dict(exclude_unset=True)
    renames = {"wa_number": "wa_number_id", "wa_template": "wa_template_id", "mailbox": "mailbox_id",
               "sms_account": "sms_account_id"}
    values = {renames.get(k, k): v for k, v in data.items() if v is not None}
    for key in ("objective", "channel", "schedule_mode"):
        if key in values:
            values[key] = str(getattr(values[key], "value", values[key]))
    if isinstance(values.get("cost_per_message"), int):
        values["cost_per_message"] = str(values["cost_per_message"])
    for key in ("window_start", "window_end"):
        if key in values:
            values[key] = time.fromisoformat(values[key])
    return CampaignInput(**values)


@router.get("/campaigns", response=CampaignPageOut, summary="Campaigns, newest first, with their results")
def list_campaigns(request: HttpRequest, query: Query[CampaignListQuery]) -> Any:
    api_require(request, Perm.CAMPAIGNS_VIEW)
    qs = Campaign.objects.all()
    if query.state:
        qs = qs.filter(state=query.state)
    if query.channel:
        qs = qs.filter(channel=query.channel)
    rows = list(qs[:query.limit])
    sums = stats.summaries(c.pk for c in rows)
    sentences = audiences.describe_many([c.audience or {} for c in rows])
    return {"results": [_out(c, sums[c.pk], text) for c, text in zip(rows, sentences, strict=True)]}


@router.post("/campaigns", response={201: CampaignOut},
             summary="Create a draft campaign (400 `invalid_campaign` with `errors` per field)",
             description="Needs `campaigns.manage`. Launch it with POST /campaigns/{id}/launch.")
def create_campaign(request: HttpRequest, payload: CampaignIn) -> Any:
    campaign = actions.check_save_campaign(api_user(request), None, _input(payload))
    return Status(201, _out(campaign))


@router.get("/campaigns/{campaign_id}", response={200: CampaignOut, 404: ErrorOut},
            summary="A campaign and its results (404 `campaign_not_found`)")
def get_campaign(request: HttpRequest, campaign_id: DbId) -> Any:
    return _out(actions.access_campaign(api_user(request), campaign_id))


@router.patch("/campaigns/{campaign_id}", response={200: CampaignOut, 404: ErrorOut, 409: ErrorOut},
              summary="Edit a draft; absent fields keep their value (409 `campaign_not_editable` once launched)")
def update_campaign(request: HttpRequest, campaign_id: DbId, payload: CampaignIn) -> Any:
    return _out(actions.check_save_campaign(api_user(request), campaign_id, _input(payload)))


@router.post("/campaigns/{campaign_id}/launch", response={200: CampaignOut, 404: ErrorOut, 409: ErrorOut},
             summary="Launch a draft: its audience is stored and sending starts now or at its time (400 "
                     "`campaign_incomplete` with `errors`, `empty_audience`; 409 `campaign_not_draft`)")
def launch_campaign(request: HttpRequest, campaign_id: DbId) -> Any:
    return _out(actions.check_launch(api_user(request), campaign_id))


@router.post("/campaigns/{campaign_id}/pause", response={200: CampaignOut, 404: ErrorOut, 409: ErrorOut},
             summary="Pause a sending campaign (409 `invalid_transition`)")
def pause_campaign(request: HttpRequest, campaign_id: DbId) -> Any:
    return _out(actions.check_pause(api_user(request), campaign_id))


@router.post("/campaigns/{campaign_id}/resume", response={200: CampaignOut, 404: ErrorOut, 409: ErrorOut},
             summary="Resume a paused campaign (409 `invalid_transition`)")
def resume_campaign(request: HttpRequest, campaign_id: DbId) -> Any:
    return _out(actions.check_resume(api_user(request), campaign_id))


@router.post("/campaigns/{campaign_id}/cancel", response={200: CampaignOut, 404: ErrorOut, 409: ErrorOut},
             summary="Cancel a campaign: what was sent stays sent, nobody else receives it (409 "
                     "`invalid_transition`)")
def cancel_campaign(request: HttpRequest, campaign_id: DbId) -> Any:
    return _out(actions.check_cancel(api_user(request), campaign_id))


@router.get("/campaigns/{campaign_id}/recipients", response={200: RecipientPageOut, 404: ErrorOut},
            summary="A campaign's recipients and their results, by id (keyset `cursor`; 400 `invalid_cursor`)",
            description="`state` filters by delivery state, or `clicked`, `replied`, `converted`, `unsubscribed`.")
def list_recipients(request: HttpRequest, campaign_id: DbId, query: Query[RecipientQuery]) -> Any:
    campaign = actions.access_campaign(api_user(request), campaign_id)
    try:
        rows, cursor = stats.recipients(campaign, state=query.state, cursor=query.cursor, limit=query.limit)
    except ValueError:
        raise ActionError("invalid_cursor", _("El cursor no es válido; pida la primera página de nuevo."),
                          field="cursor") from None
    return {"results": [{
        "id": r.pk, "customer": r.customer_id, "customer_name": r.customer.name, "address": r.address,
        "state": r.state, "skip_reason": r.skip_reason, "error": r.error, "sent_at": r.sent_at,
        "delivered_at": r.delivered_at, "read_at": r.read_at, "failed_at": r.failed_at, "clicked_at": r.clicked_at,
        "clicks": r.clicks, "replied_at": r.replied_at, "converted_at": r.converted_at, "order": r.order_id,
        "revenue": r.revenue, "cost": r.cost, "unsubscribed_at": r.unsubscribed_at} for r in rows],
        "next_cursor": cursor}
