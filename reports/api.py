"""/api/v1/reports/…: the same JSON the report pages draw their charts from."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from accounts.roles import Perm
from core.api import ErrorOut, api_require
from core.errors import ActionError
from reports.exports import csv_response
from reports.leadflow import LeadFlowReport, check_leadflow_filters, lead_flow_report

router = Router(tags=["reports"])

LeadFlowTable = Literal["by_operator", "by_hour", "outcomes"]


class LeadFlowTotals(Schema):
    calls: int = Field(..., description="Notes created in the window (every note is one registered call)")
    unique_leads: int = Field(..., description="Distinct leads with at least one note in the window")
    closed: int = Field(..., description="Leads whose closed_at falls in the window")


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


class LeadFlowHour(Schema):
    hour: int = Field(..., ge=0, le=23, description="Hour of day in `time_zone` (always 24 rows, 0–23)")
    calls: int


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


LEADFLOW_CSV_COLUMNS: dict[str, list[str]] = {
    "by_operator": list(LeadFlowOperator.model_fields),
    "by_hour": list(LeadFlowHour.model_fields),
    "outcomes": list(LeadFlowOutcome.model_fields),
}


def leadflow_payload(report: LeadFlowReport) -> dict[str, Any]:
    """The report as the API serves it; the page embeds exactly this for its charts."""
    data = asdict(report)
    data["start"], data["end"] = report.start.isoformat(), report.end.isoformat()
    return data


def leadflow_csv(report: LeadFlowReport, table: str) -> HttpResponse:
    return csv_response(rows=leadflow_payload(report)[table], columns=LEADFLOW_CSV_COLUMNS[table],
                        filename=f"flujo-de-leads-{table}-{report.start}-{report.end}.csv")


_CSV_OPENAPI = {"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}}


class LeadFlowQuery(Schema):
    start: date | None = Field(None, description="YYYY-MM-DD, inclusive; default: end − 29 days")
    end: date | None = Field(None, description="YYYY-MM-DD, inclusive; default: today in TIME_ZONE")
    operator: str = Field("", description="username; ignored for users without reports.view_all")
    format: Literal["json", "csv"] = "json"
    table: LeadFlowTable | None = Field(None, description="with format=csv: the table to export")


@router.get(
    "/reports/lead-flow", response={200: LeadFlowOut, 400: ErrorOut, 403: ErrorOut}, url_name="reports_lead_flow",
    summary="Lead-flow report: calls, contacted and closed leads, outcomes, by hour, speed-to-lead",
    description="Definitions: docs/reports.md. Users without `reports.view_all` always get their own numbers, "
                "whatever `operator` says. `format=csv&table=…` returns one table as CSV (UTF-8 with BOM, "
                "comma-separated, header row).",
    openapi_extra=_CSV_OPENAPI,
)
def lead_flow(request: HttpRequest, query: Query[LeadFlowQuery]) -> Any:
    user = api_require(request, Perm.REPORTS_VIEW)
    filters = check_leadflow_filters(user, start=query.start, end=query.end, operator=query.operator or None)
    if query.format == "csv" and query.table is None:
        raise ActionError("missing_table", _("Indique la tabla a exportar: by_operator, by_hour u outcomes."),
                          field="table")
    report = lead_flow_report(filters=filters)
    if query.table is not None and query.format == "csv":
        return leadflow_csv(report, query.table)
    return leadflow_payload(report)
