"""The reports' CSV columns (machine name, label in the reader's language, kind) and the two analyst exports: one
row per conversation and one row per sale, with the fields of seed 002 and UUIDs instead of database ids.
How cells are written (dialect, headers, durations): core.exports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, Final

from asgiref.sync import sync_to_async
from django.utils.translation import gettext_lazy as _

from accounts.models import Team, User
from core.exports import Column
from inbox.choices import Channel, ConversationOutcome, ConversationState, CustomerState
from inbox.models import Conversation, Inbox
from orders.models import Sale
from reports.dashboard import DashboardFilters, _window_facts

EXPORT_CHUNK: Final = 2000

_CHANNELS: Final = dict(Channel.choices)
_STATES: Final = dict(ConversationState.choices)
_OUTCOMES: Final = dict(ConversationOutcome.choices)
_CUSTOMER_STATES: Final = dict(CustomerState.choices)
_LEAD_OUTCOMES: Final = {"positivo": _("Positivo"), "negativo": _("Negativo"), "parcial": _("Parcial"),
                         "no_clasificado": _("No clasificado")}

AGENT = Column("agent_id", _("ID del agente"), "uuid")
AGENT_NAME = Column("agent_name", _("Agente"))
OPERATOR = Column("operator", _("Usuario del operador"))
OPERATOR_NAME = Column("operator_name", _("Operador"))
REVENUE = Column("revenue", _("Ingresos"), "money")
SALES = Column("sales", _("Ventas"), "int")
BUCKET = Column("bucket", _("Periodo (primer día)"), "date")
SPEED = [Column("speed_to_lead_mean_seconds", _("Velocidad de contacto, media"), "duration"),
         Column("speed_to_lead_median_seconds", _("Velocidad de contacto, mediana"), "duration"),
         Column("speed_to_lead_count", _("Primeras notas medidas"), "int")]

LEADFLOW_COLUMNS: Final[dict[str, list[Column]]] = {
    "by_operator": [
        OPERATOR, OPERATOR_NAME, Column("calls", _("Llamadas"), "int"),
        Column("unique_leads", _("Leads contactados"), "int"), Column("closed", _("Leads cerrados"), "int"),
        Column("positivo", _("Positivo"), "int"), Column("negativo", _("Negativo"), "int"),
        Column("parcial", _("Parcial"), "int"), Column("no_clasificado", _("No clasificado"), "int"),
        *SPEED, SALES, REVENUE],
    "by_hour": [Column("hour", _("Hora"), "int"), Column("calls", _("Llamadas"), "int"), SALES, REVENUE],
    "outcomes": [Column("outcome", _("Resultado"), "code", _LEAD_OUTCOMES), Column("calls", _("Llamadas"), "int")],
    "speed_to_lead": [OPERATOR, OPERATOR_NAME, *SPEED],
}

CHART_COLUMNS: Final[dict[str, list[Column]]] = {
    "agent_volume": [AGENT, AGENT_NAME, Column("conversations", _("Conversaciones"), "int"),
                     Column("successful", _("Exitosas"), "int"), Column("success_rate", _("Tasa de éxito"), "rate")],
    "agent_response_times": [AGENT, AGENT_NAME,
                             Column("avg_first_response_seconds", _("Primera respuesta promedio"), "duration"),
                             Column("avg_resolution_seconds", _("Resolución promedio"), "duration")],
    "sales_conversations": [Column("closed", _("Cerradas"), "int"), Column("with_sale", _("Con venta"), "int"),
                            Column("without_sale", _("Sin venta"), "int"),
                            Column("conversion_rate", _("Tasa de conversión"), "rate")],
    "revenue_by_agent": [AGENT, AGENT_NAME, REVENUE],
    "customer_states": [BUCKET, *(Column(k, v, "int") for k, v in _CUSTOMER_STATES.items())],
    "retention": [Column("month", _("Mes")), Column("active", _("Clientes activos"), "int"),
                  Column("new", _("Nuevos"), "int"), Column("returning", _("Recurrentes"), "int"),
                  Column("returning_rate", _("Tasa de retención"), "rate")],
    "daily_activity": [BUCKET, Column("started", _("Iniciadas"), "int"), Column("resolved", _("Resueltas"), "int")],
    "sales_by_channel": [BUCKET, Column("channel", _("Canal"), "code", _CHANNELS), SALES],
    "sla_compliance": [BUCKET, Column("channel", _("Canal"), "code", _CHANNELS),
                       Column("met", _("A tiempo"), "int"), Column("breached", _("Vencidas"), "int"),
                       Column("compliance_rate", _("Cumplimiento"), "rate")],
    "sla_breaches": [AGENT, AGENT_NAME, Column("first_response", _("Primera respuesta"), "int"),
                     Column("next_response", _("Siguiente respuesta"), "int"),
                     Column("resolution", _("Resolución"), "int"), Column("escalation", _("Escalados"), "int"),
                     Column("total", _("Total"), "int")],
    "kpis": [Column("avg_first_response_seconds", _("Primera respuesta promedio"), "duration"),
             Column("avg_reply_seconds", _("Tiempo de respuesta promedio"), "duration"),
             Column("unanswered_open", _("Abiertas sin respuesta"), "int"),
             Column("closed_without_response", _("Cerradas sin respuesta"), "int"),
             Column("avg_resolution_seconds", _("Resolución promedio"), "duration"),
             Column("resolved_within_48h_rate", _("Resueltas en 48 h"), "rate"),
             Column("sales", _("Ventas"), "int"), Column("revenue", _("Ingresos"), "money"),
             Column("conversion_rate", _("Tasa de conversión"), "rate")],
}


def with_agent_uuids(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chart rows keyed by database agent ids, with the agents' UUIDs in their place (exports give no internal id)."""
    ids = {r["agent_id"] for r in rows if r.get("agent_id")}
    if not ids:
        return rows
    uuids = dict(User.objects.filter(pk__in=ids).values_list("pk", "uuid"))
    return [{**r, "agent_id": uuids.get(r["agent_id"])} if "agent_id" in r else r for r in rows]


