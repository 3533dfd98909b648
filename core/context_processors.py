from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.roles import Perm
from core.models import SiteSettings


@dataclass(frozen=True)
class NavItem:
    url_name: str
    label: str | Promise
    icon: str
    perm: Perm | None = None
    section: str = "main"


# Later issues append their pages here; the menu shows only what the role may open.
NAVIGATION: list[NavItem] = [
    NavItem("core:home", _("Inicio"), "⌂"),
    NavItem("inbox:list", _("Bandeja"), "✉", Perm.INBOX_WORK),
    NavItem("inbox:review", _("Revisión de cierres"), "✓", Perm.INBOX_SUPERVISE),
    NavItem("leads:queue", _("Cola de llamadas"), "☎", Perm.LEADS_VIEW),
    NavItem("orders:list", _("Pedidos"), "🧾", Perm.ORDERS_VIEW),
    NavItem("catalog:product_list", _("Productos y stock"), "📦", Perm.CATALOG_VIEW),
    NavItem("reports:dashboard", _("Reportes"), "📊", Perm.REPORTS_VIEW),
    NavItem("accounts:presence", _("Equipo en vivo"), "◉", Perm.PRESENCE_VIEW_ALL),
    NavItem("leads:templates", _("Notas predefinidas"), "✎", Perm.LEADS_SUPERVISE),
    NavItem("leads:settings", _("Configuración de la cola"), "⚙", Perm.LEADS_SUPERVISE),
    NavItem("customers:lists", _("Listas de marketing"), "📋", Perm.LEADS_SUPERVISE),
    NavItem("customers:duplicates", _("Posibles duplicados"), "⧉", Perm.LEADS_SUPERVISE),
    NavItem("mail:profile", _("Mi correo"), "✍", Perm.INBOX_WORK),
    NavItem("accounts:user_list", _("Usuarios"), "👥", Perm.USERS_MANAGE, "admin"),
    NavItem("accounts:team_list", _("Equipos y horarios"), "▦", Perm.TEAMS_MANAGE, "admin"),
    NavItem("core:settings", _("Organización"), "✎", Perm.SETTINGS_MANAGE, "admin"),
    NavItem("crm:settings", _("Kommo"), "⇄", Perm.CRM_MANAGE, "admin"),
    NavItem("inbox:admin_inboxes", _("Bandejas"), "✉", Perm.INBOX_MANAGE, "admin"),
    NavItem("whatsapp:settings", _("WhatsApp"), "✆", Perm.CHANNELS_MANAGE, "admin"),
    NavItem("webchat:sites", _("Chat web"), "💬", Perm.CHANNELS_MANAGE, "admin"),
    NavItem("mail:mailboxes", _("Correo"), "✉", Perm.CHANNELS_MANAGE, "admin"),
    NavItem("sync:list", _("Sincronización con Kommo"), "⟳", Perm.INTEGRATIONS_MANAGE, "admin"),
    NavItem("webhooks:endpoints", _("Webhooks salientes"), "↗", Perm.INTEGRATIONS_MANAGE, "admin"),
    NavItem("core:audit", _("Auditoría"), "☰", Perm.AUDIT_VIEW, "admin"),
    NavItem("core:system", _("Estado del sistema"), "⚙", Perm.SYSTEM_STATUS, "admin"),
]


def navigation(request: HttpRequest) -> dict[str, object]:
    user = request.user
    if not user.is_authenticated:
        return {"nav_items": [], "nav_admin_items": []}
    site = SiteSettings.load()
    path = request.path
    items = []
    for item in NAVIGATION:
        if item.perm is not None and not user.has_perm_code(item.perm):
            continue
        url = reverse(item.url_name)
        active = path == url if url == "/" else path.startswith(url)
        items.append({"url": url, "label": item.label, "icon": item.icon, "active": active,
                      "section": item.section})
    return {
        "site": site,
        "nav_items": [i for i in items if i["section"] == "main"],
        "nav_admin_items": [i for i in items if i["section"] == "admin"],
    }
