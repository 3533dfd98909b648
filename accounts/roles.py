"""Roles and the permission matrix, declared once. docs/roles.md is generated from this table
(`python manage.py roles_matrix --write`), and a test fails when the two disagree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrador del sistema")
    GERENTE = "gerente", _("Gerente general")
    SUPERVISOR = "supervisor", _("Supervisor(a) de agentes")
    DIRECTOR_VENTAS = "director_ventas", _("Director(a) de ventas")
    ANALISTA = "analista", _("Analista de datos")
    AGENTE = "agente", _("Agente (operador)")


class Perm(models.TextChoices):
    USERS_VIEW = "users.view", _("Ver el directorio de usuarios")
    USERS_MANAGE = "users.manage", _("Crear y editar usuarios, roles y contraseñas")
    TEAMS_MANAGE = "teams.manage", _("Crear y editar equipos, habilidades, horarios y feriados")
    SETTINGS_MANAGE = "settings.manage", _("Cambiar la configuración de la organización")
    AUDIT_VIEW = "audit.view", _("Consultar el registro de auditoría")
    PRESENCE_VIEW_ALL = "presence.view_all", _("Ver en vivo la disponibilidad de los agentes")
    PRESENCE_SET_OWN = "presence.set_own", _("Cambiar la propia disponibilidad")
    API_TOKENS_OWN = "api_tokens.own", _("Crear y revocar sus propios tokens de API")
    SYSTEM_STATUS = "system.status", _("Ver el estado de los procesos de fondo")
    LEADS_VIEW = "leads.view", _("Ver la cola de llamadas y los leads")
    LEADS_WORK = "leads.work", _("Trabajar leads: notas, «Siguiente lead», cerrar, corregir datos del cliente")
    LEADS_SUPERVISE = "leads.supervise", _("Liberar y reasignar leads; notas predefinidas; configuración de la cola")
    CRM_MANAGE = "crm.manage", _("Conectar Kommo y revisar los webhooks recibidos")
    CATALOG_VIEW = "catalog.view", _("Ver productos y stock")
    CATALOG_MANAGE = "catalog.manage", _("Crear y editar productos, importar y ajustar stock")
    ORDERS_VIEW = "orders.view", _("Ver pedidos y exportarlos")
    ORDERS_CREATE = "orders.create", _("Crear y confirmar pedidos desde la pantalla de llamada")
    ORDERS_MANAGE = "orders.manage", _("Despachar y cancelar pedidos")
    INTEGRATIONS_MANAGE = "integrations.manage", _("Sincronizaciones fallidas y webhooks salientes")
    INBOX_WORK = "inbox.work", _("Atender conversaciones: responder, notas, tareas, cerrar con motivo")
    INBOX_SUPERVISE = "inbox.supervise", _("Asignar y transferir cualquier conversación; revisión semanal de cierres")
    INBOX_MANAGE = "inbox.manage", _("Configurar bandejas y categorías")
    CHANNELS_MANAGE = "channels.manage", _("Conectar canales: números de WhatsApp, buzones de correo, chat web")
    REPORTS_VIEW = "reports.view", _("Ver el tablero y los reportes (los agentes, solo sus propios números)")
    REPORTS_VIEW_ALL = "reports.view_all", _("Ver los números de todos los agentes y equipos")
    REPORTS_EXPORT = "reports.export", _("Exportar los datos detallados (una fila por conversación)")
    HISTORY_IMPORT = "history.import", _("Importar el historial de conversaciones y ventas")


R = Role
P = Perm
ALL_ROLES: Final = frozenset(Role)
ROLE_PERMISSIONS: Final[Mapping[Role, frozenset[Perm]]] = {
    R.ADMIN: frozenset(Perm),
    R.GERENTE: frozenset(
        {P.USERS_VIEW, P.AUDIT_VIEW, P.PRESENCE_VIEW_ALL, P.PRESENCE_SET_OWN, P.API_TOKENS_OWN, P.SYSTEM_STATUS,
         P.LEADS_VIEW, P.CATALOG_VIEW, P.ORDERS_VIEW, P.REPORTS_VIEW, P.REPORTS_VIEW_ALL}
    ),
    R.SUPERVISOR: frozenset({P.USERS_VIEW, P.PRESENCE_VIEW_ALL, P.PRESENCE_SET_OWN, P.API_TOKENS_OWN,
                             P.LEADS_VIEW, P.LEADS_WORK, P.LEADS_SUPERVISE, P.CATALOG_VIEW, P.CATALOG_MANAGE,
                             P.ORDERS_VIEW, P.ORDERS_CREATE, P.ORDERS_MANAGE, P.INBOX_WORK, P.INBOX_SUPERVISE,
                             P.REPORTS_VIEW, P.REPORTS_VIEW_ALL}),
    R.DIRECTOR_VENTAS: frozenset({P.USERS_VIEW, P.PRESENCE_VIEW_ALL, P.PRESENCE_SET_OWN, P.API_TOKENS_OWN,
                                  P.LEADS_VIEW, P.CATALOG_VIEW, P.ORDERS_VIEW, P.ORDERS_MANAGE, P.REPORTS_VIEW,
                                  P.REPORTS_VIEW_ALL}),
    R.ANALISTA: frozenset({P.USERS_VIEW, P.PRESENCE_SET_OWN, P.API_TOKENS_OWN, P.LEADS_VIEW, P.CATALOG_VIEW,
                           P.ORDERS_VIEW, P.REPORTS_VIEW, P.REPORTS_VIEW_ALL, P.REPORTS_EXPORT, P.HISTORY_IMPORT}),
    R.AGENTE: frozenset({P.PRESENCE_SET_OWN, P.API_TOKENS_OWN, P.LEADS_VIEW, P.LEADS_WORK, P.CATALOG_VIEW,
                         P.ORDERS_VIEW, P.ORDERS_CREATE, P.INBOX_WORK, P.REPORTS_VIEW}),  # own orders/numbers only
}


def role_has(role: str, perm: Perm) -> bool:
    try:
        return perm in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False


def matrix_markdown() -> str:
    """The permission matrix as a Markdown table (docs/roles.md)."""
    roles = list(Role)
    header = "| Permiso | Código | " + " | ".join(str(r.label) for r in roles) + " |"
    sep = "|---|---|" + "|".join(":-:" for _ in roles) + "|"
    rows = [
        f"| {perm.label} | `{perm.value}` | "
        + " | ".join("✔" if perm in ROLE_PERMISSIONS[r] else "—" for r in roles)
        + " |"
        for perm in Perm
    ]
    return "\n".join([header, sep, *rows]) + "\n"