# --- one row per conversation (seed 002's conversations file, plus team, inbox and sales) ------------------------

CONVERSATION_COLUMNS: Final = [
    Column("conversation_id", _("ID de la conversación"), "uuid"),
    Column("customer_id", _("ID del cliente"), "uuid"),
    Column("customer_name", _("Cliente")),
    Column("started_at", _("Fecha y hora de inicio"), "datetime"),
    Column("closed_at", _("Fecha y hora de cierre"), "datetime"),
    Column("state", _("Estado"), "code", _STATES),
    Column("channel", _("Canal"), "code", _CHANNELS),
    AGENT, AGENT_NAME,
    Column("first_response_seconds", _("Tiempo de primera respuesta"), "duration"),
    Column("resolution_seconds", _("Tiempo de resolución"), "duration"),
    Column("outcome", _("Resultado"), "code", _OUTCOMES),
    Column("customer_state", _("Estado del cliente"), "code", _CUSTOMER_STATES),
    Column("agent_comments", _("Comentarios del agente")),
    Column("team", _("Equipo")),
    Column("inbox", _("Bandeja")),
    Column("avg_reply_seconds", _("Tiempo de respuesta promedio"), "duration"),
    SALES, REVENUE,
    Column("conversation_ref", _("Referencia de origen de la conversación")),
]


class _Names:
    """Agents, teams and inboxes by id, read once per export (a few hundred rows at most)."""

    def __init__(self) -> None:
        self.agents = {pk: (u, full or username) for pk, u, full, username
                       in User.objects.values_list("pk", "uuid", "full_name", "username")}
        self.teams = dict(Team.objects.values_list("pk", "name"))
        self.inboxes = dict(Inbox.objects.values_list("pk", "name"))


def _window_conversation_ids(f: DashboardFilters, after: int) -> list[int]:
    return list(_window_facts(f).filter(start_day__gte=f.start, start_day__lte=f.end, conversation_id__gt=after)
                .order_by("conversation_id").values_list("conversation_id", flat=True)[:EXPORT_CHUNK])


def _conversation_chunk(f: DashboardFilters, after: int, names: _Names) -> tuple[int | None, list[list[Any]]]:
    facts = list(_window_facts(f).filter(start_day__gte=f.start, start_day__lte=f.end, conversation_id__gt=after)
                 .order_by("conversation_id")
                 .values("conversation_id", "agent_id", "team_id", "inbox_id", "channel", "state", "outcome",
                         "customer_state", "started_at", "first_response_seconds", "resolution_seconds",
                         "reply_seconds_sum", "reply_count", "sales", "revenue")[:EXPORT_CHUNK])
    if not facts:
        return None, []
    ids = [r["conversation_id"] for r in facts]
    live: dict[int, Mapping[str, Any]] = {
        row["pk"]: row for row in Conversation.objects.filter(pk__in=ids)
        .values("pk", "uuid", "import_ref", "closed_at", "close_comment", "customer__uuid", "customer__name")}
    out = []
    for r in facts:
        c: Mapping[str, Any] = live.get(r["conversation_id"], {})
        agent_uuid, agent_name = names.agents.get(r["agent_id"], (None, ""))
        row = {**r, "conversation_id": c.get("uuid"), "customer_id": c.get("customer__uuid"),
               "customer_name": c.get("customer__name", ""), "closed_at": c.get("closed_at"),
               "agent_id": agent_uuid, "agent_name": agent_name, "agent_comments": c.get("close_comment", ""),
               "team": names.teams.get(r["team_id"], ""), "inbox": names.inboxes.get(r["inbox_id"], ""),
               "avg_reply_seconds": r["reply_seconds_sum"] / r["reply_count"] if r["reply_count"] else None,
               "conversation_ref": c.get("import_ref", "")}
        out.append([row.get(col.name) for col in CONVERSATION_COLUMNS])
    return ids[-1], out


