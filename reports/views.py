"""Report pages: thin adapters over the selectors in reports/leadflow.py."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError
from core.permissions import perm_required
from reports.api import leadflow_payload
from reports.leadflow import MAX_DAYS, check_leadflow_filters, lead_flow_report, leadflow_operators


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ActionError("invalid_date", _("Fecha inválida: use AAAA-MM-DD.")) from exc


def _chart_labels() -> dict[str, str]:
    """Series names and axis titles the browser draws, translated on the server."""
    return {
        "calls": _("Llamadas"), "unique_leads": _("Leads contactados"), "closed": _("Leads cerrados"),
        "speed_mean": _("Promedio"), "speed_median": _("Mediana"), "minutes": _("Minutos"),
        "operators": _("Operador"), "hour": _("Hora del día"),
    }


@perm_required(Perm.REPORTS_VIEW)
def leadflow(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    error = ""
    try:
        filters = check_leadflow_filters(user, start=_date(request.GET.get("start")),
                                         end=_date(request.GET.get("end")),
                                         operator=request.GET.get("operator") or None)
    except ActionError as exc:
        error = exc.message
        filters = check_leadflow_filters(user, start=None, end=None, operator=None)
    report = lead_flow_report(filters=filters)
    see_all = user.has_perm_code(Perm.REPORTS_VIEW_ALL)
    query = {"start": report.start.isoformat(), "end": report.end.isoformat()}
    if see_all and report.operator:
        query["operator"] = report.operator
    api_url = reverse("api:reports_lead_flow")
    context: dict[str, Any] = {
        "report": report, "payload": leadflow_payload(report), "error": error, "see_all": see_all,
        "max_days": MAX_DAYS, "chart_labels": _chart_labels(),
        "operators": leadflow_operators() if see_all else [],
        "json_url": f"{api_url}?{urlencode(query)}",
        "csv_urls": {table: f"{api_url}?{urlencode({**query, 'format': 'csv', 'table': table})}"
                     for table in ("by_operator", "by_hour", "outcomes")},
    }
    template = "reports/_leadflow_results.html" if request.htmx else "reports/leadflow.html"  # type: ignore[attr-defined]
    return render(request, template, context)
