"""/api/v1/reports/…: the same JSON the report pages draw their charts from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict
from datetime import date, datetime
from typing import Any, Literal, get_args

from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from accounts.roles import Perm
from core.api import MAX_PAGE, DbId, ErrorOut, IsoDate, QuerySchema, api_require
from core.errors import ActionError
from core.exports import Column, CsvOptions, csv_response, streaming_csv_response
from reports.assignment_health import assignment_health
from reports.dashboard import (
    CHARTS,
    DashboardFilters,
    charts_for,
    check_dashboard_filters,
    for_role,
    hidden_kpis,
)
from reports.dashboard import dashboard as build
from reports.drilldown import check_drill_point, drill_page
from reports.exports import (
    CHART_COLUMNS,
    CONVERSATION_COLUMNS,
    LEADFLOW_COLUMNS,
    SALE_COLUMNS,
    aconversation_rows,
    asale_rows,
    conversation_rows,
    sale_rows,
    with_agent_uuids,
)
from reports.leadflow import LeadFlowReport, check_leadflow_filters, lead_flow_report

router = Router(tags=["reports"])

LeadFlowTable = Literal["by_operator", "by_hour", "outcomes", "speed_to_lead"]
Chart = Literal["agent_volume", "agent_response_times", "sales_conversations", "revenue_by_agent", "customer_states",
                "retention", "daily_activity", "sales_by_channel", "sla_compliance", "sla_breaches", "kpis"]
if set(get_args(Chart)) != set(CHARTS):  # one list of charts: reports.dashboard.CHARTS
    raise ImproperlyConfigured("reports.api.Chart must list reports.dashboard.CHARTS")
WINDOW_DOC = ("The window: `start` ≤ `end` (400 `invalid_window`), at most {days} days (400 `window_too_long`); an "
              "omitted end is taken from today in TIME_ZONE.")


EXPORT_DOC = ("CSV choices (docs/reports.md, Exportaciones): `dialect=csv` (comma, decimal point; default) or `excel` "
              "(semicolon, decimal comma); `headers=label` (column names and coded values in the caller's language; "
              "default) or `name` (machine names and codes); `durations=hms` (H:MM:SS; default) or `seconds`. "
              "UTF-8 with BOM, header row, CRLF; datetimes in TIME_ZONE as YYYY-MM-DD HH:MM:SS; identifiers are "
              "UUIDs, never database ids. An unknown choice is 400 `invalid_request`.")


REVENUE_DOC = 'Sum of the sold lines, a decimal string with two decimals (e.g. "828800.00")'


class LeadFlowTotals(Schema):
    calls: int = Field(..., description="Notes created in the window (every note is one registered call)")
    unique_leads: int = Field(..., description="Distinct leads with at least one note in the window")
    closed: int = Field(..., description="Leads whose closed_at falls in the window")
    sales: int = Field(..., description="Orders confirmed on the call screen in the window, not cancelled")
    revenue: str = Field(..., description=REVENUE_DOC)


class LeadFlowOperator(Schema):
    operator: str = Field(..., description="username")
    operator_name: str = Field(..., description="full name, or the username when empty")
    calls: int = Field(..., description="Notes this operator wrote in the window")
    unique_leads: int = Field(..., description="Distinct leads this operator noted in the window")
    closed: int = Field(..., description="Leads this operator closed in the window (closed_by)")
    positivo: int
    negativo: int
    parcial: int
    no_clasificado: int
    speed_to_lead_mean_seconds: float | None = Field(
        ..., description="Mean seconds from queue arrival to the lead's first note, over the first notes this "
                         "operator wrote in the window; null when there are none")
    speed_to_lead_median_seconds: float | None = Field(..., description="Median of the same durations; null "
                                                                        "when there are none")
    speed_to_lead_count: int = Field(..., description="How many first notes the mean and median cover")
    sales: int = Field(..., description="Orders this operator confirmed on the call screen in the window")
    revenue: str = Field(..., description=REVENUE_DOC)


class LeadFlowHour(Schema):
    hour: int = Field(..., ge=0, le=23, description="Hour of day in `time_zone` (always 24 rows, 0–23)")
    calls: int
    sales: int = Field(..., description="Call-screen orders confirmed in that hour")
    revenue: str = Field(..., description=REVENUE_DOC)


class LeadFlowOutcome(Schema):
    outcome: str = Field(..., description="positivo | negativo | parcial | no_clasificado (always 4 rows)")
    label: str = Field(..., description="The outcome's name in the caller's language")
    calls: int


class LeadFlowOut(Schema):
    start: date = Field(..., description="First day of the window (inclusive)")
    end: date = Field(..., description="Last day of the window (inclusive)")
    time_zone: str = Field(..., description="Zone in which days and hours are counted (settings.TIME_ZONE)")
    operator: str | None = Field(..., description="The operator the numbers are limited to (always the caller "
                                                  "for users without reports.view_all), or null for everyone")
    totals: LeadFlowTotals
    by_operator: list[LeadFlowOperator]
    by_hour: list[LeadFlowHour]
    outcomes: list[LeadFlowOutcome]


if set(LEADFLOW_COLUMNS) != set(get_args(LeadFlowTable)):  # one list of tables: reports.exports
    raise ImproperlyConfigured("reports.api.LeadFlowTable must list reports.exports.LEADFLOW_COLUMNS")


def leadflow_payload(report: LeadFlowReport) -> dict[str, Any]:
    """The report as the API serves it; the page embeds exactly this for its charts."""
    data = asdict(report)
    data["start"], data["end"] = report.start.isoformat(), report.end.isoformat()
    for row in [data["totals"], *data["by_operator"], *data["by_hour"]]:
        row["revenue"] = f"{row['revenue']:.2f}"
    return data


def leadflow_csv(report: LeadFlowReport, table: str, options: CsvOptions) -> HttpResponse:
    rows = [asdict(r) for r in getattr(report, "by_operator" if table == "speed_to_lead" else table)]
    if table == "speed_to_lead":
        rows = [r for r in rows if r["speed_to_lead_count"]]
    return csv_response(rows=rows, columns=LEADFLOW_COLUMNS[table], options=options,
                        filename=f"flujo-de-leads-{table}-{report.start}-{report.end}.csv")


_CSV_OPENAPI = {"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}}


class LeadFlowQuery(QuerySchema):
    start: IsoDate | None = Field(None, description="YYYY-MM-DD, inclusive; default: end − 29 days")
    end: IsoDate | None = Field(None, description="YYYY-MM-DD, inclusive; default: today in TIME_ZONE")
    operator: str = Field("", max_length=150, description="username (400 `unknown_operator`); ignored for users "
                                                          "without reports.view_all")
    format: Literal["json", "csv"] = "json"
    dialect: Literal["csv", "excel"] = "csv"
    headers: Literal["label", "name"] = "label"
    durations: Literal["hms", "seconds"] = "hms"
    table: LeadFlowTable | None = Field(None, description="with format=csv: the table to export (required: 400 "
                                                          "`missing_table`)")


@router.get(
    "/reports/lead-flow", response=LeadFlowOut, url_name="reports_lead_flow",
    summary="Lead-flow report: calls, contacted and closed leads, outcomes, by hour, speed-to-lead",
    description="Definitions: docs/reports.md. Users without `reports.view_all` always get their own numbers, "
                "whatever `operator` says. `format=csv&table=…` returns one table as CSV. " + EXPORT_DOC + " "
                + WINDOW_DOC.format(days=366),
    openapi_extra=_CSV_OPENAPI,
)
def lead_flow(request: HttpRequest, query: Query[LeadFlowQuery]) -> Any:
    user = api_require(request, Perm.REPORTS_VIEW)
    filters = check_leadflow_filters(user, start=query.start, end=query.end, operator=query.operator or None)
    if query.format == "csv" and query.table is None:
        raise ActionError("missing_table", _("Indique la tabla a exportar: by_operator, by_hour, outcomes o "
                                             "speed_to_lead."),
                          field="table")
    report = lead_flow_report(filters=filters)
    if query.table is not None and query.format == "csv":
        return leadflow_csv(report, query.table, CsvOptions(query.dialect, query.headers, query.durations))
    return leadflow_payload(report)


# --- the performance dashboard ----------------------------------------------------------------------------------


class AgentVolumeRow(Schema):
    agent_id: int
    agent_name: str
    conversations: int = Field(..., description="Conversations in the window assigned to the agent")
    successful: int = Field(..., description="Those with outcome genero_venta or resuelta")
    success_rate: float | None = Field(..., description="successful / conversations (0–1)")


class AgentResponseRow(Schema):
    agent_id: int
    agent_name: str
    avg_first_response_seconds: float | None = Field(..., description="Mean over the conversations where known")
    avg_resolution_seconds: float | None = Field(..., description="Mean over the conversations where known")


class SalesConversations(Schema):
    closed: int = Field(..., description="Conversations in the window with a closed_at")
    with_sale: int = Field(..., description="Of those, with at least one sale")
    without_sale: int
    conversion_rate: float | None = Field(..., description="with_sale / closed")


class RevenueRow(Schema):
    agent_id: int
    agent_name: str
    revenue: str = Field(..., description="Sum of the sales' amount, decimal string")


class CustomerStatesRow(Schema):
    bucket: date = Field(..., description="First day of the bucket (may precede `start`)")
    interesado: int
    en_seguimiento: int
    convertido: int
    no_interesado: int


class RetentionRow(Schema):
    month: str = Field(..., description="YYYY-MM")
    active: int
    new: int
    returning: int
    returning_rate: float | None


class ActivityRow(Schema):
    bucket: date
    started: int = Field(..., description="Conversations started in the bucket (and the window)")
    resolved: int = Field(..., description="State resuelta with closed_at in the bucket and the window")


class SalesByChannelRow(Schema):
    bucket: date = Field(..., description="Bucket of the conversation's start")
    channel: str
    sales: int = Field(..., description="Number of sales rows")


class SlaComplianceRow(Schema):
    bucket: date = Field(..., description="Bucket of the day the first response was decided (met, or fell due)")
    channel: str
    met: int = Field(..., description="First responses in time")
    breached: int = Field(..., description="First responses whose due time passed")
    compliance_rate: float | None = Field(..., description="met / (met + breached)")


class SlaBreachesRow(Schema):
    agent_id: int
    agent_name: str
    first_response: int
    next_response: int
    resolution: int
    escalation: int = Field(..., description="Cases escalated for not being resolved in time after assignment")
    total: int


class Kpis(Schema):
    avg_first_response_seconds: float | None = Field(..., description="Target: under 1 h")
    avg_reply_seconds: float | None = Field(..., description="Customer message → next agent reply; target < 4 h")
    unanswered_open: int = Field(..., description="Open conversations in the window with no agent response; target 0")
    closed_without_response: int = Field(..., description="Closed with no agent response; target 0")
    avg_resolution_seconds: float | None = Field(..., description="Target: under 48 h")
    resolved_within_48h_rate: float | None = Field(..., description="Share of known resolution times ≤ 48 h")
    sales: int | None = Field(None, description="Sale rows of the window's conversations (roles that see the "
                                                "sales_conversations chart; absent otherwise)")
    revenue: str | None = Field(None, description="Their amount, decimal string (roles that see revenue_by_agent)")
    conversion_rate: float | None = Field(None, description="Closed with a sale / closed (as `sales`)")


class DashboardOut(Schema):
    start: date
    end: date
    granularity: Literal["day", "week", "month"]
    time_zone: str
    agent_volume: list[AgentVolumeRow] | None = None
    agent_response_times: list[AgentResponseRow] | None = None
    sales_conversations: SalesConversations | None = None
    revenue_by_agent: list[RevenueRow] | None = None
    customer_states: list[CustomerStatesRow] | None = None
    retention: list[RetentionRow] | None = None
    daily_activity: list[ActivityRow] | None = None
    sales_by_channel: list[SalesByChannelRow] | None = None
    sla_compliance: list[SlaComplianceRow] | None = None
    sla_breaches: list[SlaBreachesRow] | None = None
    kpis: Kpis | None = None


class DashboardQuery(QuerySchema):
    start: IsoDate | None = Field(None, description="YYYY-MM-DD, inclusive; default: today − 29 days")
    end: IsoDate | None = Field(None, description="YYYY-MM-DD, inclusive; default: today (TIME_ZONE)")
    granularity: Literal["day", "week", "month"] = "week"
    team: DbId | None = None
    inbox: DbId | None = None
    channel: str = Field("", max_length=20)
    agent: DbId | None = Field(None, description="user id; forced to the caller without reports.view_all")
    format: Literal["json", "csv"] = "json"
    dialect: Literal["csv", "excel"] = "csv"
    headers: Literal["label", "name"] = "label"
    durations: Literal["hms", "seconds"] = "hms"
    chart: Chart | None = Field(None, description="with format=csv: the chart whose rows to export, one the caller's "
                                                  "role may see (400 `invalid_chart`)")


def dashboard_query(request: HttpRequest, query: DashboardQuery) -> tuple[Any, Any]:
    user = api_require(request, Perm.REPORTS_VIEW)
    return user, check_dashboard_filters(user, start=query.start, end=query.end, granularity=query.granularity,
                                         team=query.team, inbox=query.inbox, channel=query.channel,
                                         agent=query.agent)


@router.get(
    "/reports/dashboard", response=DashboardOut,
    url_name="reports_dashboard",
    summary="The performance dashboard: 8 charts and the KPIs, under the pinned definitions",
    description="Definitions: docs/reports.md (Tablero). A conversation is in the window when it started in it; "
                "sales count in the window of their conversation; the two-year horizon applies to everything. "
                "Each role gets the charts it may see (keys of other charts are absent); users without "
                "`reports.view_all` get their own conversations only. `format=csv&chart=<key>` returns that "
                "chart's rows as CSV (agents by UUID). " + EXPORT_DOC + " " + WINDOW_DOC.format(days=3 * 366),
    openapi_extra=_CSV_OPENAPI,
)
def dashboard(request: HttpRequest, query: Query[DashboardQuery]) -> Any:
    user, filters = dashboard_query(request, query)
    allowed = charts_for(user)
    if query.format == "csv":
        if query.chart not in allowed or query.chart not in CHARTS:
            raise ActionError("invalid_chart", _("Indique un gráfico: %s.") % ", ".join(sorted(allowed)),
                              field="chart")
        data = for_role(build(filters, charts=[query.chart]), allowed)[query.chart]
        rows = with_agent_uuids([data] if isinstance(data, dict) else data)
        hidden = hidden_kpis(allowed)
        return csv_response(rows=rows, columns=[c for c in CHART_COLUMNS[query.chart] if c.name not in hidden],
                            options=CsvOptions(query.dialect, query.headers, query.durations),
                            filename=f"{query.chart}_{filters.start}_{filters.end}.csv")
    # Served as built (not through the schema): a role's hidden charts are absent keys, while a null inside a
    # chart (a rate with no denominator) must stay null. DashboardOut documents the shape.
    return JsonResponse(for_role(build(filters, charts=allowed), allowed))


# --- drill-down and the per-conversation export -----------------------------------------------------------------


class FiltersQuery(QuerySchema):
    start: IsoDate | None = Field(None, description="YYYY-MM-DD, inclusive; default: today − 29 days")
    end: IsoDate | None = Field(None, description="YYYY-MM-DD, inclusive; default: today (TIME_ZONE)")
    team: DbId | None = None
    inbox: DbId | None = None
    channel: str = Field("", max_length=20, description="a conversation channel (whatsapp, email, …)")
    agent: DbId | None = Field(None, description="user id; forced to the caller without reports.view_all")


class DrillQuery(FiltersQuery):
    granularity: Literal["day", "week", "month"] = "week"
    chart: Chart = Field(..., description="One the caller's role may see (400 `invalid_chart`)")
    series: str = Field("", max_length=50, description="the point's series (default: the chart's first; 400 "
                                                       "`invalid_series`); see docs/reports.md")
    bucket: IsoDate | None = Field(None, description="first day of the point's bucket (retention: of the month); "
                                                     "required for the charts over time (400 `missing_bucket`, "
                                                     "`invalid_bucket` outside the window)")
    agent_id: DbId | None = Field(None, description="the point's agent; required for the per-agent charts (400 "
                                                    "`missing_agent`)")
    page: int = Field(1, ge=1, le=MAX_PAGE)


class DrillRow(Schema):
    conversation_id: int
    customer_id: int
    customer_name: str
    agent_id: int | None
    agent_name: str
    channel: str
    state: str
    state_label: str
    outcome: str
    outcome_label: str
    started_at: datetime
    closed_at: datetime | None
    sales: int = Field(..., description="Sale rows of the conversation")
    revenue: str | None = Field(..., description="Sum of their amounts, decimal string (null for roles that do "
                                                 "not see revenue)")


class DrillOut(Schema):
    chart: str
    series: str
    bucket: date | None
    agent_id: int | None
    count: int = Field(..., description="Conversations behind the point (customers, for customer_states and "
                                        "retention: one conversation each)")
    page: int
    pages: int
    page_size: int
    next: str | None
    previous: str | None
    results: list[DrillRow]


def _filters(request: HttpRequest, query: FiltersQuery, perm: Perm, granularity: str = "week") -> tuple[Any, Any]:
    user = api_require(request, perm)
    return user, check_dashboard_filters(user, start=query.start, end=query.end, granularity=granularity,
                                         team=query.team, inbox=query.inbox, channel=query.channel,
                                         agent=query.agent)


@router.get(
    "/reports/dashboard/conversations", response=DrillOut,
    url_name="reports_dashboard_conversations",
    summary="The conversations behind one point of a dashboard chart (50 per page, most recent first)",
    description="Same filters as /reports/dashboard, plus the point: `chart`, `series`, `bucket` (charts over "
                "time), `agent_id` (per-agent charts); for sales_by_channel the point's channel is `channel`. "
                "Rows follow exactly the chart's definition, so `count` is the number on the chart (sales_by_channel"
                ": the sum of the rows' `sales`). Users without `reports.view_all` only get their own conversations.",
)
def dashboard_conversations(request: HttpRequest, query: Query[DrillQuery]) -> Any:
    user, filters = _filters(request, query, Perm.REPORTS_VIEW, query.granularity)
    point = check_drill_point(filters, charts_for(user), chart=query.chart, series=query.series,
                              bucket=query.bucket, agent_id=query.agent_id)
    body = drill_page(filters, point, page=query.page, revenue="revenue_by_agent" in charts_for(user))

    def link(n: int) -> str:
        params = request.GET.copy()
        params["page"] = str(n)
        return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")

    body["next"] = link(query.page + 1) if query.page < body["pages"] else None
    body["previous"] = link(query.page - 1) if query.page > 1 else None
    return body


class ExportQuery(FiltersQuery):
    dialect: Literal["csv", "excel"] = "csv"
    headers: Literal["label", "name"] = "label"
    durations: Literal["hms", "seconds"] = "hms"


@router.get(
    "/reports/conversations.csv", response={403: ErrorOut},
    url_name="reports_conversations_csv",
    summary="Every conversation of the window, one row each (CSV, streamed)",
    description="Permission `reports.export`. The conversations that started in the window (the dashboard's "
                "filters), in id order, with seed 002's fields (conversation_id, customer_id, customer_name, "
                "started_at, closed_at, state, channel, agent_id, agent_name, first_response_seconds, "
                "resolution_seconds, outcome, customer_state, agent_comments) plus team, inbox, avg_reply_seconds, "
                "sales and revenue. Streamed in chunks, so any size downloads in bounded memory. " + EXPORT_DOC,
    openapi_extra=_CSV_OPENAPI,
)
def conversations_csv(request: HttpRequest, query: Query[ExportQuery]) -> Any:
    return _stream(request, query, columns=CONVERSATION_COLUMNS, rows=conversation_rows, arows=aconversation_rows,
                   name="conversaciones")


@router.get(
    "/reports/sales.csv", response={403: ErrorOut},
    url_name="reports_sales_csv",
    summary="Every sale of the window's conversations, one row per sold line (CSV, streamed)",
    description="Permission `reports.export`. The sales the dashboard counts for the same filters (those of the "
                "conversations that started in the window), with seed 002's fields (sale_id, product_id, "
                "product_name, conversation_id, quantity, unit_price, amount) plus product_sku, channel, agent_id, "
                "agent_name and sold_at. " + EXPORT_DOC,
    openapi_extra=_CSV_OPENAPI,
)
def sales_csv(request: HttpRequest, query: Query[ExportQuery]) -> Any:
    return _stream(request, query, columns=SALE_COLUMNS, rows=sale_rows, arows=asale_rows, name="ventas")


def _stream(request: HttpRequest, query: ExportQuery, *, columns: list[Column],
            rows: Callable[[DashboardFilters], Iterator[list[Any]]],
            arows: Callable[[DashboardFilters], AsyncIterator[list[Any]]], name: str) -> Any:
    _user, filters = _filters(request, query, Perm.REPORTS_EXPORT)
    return streaming_csv_response(
        columns=columns, rows=rows(filters), arows=arows(filters) if isinstance(request, ASGIRequest) else None,
        options=CsvOptions(query.dialect, query.headers, query.durations),
        filename=f"{name}_{filters.start}_{filters.end}.csv")


# --- assignment health (administrators) --------------------------------------------------------------------------


class AgentLoadOut(Schema):
    agent_id: int
    name: str
    availability: str = Field(..., description="The availability's label in the caller's language")
    open: int = Field(..., description="Open live conversations assigned to the agent now")
    capacity: int
    use: float | None = Field(..., description="open / capacity (above 1 when conversations were given by hand)")


class ReturnedFromOut(Schema):
    agent_id: int
    name: str
    returns: int


class AssignmentHealthOut(Schema):
    start: date
    end: date
    unassigned_open: int = Field(..., description="Open live conversations without an owner now")
    oldest_unassigned_seconds: float | None = Field(..., description="How long the oldest of them has existed")
    started: int = Field(..., description="Live conversations started in the window (calls excluded)")
    time_to_owner_mean_seconds: float | None = Field(..., description="Start → first owner, over those that got one")
    time_to_owner_median_seconds: float | None
    never_owned: int = Field(..., description="Started in the window and never given an owner")
    returns_to_pool: int = Field(..., description="Taken back from their agent by the pool job in the window")
    returns_by_agent: list[ReturnedFromOut]
    agents_without_inbox: list[str] = Field(..., description="People who may work the inbox but belong to no "
                                                             "team of any inbox (nothing can be assigned to them)")
    capacity: list[AgentLoadOut]
    capacity_use: float | None = Field(..., description="Open / capacity over the agents in service")


class WindowQuery(QuerySchema):
    start: IsoDate | None = Field(None, description="YYYY-MM-DD, inclusive; default: today − 29 days")
    end: IsoDate | None = Field(None, description="YYYY-MM-DD, inclusive; default: today (TIME_ZONE)")


@router.get(
    "/reports/assignment-health", response=AssignmentHealthOut, url_name="reports_assignment_health",
    summary="Assignment health: unassigned work, time to an owner, returns to pool, agents without an inbox, "
            "capacity use (live work only)",
    description="Permission `system.status` (administrators and managers). Definitions: docs/reports.md. "
                + WINDOW_DOC.format(days=3 * 366),
)
def assignment_health_api(request: HttpRequest, query: Query[WindowQuery]) -> Any:
    user = api_require(request, Perm.SYSTEM_STATUS)
    filters = check_dashboard_filters(user, start=query.start, end=query.end)
    return asdict(assignment_health(start=filters.start, end=filters.end))