Chunk = Callable[[DashboardFilters, int, "_Names"], tuple[int | None, list[list[Any]]]]


def keyset_rows(chunk: Chunk, f: DashboardFilters) -> Iterator[list[Any]]:
    """Every row `chunk` reads, window conversation by conversation id, EXPORT_CHUNK conversations at a time
    (keyset: each chunk is its own short queries, so memory stays bounded and no cursor stays open between
    chunks). `chunk` returns the last conversation id it covered (None: no more) and its rows."""
    names, after = _Names(), 0
    while True:
        last, rows = chunk(f, after, names)
        yield from rows
        if last is None:
            return
        after = last


async def akeyset_rows(chunk: Chunk, f: DashboardFilters) -> AsyncIterator[list[Any]]:
    """keyset_rows for ASGI: Django would buffer a synchronous iterator whole before sending it."""
    names, after = await sync_to_async(_Names)(), 0
    while True:
        last, rows = await sync_to_async(chunk)(f, after, names)
        for row in rows:
            yield row
        if last is None:
            return
        after = last


def conversation_rows(f: DashboardFilters) -> Iterator[list[Any]]:
    """Every conversation started in the window, in id order."""
    return keyset_rows(_conversation_chunk, f)


def aconversation_rows(f: DashboardFilters) -> AsyncIterator[list[Any]]:
    return akeyset_rows(_conversation_chunk, f)


# --- one row per sale (seed 002's sales file) -------------------------------------------------------------------

SALE_COLUMNS: Final = [
    Column("sale_id", _("ID de la venta"), "uuid"),
    Column("product_id", _("ID del producto"), "uuid"),
    Column("product_sku", _("SKU")),
    Column("product_name", _("Producto")),
    Column("conversation_id", _("ID de la conversación"), "uuid"),
    Column("channel", _("Canal"), "code", _CHANNELS),
    AGENT, AGENT_NAME,
    Column("quantity", _("Cantidad"), "int"),
    Column("unit_price", _("Precio unitario"), "money"),
    Column("amount", _("Monto"), "money"),
    Column("sold_at", _("Fecha de la venta"), "datetime"),
    Column("sale_ref", _("Referencia de origen de la venta")),
    Column("conversation_ref", _("Referencia de origen de la conversación")),
]


def _sale_chunk(f: DashboardFilters, after: int, names: _Names) -> tuple[int | None, list[list[Any]]]:
    """The sales of the next EXPORT_CHUNK window conversations (the dashboard counts sales through them)."""
    ids = _window_conversation_ids(f, after)
    if not ids:
        return None, []
    sales = Sale.objects.filter(conversation_id__in=ids).order_by("conversation_id", "pk").values(
        "uuid", "import_ref", "product__uuid", "product__sku", "product_ref", "product_name", "conversation__uuid",
        "conversation__import_ref", "conversation__channel", "conversation__assignee_id", "quantity",
        "unit_price", "amount", "created_at")
    out = []
    for s in sales:
        agent_uuid, agent_name = names.agents.get(s["conversation__assignee_id"], (None, ""))
        row: Mapping[str, Any] = {
            "sale_id": s["uuid"], "product_id": s["product__uuid"],
            "product_sku": s["product__sku"] or s["product_ref"],
            "product_name": s["product_name"], "conversation_id": s["conversation__uuid"],
            "channel": s["conversation__channel"], "agent_id": agent_uuid, "agent_name": agent_name,
            "quantity": s["quantity"], "unit_price": s["unit_price"], "amount": s["amount"],
            # An imported sale's file has no date: the moment it was imported is not when it was sold.
            "sold_at": None if s["import_ref"] else s["created_at"],
            "sale_ref": s["import_ref"], "conversation_ref": s["conversation__import_ref"]}
        out.append([row.get(col.name) for col in SALE_COLUMNS])
    return ids[-1], out


def sale_rows(f: DashboardFilters) -> Iterator[list[Any]]:
    return keyset_rows(_sale_chunk, f)


def asale_rows(f: DashboardFilters) -> AsyncIterator[list[Any]]:
    return akeyset_rows(_sale_chunk, f)
