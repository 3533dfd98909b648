"""What the dashboard page shows around the numbers: chart titles and their pinned definitions in words, the KPI
cards' targets (traffic lights) and the texts the browser draws. The numbers themselves are reports.dashboard's.

The definitions here are the short Spanish text shown next to each chart; docs/reports.md ("Tablero") repeats
them word for word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from django.conf import settings
from django.db.models import Q
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import User
from accounts.roles import Role
from core.money import money_spec
from inbox.choices import Channel, CustomerState
from reports.models import DailyAgentStats, DailyStats


@dataclass(frozen=True)
class ChartInfo:
    key: str
    title: str | Promise
    definition: str | Promise
    kind: str | Promise  # how the chart is drawn, for screen readers


CHART_INFO: Final = (
    ChartInfo("agent_volume", gettext_lazy("Rendimiento de los agentes por volumen"), gettext_lazy(
        "Conversaciones que empezaron en el período, por agente asignado, y cuántas tuvieron éxito (resultado "
        "«Generó venta» o «Resuelta»). La tasa de éxito aparece al pasar el cursor. Las conversaciones sin "
        "agente no se muestran."), gettext_lazy("Gráfico de barras verticales")),
    ChartInfo("agent_response_times", gettext_lazy("Tiempos de respuesta promedio por agente"), gettext_lazy(
        "Promedio del tiempo hasta la primera respuesta y del tiempo de resolución de las conversaciones del "
        "agente que empezaron en el período; cada promedio cuenta solo las conversaciones que tienen ese tiempo."),
        gettext_lazy("Gráfico de líneas")),
    ChartInfo("sales_conversations", gettext_lazy("Conversaciones que resultaron en ventas"), gettext_lazy(
        "Conversaciones que empezaron en el período y están cerradas (tienen fecha de cierre, aunque sea "
        "posterior), con al menos una venta y sin venta. Tasa de conversión = con venta ÷ cerradas."),
        gettext_lazy("Gráfico circular")),
    ChartInfo("revenue_by_agent", gettext_lazy("Ingresos generados por agente"), gettext_lazy(
        "Suma de los montos de las ventas de las conversaciones que empezaron en el período, por agente "
        "asignado. Un agente con conversaciones y sin ventas aparece con cero."),
        gettext_lazy("Gráfico de barras horizontales")),
    ChartInfo("customer_states", gettext_lazy("Estados de clientes y leads"), gettext_lazy(
        "Clientes según el estado de su conversación más reciente que tenga estado, iniciada hasta el final de "
        "cada intervalo (o hasta el final del período, si este termina antes)."),
        gettext_lazy("Gráfico de áreas apiladas")),
    ChartInfo("retention", gettext_lazy("Tasa de retención"), gettext_lazy(
        "Por mes: clientes activos (con una conversación iniciada ese mes, dentro del período), nuevos (su "
        "primera conversación de los últimos dos años fue ese mes) y recurrentes (activos que no son nuevos). "
        "El gráfico muestra qué porcentaje de los activos de cada mes fueron recurrentes y qué porcentaje nuevos; "
        "la tabla da también los números."), gettext_lazy("Gráfico de líneas por mes, en porcentaje")),
    ChartInfo("daily_activity", gettext_lazy("Actividad diaria"), gettext_lazy(
        "Conversaciones iniciadas en cada intervalo y conversaciones resueltas (estado «Resuelta») según el día "
        "de su cierre; ambas solo dentro del período."), gettext_lazy("Gráfico de líneas con puntos")),
    ChartInfo("sales_by_channel", gettext_lazy("Distribución de ventas por canal"), gettext_lazy(
        "Número de ventas (filas de venta, no unidades) de las conversaciones iniciadas en cada intervalo, por "
        "el canal de la conversación."), gettext_lazy("Gráfico de barras apiladas")),
    ChartInfo("sla_compliance", gettext_lazy("Cumplimiento del SLA por canal"), gettext_lazy(
        "De las primeras respuestas con plazo que se decidieron en cada intervalo, la parte que llegó a tiempo, "
        "por canal. Una primera respuesta cuenta el día en que llegó a tiempo, o el día en que venció su plazo "
        "(aunque se respondiera después). Los plazos son los de Niveles de servicio."),
        gettext_lazy("Gráfico de líneas por canal, en porcentaje")),
    ChartInfo("sla_breaches", gettext_lazy("Incumplimientos de SLA por agente"), gettext_lazy(
        "Plazos vencidos en el período por el agente que tenía la conversación en ese momento: primera y "
        "siguiente respuesta, resolución, y casos escalados por no resolverse a tiempo tras la asignación. Los "
        "vencidos sin agente asignado no aparecen."), gettext_lazy("Gráfico de barras horizontales apiladas")),
)


@dataclass(frozen=True)
class KpiCard:
    """A traffic light, applied by dashboard.js (`status`): lower-is-better values are green below `ok`, amber
    below `warn`, red otherwise; higher-is-better ones green from `ok`, amber from `warn`; no value is grey
    "Sin datos". `fmt`: duration (seconds), count or rate (0 to 1)."""

    key: str
    label: str | Promise
    target: str | Promise
    definition: str | Promise
    fmt: str
    better: str  # lower | higher | none (a figure without a target: no traffic light)
    ok: float
    warn: float
    drill: str = ""  # series of the "kpis" drill-down listing the conversations behind the number


HOUR: Final = 3600
KPI_CARDS: Final = (
    KpiCard("avg_first_response_seconds", gettext_lazy("Primera respuesta (promedio)"), gettext_lazy("Meta: < 1 h"),
            gettext_lazy("Tiempo promedio hasta la primera respuesta de un agente, en las conversaciones del "
                         "período que la tienen. Ámbar hasta 2 h."), "duration", "lower", HOUR, 2 * HOUR),
    KpiCard("avg_reply_seconds", gettext_lazy("Tiempo de respuesta (promedio)"), gettext_lazy("Meta: < 4 h"),
            gettext_lazy("Promedio del tiempo entre un mensaje del cliente sin responder y la siguiente "
                         "respuesta del agente. Ámbar hasta 8 h."), "duration", "lower", 4 * HOUR, 8 * HOUR),
    KpiCard("unanswered_open", gettext_lazy("Abiertas sin respuesta"), gettext_lazy("Meta: 0"),
            gettext_lazy("Conversaciones del período aún abiertas en las que ningún agente ha respondido. Ámbar "
                         "hasta 5."), "count", "lower", 1, 6, drill="unanswered_open"),
    KpiCard("closed_without_response", gettext_lazy("Cerradas sin respuesta"), gettext_lazy("Meta: 0"),
            gettext_lazy("Conversaciones del período cerradas sin ninguna respuesta de un agente. Ámbar hasta 5."),
            "count", "lower", 1, 6, drill="closed_without_response"),
    KpiCard("avg_resolution_seconds", gettext_lazy("Resolución (promedio)"), gettext_lazy("Meta: < 48 h"),
            gettext_lazy("Tiempo promedio de resolución de las conversaciones del período que lo tienen. Ámbar "
                         "hasta 72 h."), "duration", "lower", 48 * HOUR, 72 * HOUR),
    KpiCard("resolved_within_48h_rate", gettext_lazy("Resueltas en 48 h"), gettext_lazy("Meta: ≥ 80 %"),
            gettext_lazy("De las conversaciones del período con tiempo de resolución, la parte resuelta en 48 h o "
                         "menos. Ámbar desde 60 %."), "rate", "higher", 0.8, 0.6),
    KpiCard("revenue", gettext_lazy("Ingresos"), gettext_lazy("Sin meta"),
            gettext_lazy("Suma de las ventas de las conversaciones iniciadas en el período (llamadas incluidas)."),
            "money", "none", 0, 0),
    KpiCard("sales", gettext_lazy("Ventas"), gettext_lazy("Sin meta"),
            gettext_lazy("Filas de venta (productos vendidos) de las conversaciones iniciadas en el período."),
            "count", "none", 0, 0),
    KpiCard("conversion_rate", gettext_lazy("Conversión"), gettext_lazy("Sin meta"),
            gettext_lazy("De las conversaciones del período ya cerradas, la parte con al menos una venta."),
            "rate", "none", 0, 0),
)
KPIS_BY_KEY: Final = {k.key: k for k in KPI_CARDS}
SERVICE_KPIS: Final = ("avg_first_response_seconds", "avg_reply_seconds", "unanswered_open",
                       "closed_without_response", "avg_resolution_seconds", "resolved_within_48h_rate")
SALES_KPIS: Final = ("revenue", "sales", "conversion_rate")


@dataclass(frozen=True)
class RoleView:
    """How the dashboard is arranged for a role (seed 002: each profile sees what is relevant to it). Which charts a
    role may see at all is reports.dashboard.ROLE_CHARTS (enforced by the API); this is their order, the KPI cards
    shown first, the default grouping and what the page adds on top."""

    intro: str | Promise
    charts: tuple[str, ...]
    kpis: tuple[str, ...]
    granularity: str = "week"
    health: bool = False   # the assignment-health panel (reports.assignment_health)
    exports_open: bool = False


_ALL_CHARTS: Final = ("agent_volume", "agent_response_times", "sales_conversations", "revenue_by_agent",
                      "customer_states", "retention", "daily_activity", "sales_by_channel", "sla_compliance",
                      "sla_breaches")
ROLE_VIEWS: Final[dict[str, RoleView]] = {
    "gerente": RoleView(
        gettext_lazy("Vista de gerencia: tendencias de actividad y ventas primero, luego el desempeño del equipo."),
        ("daily_activity", "sales_by_channel", "revenue_by_agent", "sales_conversations", "retention",
         "customer_states", "agent_volume", "agent_response_times"),
        (*SALES_KPIS, "avg_first_response_seconds", "resolved_within_48h_rate", "unanswered_open")),
    "supervisor": RoleView(
        gettext_lazy("Vista de supervisión: agentes, tiempos de respuesta y volumen por día; los números se "
                     "actualizan solos cada 20 segundos."),
        ("agent_volume", "agent_response_times", "sla_compliance", "sla_breaches", "daily_activity",
         "sales_conversations", "customer_states"),
        SERVICE_KPIS, granularity="day"),
    "director_ventas": RoleView(
        gettext_lazy("Vista comercial: ingresos y ventas por agente, conversión y canales."),
        ("revenue_by_agent", "sales_conversations", "sales_by_channel", "customer_states", "retention",
         "daily_activity"),
        SALES_KPIS),
    "analista": RoleView(
        gettext_lazy("Vista de análisis: todos los gráficos y las exportaciones de datos (conversaciones, ventas y "
                     "cada gráfico en CSV o PNG)."),
        _ALL_CHARTS, SERVICE_KPIS + SALES_KPIS, exports_open=True),
    "admin": RoleView(
        gettext_lazy("Vista de administración: la salud de la asignación (quién recibe trabajo y quién no) y la "
                     "eficiencia del flujo."),
        ("daily_activity", "agent_volume", "agent_response_times", "sales_conversations", "customer_states",
         "retention", "revenue_by_agent", "sales_by_channel"),
        SERVICE_KPIS, health=True),
    "agente": RoleView(
        gettext_lazy("Sus propios números: sus conversaciones, tiempos de respuesta y ventas."),
        ("agent_volume", "agent_response_times", "daily_activity", "sales_conversations", "revenue_by_agent",
         "sales_by_channel", "customer_states", "retention"),
        SERVICE_KPIS + SALES_KPIS),
}
DEFAULT_VIEW: Final = RoleView("", _ALL_CHARTS, SERVICE_KPIS + SALES_KPIS)


def role_view(role: str) -> RoleView:
    return ROLE_VIEWS.get(role, DEFAULT_VIEW)


GRANULARITY_LABELS: Final = (("day", gettext_lazy("Día")), ("week", gettext_lazy("Semana")),
                              ("month", gettext_lazy("Mes")))

# ImportJob.stage → what the import page says (the stages reports.actions and do_import_history report)
IMPORT_STAGES: Final[dict[str, str | Promise]] = {
    "en_cola": gettext_lazy("En cola: esperando al proceso de fondo"),
    "leyendo": gettext_lazy("Leyendo y validando los archivos"),
    "conversations": gettext_lazy("Guardando clientes, agentes, conversaciones y ventas"),
    "rollups": gettext_lazy("Recalculando el tablero"),
    "customers": gettext_lazy("Actualizando la actividad de los clientes"),
    "fin": gettext_lazy("Terminado"),
}


def dashboard_agents() -> list[tuple[int, str]]:
    """The agent filter's choices: agents, and anyone with conversations in the rollups (imported profiles)."""
    ids = DailyAgentStats.objects.exclude(agent_id=0).values("agent_id")
    users = User.objects.filter(Q(role=Role.AGENTE, is_active=True) | Q(pk__in=ids)).order_by("full_name", "username")
    return [(u.pk, u.display_name) for u in users.only("pk", "full_name", "username")]


