"""Report pages: thin adapters over the selectors (reports/leadflow.py, reports/dashboard.py) and the import
actions (reports/actions.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Team, User
from accounts.roles import Perm
from campaigns.choices import CampaignChannel
from core.errors import ActionError
from core.exports import CsvOptions, csv_response
from core.money import money_spec
from core.permissions import perm_required
from inbox.models import Inbox
from reports.actions import do_start_history_import
from reports.api import leadflow_payload
from reports.assignment_health import assignment_health
from reports.bots import bot_report
from reports.bots import csv_columns as bot_csv_columns
from reports.bots import csv_rows as bot_csv_rows
from reports.campaigns import campaign_report
from reports.campaigns import csv_columns as campaign_csv_columns
from reports.campaigns import csv_rows as campaign_csv_rows
from reports.campaigns import window as campaign_window
from reports.dashboard import DashboardFilters, charts_for, check_dashboard_filters, hidden_kpis
from reports.dashboard_ui import (
    CHART_INFO,
    GRANULARITY_LABELS,
    IMPORT_STAGES,
    KPIS_BY_KEY,
    channel_labels,
    dashboard_agents,
    dashboard_channels,
    import_columns,
    page_config,
    role_view,
)
from reports.importer import CONVERSATION_ALIASES, CONVERSATION_REQUIRED, SALE_ALIASES, SALE_REQUIRED
from reports.leadflow import MAX_DAYS, check_leadflow_filters, lead_flow_report, leadflow_operators
from reports.models import ImportJob


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ActionError("invalid_date", _("Fecha inválida: use AAAA-MM-DD.")) from exc


def _chart_labels() -> dict[str, Any]:
    """Series names and axis titles the browser draws, translated on the server."""
    return {
        "calls": _("Llamadas"), "unique_leads": _("Leads contactados"), "closed": _("Leads cerrados"),
        "speed_mean": _("Promedio"), "speed_median": _("Mediana"), "minutes": _("Minutos"), "hours_unit": _("Horas"),
        "days": _("Días"),
        "operators": _("Operador"), "hour": _("Hora del día"), "sales": _("Ventas"), "revenue": _("Ingresos"),
        "money": money_spec(),
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
                     for table in ("by_operator", "by_hour", "outcomes", "speed_to_lead")},
    }
    template = "reports/_leadflow_results.html" if request.htmx else "reports/leadflow.html"  # type: ignore[attr-defined]
    return render(request, template, context)


def _window_report(request: HttpRequest, *, build: Callable[[date, date], Any], rows: Callable[[Any], Any],
                   columns: list[Any], name: str, template: str, url: str,
                   context: Callable[[Any], dict[str, Any]]) -> HttpResponse:
    """A report over a window of days (the last 90 by default) with its CSV: the campaigns' and the bot's."""
    error = ""
    try:
        start, end = campaign_window(_date(request.GET.get("start")), _date(request.GET.get("end")))
    except ActionError as exc:
        error = exc.message
        start, end = campaign_window(None, None)
    report = build(start, end)
    if request.GET.get("format") == "csv":
        try:
            options = CsvOptions.from_query(request.GET)
        except ActionError as exc:
            return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
        return csv_response(rows=rows(report), columns=columns, options=options,
                            filename=f"{name}-{start.isoformat()}-{end.isoformat()}.csv")
    query = urlencode({"start": start.isoformat(), "end": end.isoformat()})
    return render(request, template, {"error": error, "start": start, "end": end,
                                      "csv_url": f"{url}?{query}&format=csv", **context(report)})


@perm_required(Perm.CAMPAIGNS_VIEW)
def campaigns_report(request: HttpRequest) -> HttpResponse:
    """Every campaign launched in the window with its results, cost, revenue and ROI; `?format=csv` downloads it."""
    return _window_report(
        request, build=campaign_report, rows=campaign_csv_rows, columns=campaign_csv_columns(), name="campanas",
        template="reports/campaigns.html", url=reverse("reports:campaigns"),
        context=lambda report: {"report": report, "channels": [
            (value, label, report.totals.get(value)) for value, label in CampaignChannel.choices]})


@perm_required(Perm.BOTS_VIEW)
def bots_report(request: HttpRequest) -> HttpResponse:
    """Per flow, the conversations the bot started in the window and how they ended; `?format=csv` downloads it."""
    return _window_report(request, build=bot_report, rows=bot_csv_rows, columns=bot_csv_columns(), name="bot",
                          template="reports/bots.html", url=reverse("reports:bots"),
                          context=lambda rows: {"rows": rows})


# --- the performance dashboard ----------------------------------------------------------------------------------


def _int(value: str | None, field: str) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ActionError("invalid_number", _("Valor inválido en %s.") % field) from exc


def _dashboard_filters(user: User, params: QueryDict) -> tuple[DashboardFilters, str]:
    try:
        return check_dashboard_filters(
            user, start=_date(params.get("start")), end=_date(params.get("end")),
            granularity=params.get("granularity") or role_view(user.role).granularity,
            team=_int(params.get("team"), "team"),
            inbox=_int(params.get("inbox"), "inbox"), channel=params.get("channel") or "",
            agent=_int(params.get("agent"), "agent")), ""
    except ActionError as exc:
        return check_dashboard_filters(user, granularity=role_view(user.role).granularity), exc.message


def _filter_query(f: DashboardFilters, *, see_all: bool) -> dict[str, str]:
    """The filters as URL parameters (what the page puts in its address and its download links)."""
    query = {"start": f.start.isoformat(), "end": f.end.isoformat(), "granularity": f.granularity}
    if see_all:
        query |= {k: str(v) for k, v in (("team", f.team), ("inbox", f.inbox), ("agent", f.agent)) if v}
    if f.channel:
        query["channel"] = f.channel
    return query


@perm_required(Perm.REPORTS_VIEW)
def dashboard(request: HttpRequest) -> HttpResponse:
    """The page and its filters; the browser fetches the numbers from the API (the same JSON, with the session)
    and draws them, so a filter change updates the charts without reloading."""
    user: User = request.user  # type: ignore[assignment]
    filters, error = _dashboard_filters(user, request.GET)
    see_all = user.has_perm_code(Perm.REPORTS_VIEW_ALL)
    allowed = charts_for(user)
    view = role_view(user.role)
    query = _filter_query(filters, see_all=see_all)
    api_url = reverse("api:reports_dashboard")
    export_url = reverse("api:reports_conversations_csv")
    sales_export_url = reverse("api:reports_sales_csv")
    export_query = urlencode({k: v for k, v in query.items() if k != "granularity"})
    channels = channel_labels(dashboard_channels())
    info = {c.key: c for c in CHART_INFO}
    charts = [info[key] for key in view.charts if key in allowed]
    charts += [c for c in CHART_INFO if c.key in allowed and c not in charts]  # any the arrangement left out
    kpi_keys = [k for k in view.kpis if k not in hidden_kpis(allowed)]
    context: dict[str, Any] = {
        "filters": filters, "error": error, "see_all": see_all, "time_zone": settings.TIME_ZONE,
        "charts": [{"info": c, "csv_url": f"{api_url}?{urlencode({**query, 'format': 'csv', 'chart': c.key})}"}
                   for c in charts],
        "kpis": [KPIS_BY_KEY[k] for k in kpi_keys] if "kpis" in allowed else (), "granularities": GRANULARITY_LABELS,
        "view": view,
        "health": assignment_health(start=filters.start, end=filters.end) if view.health else None,
        "channels": sorted(channels.items(), key=lambda kv: kv[1]),
        "teams": Team.objects.order_by("name").values_list("pk", "name") if see_all else [],
        "inboxes": Inbox.objects.order_by("sort", "name").values_list("pk", "name") if see_all else [],
        "agents": dashboard_agents() if see_all else [],
        "can_export": user.has_perm_code(Perm.REPORTS_EXPORT),
        "can_import": user.has_perm_code(Perm.HISTORY_IMPORT),
        "perms_campaigns": user.has_perm_code(Perm.CAMPAIGNS_VIEW),
        "perms_bots": user.has_perm_code(Perm.BOTS_VIEW),
        "export_url": f"{export_url}?{export_query}",
        "sales_export_url": f"{sales_export_url}?{export_query}",
        "json_url": f"{api_url}?{urlencode(query)}",
        "config": page_config(charts=[c.key for c in charts], api=api_url,
                              drill_api=reverse("api:reports_dashboard_conversations"), export_api=export_url,
                              sales_api=sales_export_url,
                              inbox_url=reverse("inbox:detail", kwargs={"conversation_id": 0}), channels=channels),
    }
    return render(request, "reports/dashboard.html", context)


# --- history import -----------------------------------------------------------------------------------------


class HistoryImportForm(forms.Form):
    conversations = forms.FileField(label=gettext_lazy("Conversaciones (CSV)"))
    sales = forms.FileField(label=gettext_lazy("Ventas (CSV, opcional)"), required=False)
    skip_invalid = forms.BooleanField(
        label=gettext_lazy("Omitir las filas inválidas"), required=False,
        help_text=gettext_lazy("Importa las filas correctas y lista las inválidas. Sin marcar, una sola fila inválida "
                     "detiene la importación y no se guarda nada."))


def _import_context(form: HistoryImportForm) -> dict[str, Any]:
    return {"form": form, "jobs": ImportJob.objects.select_related("created_by")[:20],
            "conversation_columns": import_columns(CONVERSATION_ALIASES, CONVERSATION_REQUIRED),
            "sale_columns": import_columns(SALE_ALIASES, SALE_REQUIRED)}


@perm_required(Perm.HISTORY_IMPORT)
def history_import(request: HttpRequest) -> HttpResponse:
    form = HistoryImportForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                job = do_start_history_import(
                    request.user,  # type: ignore[arg-type]
                    conversations=form.cleaned_data["conversations"], sales=form.cleaned_data["sales"],
                    skip_invalid=form.cleaned_data["skip_invalid"])
            except ActionError as exc:
                form.add_error(None, exc.message)
            else:
                return redirect("reports:import_job", job_id=job.pk)
        status = 400
    return render(request, "reports/import.html", _import_context(form), status=status)


@perm_required(Perm.HISTORY_IMPORT)
def import_job(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(ImportJob.objects.select_related("created_by"), pk=job_id)
    template = "reports/_import_job.html" if request.htmx else "reports/import_job.html"  # type: ignore[attr-defined]
    return render(request, template, {"job": job, "stage_label": IMPORT_STAGES.get(job.stage, job.stage)})
