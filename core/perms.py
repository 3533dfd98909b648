"""Permission codes, and the check every action starts with.

The codes live in core so that core's own pages and actions can name them; which role holds which code is accounts'
matrix (accounts.roles.ROLE_PERMISSIONS, which re-exports Perm)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import PermissionDeniedError

if TYPE_CHECKING:
    from accounts.models import User


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
    CHANNELS_MANAGE = "channels.manage", _("Conectar canales: números de WhatsApp, cuentas de SMS, buzones de correo, "
                                           "chat web")
    REPORTS_VIEW = "reports.view", _("Ver el tablero y los reportes (los agentes, solo sus propios números)")
    REPORTS_VIEW_ALL = "reports.view_all", _("Ver los números de todos los agentes y equipos")
    REPORTS_EXPORT = "reports.export", _("Exportar los datos detallados (una fila por conversación)")
    HISTORY_IMPORT = "history.import", _("Importar el historial de conversaciones y ventas")
    CUSTOMERS_VIEW = "customers.view", _("Ver la lista de clientes y su ficha completa")
    CUSTOMERS_EDIT = "customers.edit", _("Crear y editar clientes: datos, etiquetas, preferencias y consentimientos")
    CUSTOMERS_EXPORT = "customers.export", _("Exportar la lista de clientes a CSV")
    CUSTOMERS_IMPORT = "customers.import", _("Importar clientes desde un archivo CSV")
    SEGMENTS_MANAGE = "segments.manage", _("Crear y editar segmentos de clientes (reglas y trato)")
    CAMPAIGNS_VIEW = "campaigns.view", _("Ver las campañas y sus resultados")
    CAMPAIGNS_MANAGE = "campaigns.manage", _("Crear, probar, lanzar, pausar y cancelar campañas; sus costos y "
                                             "palabras de baja")
    KNOWLEDGE_VIEW = "knowledge.view", _("Consultar la base de conocimiento e insertar artículos en las respuestas")
    KNOWLEDGE_MANAGE = "knowledge.manage", _("Escribir, publicar, retirar y borrar artículos de ayuda y sus "
                                             "categorías")
    BOTS_VIEW = "bots.view", _("Ver los flujos del bot, sus estadísticas y probarlos en el simulador")
    BOTS_MANAGE = "bots.manage", _("Crear, editar, publicar, importar y archivar flujos del bot")
    CHAT_USE = "chat.use", _("Usar el chat del equipo: canales, mensajes directos, archivos y menciones")
    CHAT_MANAGE = "chat.manage", _("Administrar cualquier canal del chat: miembros, archivo y borrado de mensajes")
    ANNOUNCEMENTS_PUBLISH = "announcements.publish", _("Publicar anuncios para todos o para equipos, con "
                                                      "confirmación de lectura, y recordarlos")


def require_perm(user: User, perm: Perm) -> None:
    """Refuses (403 `forbidden`) a user without the permission: the check every action starts with."""
    if not user.is_authenticated or not user.has_perm_code(perm):
        raise PermissionDeniedError("forbidden", gettext("No tiene permiso para realizar esta acción."))