def dashboard_channels() -> list[str]:
    """Channels seen in the data (imported history may name channels Centralita has no connector for)."""
    return sorted(set(DailyStats.objects.values_list("channel", flat=True).distinct()))


def import_columns(aliases: dict[str, str], required: tuple[str, ...]) -> list[tuple[str, str, bool]]:
    """(English name, Spanish alias, required) for the import page's column table."""
    return [(name, alias, name in required) for name, alias in aliases.items()]


def channel_labels(extra: list[str]) -> dict[str, str]:
    labels = {value: str(label) for value, label in Channel.choices}
    for channel in extra:
        labels.setdefault(channel, channel.capitalize())
    return labels


def browser_texts() -> dict[str, Any]:
    """Series names, axis titles and messages the browser draws, translated on the server."""
    return {
        "conversations": _("Conversaciones"), "successful": _("Exitosas"), "success_rate": _("Tasa de éxito"),
        "first_response": _("Primera respuesta (promedio)"), "resolution": _("Resolución (promedio)"),
        "with_sale": _("Con venta"), "without_sale": _("Sin venta"), "conversion_rate": _("Tasa de conversión"),
        "revenue": _("Ingresos"), "active": _("Activos"), "new": _("Nuevos"), "returning": _("Recurrentes"),
        "returning_rate": _("Tasa de recurrencia"), "percent_of_active": _("% de los clientes activos"),
        "started": _("Iniciadas"), "resolved": _("Resueltas"), "as_bars": _("Ver como barras"),
        "as_lines": _("Ver como líneas"),
        "sales": _("Ventas"), "agent": _("Agente"), "hours": _("Horas"), "customers": _("Clientes"),
        "month": _("Mes"), "bucket": {"day": _("Día"), "week": _("Semana (desde el lunes)"), "month": _("Mes")},
        "channel": _("Canal"), "state": _("Estado"), "closed": _("Cerradas"),
        "sla_rate": _("% a tiempo"), "sla_met": _("A tiempo"), "sla_breached": _("Vencidas"),
        "breaches": _("Plazos vencidos"), "total": _("Total"),
        "sla_targets": {"first_response": _("Primera respuesta"), "next_response": _("Siguiente respuesta"),
                        "resolution": _("Resolución"), "escalation": _("Escalados")},
        "customer_states": {value: str(label) for value, label in CustomerState.choices},
        "status": {"ok": _("En meta"), "warn": _("Cerca de la meta"), "bad": _("Fuera de meta"),
                   "none": _("Sin datos")},
        # the same formats as the duration filter of reports_format (one translation for both)
        "duration": {"d": _("%(d)d d %(h)d h"), "h": _("%(h)d h %(m)02d min"), "m": _("%(m)d min %(s)02d s"),
                     "s": _("%(s)d s")},
        "loading": _("Cargando…"), "error": _("No se pudieron cargar los datos: %s"),
        "no_data": _("Sin datos en el período."),
        "drill_count": _("%(count)s conversaciones"), "drill_count_customers": _("%(count)s clientes (una "
                                                                                  "conversación de cada uno)"),
        "drill_page": _("Página %(page)s de %(pages)s"), "drill_empty": _("No hay conversaciones en este punto."),
    }


def page_config(*, charts: list[str], api: str, drill_api: str, export_api: str, sales_api: str, inbox_url: str,
                channels: dict[str, str]) -> dict[str, Any]:
    """Everything dashboard.js needs, embedded with json_script."""
    return {
        "api": api, "drill_api": drill_api, "export_api": export_api, "sales_api": sales_api, "inbox_url": inbox_url,
        "charts": charts,
        "currency": settings.CURRENCY, "money": money_spec(), "texts": browser_texts(), "channels": channels,
        "titles": {c.key: str(c.title) for c in CHART_INFO},
        "kpis": [{"key": k.key, "fmt": k.fmt, "better": k.better, "ok": k.ok, "warn": k.warn} for k in KPI_CARDS],
    }
