from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise, SimpleLazyObject
from django.utils.translation import gettext_lazy as _

from core.heartbeats import silent
from core.models import SiteSettings
from core.perms import Perm


@dataclass(frozen=True)
class NavItem:
    url_name: str
    label: str | Promise
    icon: str  # a Lucide icon name (lucide.dev/icons), drawn as inline SVG
    perm: Perm | None = None
    section: str = "main"


# Later issues append their pages here; the menu shows only what the role may open.
NAVIGATION: list[NavItem] = [
    NavItem("accounts:home", _("Inicio"), "house"),
    NavItem("inbox:list", _("Bandeja"), "inbox", Perm.INBOX_WORK),
    NavItem("inbox:review", _("Revisión de cierres"), "list-checks", Perm.INBOX_SUPERVISE),
    NavItem("automation:quick_replies", _("Respuestas rápidas"), "zap", Perm.INBOX_WORK),
    NavItem("automation:sla_policies", _("Niveles de servicio"), "timer", Perm.INBOX_SUPERVISE),
    NavItem("automation:rules", _("Reglas de automatización"), "workflow", Perm.INBOX_SUPERVISE),
    NavItem("automation:sequences", _("Secuencias"), "list-ordered", Perm.INBOX_SUPERVISE),
    NavItem("leads:queue", _("Cola de llamadas"), "phone", Perm.LEADS_VIEW),
    NavItem("customers:list", _("Clientes"), "contact", Perm.CUSTOMERS_VIEW),
    NavItem("knowledge:list", _("Base de conocimiento"), "book-open", Perm.KNOWLEDGE_VIEW),
    NavItem("bots:list", _("Bot"), "bot", Perm.BOTS_VIEW),
    NavItem("campaigns:list", _("Campañas"), "megaphone", Perm.CAMPAIGNS_VIEW),
    NavItem("teamchat:home", _("Chat del equipo"), "messages-square", Perm.CHAT_USE),
    NavItem("announcements:list", _("Anuncios"), "newspaper", None),
    NavItem("orders:list", _("Pedidos"), "receipt", Perm.ORDERS_VIEW),
    NavItem("catalog:product_list", _("Productos y stock"), "package", Perm.CATALOG_VIEW),
    NavItem("reports:dashboard", _("Reportes"), "chart-column", Perm.REPORTS_VIEW),
    NavItem("accounts:presence", _("Equipo en vivo"), "radio", Perm.PRESENCE_VIEW_ALL),
    NavItem("leads:templates", _("Notas predefinidas"), "notebook-pen", Perm.LEADS_SUPERVISE),
    NavItem("leads:settings", _("Configuración de la cola"), "sliders-horizontal", Perm.LEADS_SUPERVISE),
    NavItem("customers:lists", _("Listas de marketing"), "list", Perm.LEADS_SUPERVISE),
    NavItem("customers:duplicates", _("Posibles duplicados"), "copy", Perm.LEADS_SUPERVISE),
    NavItem("mail:profile", _("Mi correo"), "signature", Perm.INBOX_WORK),
    NavItem("accounts:user_list", _("Usuarios"), "users", Perm.USERS_MANAGE, "admin"),
    NavItem("accounts:team_list", _("Equipos y horarios"), "calendar-clock", Perm.TEAMS_MANAGE, "admin"),
    NavItem("core:settings", _("Organización"), "building-2", Perm.SETTINGS_MANAGE, "admin"),
    NavItem("crm:settings", _("Kommo"), "arrow-left-right", Perm.CRM_MANAGE, "admin"),
    NavItem("inbox:admin_inboxes", _("Bandejas"), "layers", Perm.INBOX_MANAGE, "admin"),
    NavItem("whatsapp:settings", _("WhatsApp"), "message-circle", Perm.CHANNELS_MANAGE, "admin"),
    NavItem("sms:settings", _("SMS"), "smartphone", Perm.CHANNELS_MANAGE, "admin"),
    NavItem("webchat:sites", _("Chat web"), "message-square", Perm.CHANNELS_MANAGE, "admin"),
    NavItem("mail:mailboxes", _("Correo"), "mail", Perm.CHANNELS_MANAGE, "admin"),
    NavItem("sync:list", _("Sincronización con Kommo"), "refresh-cw", Perm.INTEGRATIONS_MANAGE, "admin"),
    NavItem("webhooks:endpoints", _("Webhooks salientes"), "webhook", Perm.INTEGRATIONS_MANAGE, "admin"),
    NavItem("auditlog:audit", _("Auditoría"), "scroll-text", Perm.AUDIT_VIEW, "admin"),
    NavItem("core:system", _("Estado del sistema"), "activity", Perm.SYSTEM_STATUS, "admin"),
]


@dataclass(frozen=True)
class NavBadge:
    """A count beside a menu item (unread chat messages), computed for the signed-in user on each page; `attr` is
    the data attribute the page's script finds it by to keep it live."""

    count: Callable[[Any], int]
    attr: str


# Apps register from their AppConfig.ready(): core never imports them.
NAV_BADGES: dict[str, NavBadge] = {}


HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
INK, WHITE = "#1b1f24", "#ffffff"
AA_TEXT = 4.5  # WCAG 2 AA contrast for normal-size text


def _luminance(hex_color: str) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _darken(hex_color: str, factor: float) -> str:
    r, g, b = (round(int(hex_color[i:i + 2], 16) * factor) for i in (1, 3, 5))
    return f"#{r:02x}{g:02x}{b:02x}"


def brand_style(color: str) -> str:
    """The CSS custom properties for the organization's colour, or "" to keep the stylesheet's defaults.

    An empty or malformed value used to produce `--brand: ;`, which invalidates the variable, and the primary
    button went white on white. `--brand-ink` is the text on the brand colour (white or near-black, whichever
    passes AA); `--brand-text` is the colour darkened until links in it pass AA on white.
    """
    color = (color or "").strip()
    if not HEX_COLOR.match(color):
        return ""
    color = color.lower()
    ink = WHITE if contrast(color, WHITE) >= contrast(color, INK) else INK
    text, factor = color, 1.0
    while contrast(text, WHITE) < AA_TEXT and factor > 0:
        factor = round(factor - 0.05, 2)
        text = _darken(color, factor)
    return f"--brand: {color}; --brand-ink: {ink}; --brand-text: {text};"


def navigation(request: HttpRequest) -> dict[str, object]:
    """The menu, the organization's settings and brand. Computed once per request: a page that renders regions
    with render_to_string (the profile's sections, the call screen's panels) runs the context processors for each."""
    cached: dict[str, object] | None = getattr(request, "_navigation_context", None)
    if cached is None:
        cached = _navigation(request)
        request._navigation_context = cached  # type: ignore[attr-defined]
    return cached


def _navigation(request: HttpRequest) -> dict[str, object]:
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
        entry: dict[str, object] = {"url": url, "label": item.label, "icon": item.icon, "active": active,
                                    "section": item.section, "key": item.url_name}
        if (badge := NAV_BADGES.get(item.url_name)) is not None:
            # A callable the template calls once ({% with %}): only base.html reads it, not the fragments a page's
            # script fetches (this context processor runs for those too).
            entry["badge"] = partial(badge.count, user)
            entry["badge_attr"] = badge.attr
        items.append(entry)
    # Only the most specific match is the current page (/inbox/review/ is "Revisión de cierres", not "Bandeja").
    matches = [i for i in items if i["active"]]
    for i in matches:
        i["active"] = len(str(i["url"])) == max(len(str(m["url"])) for m in matches)
    return {
        "site": site,
        # base.html reads `organization`: views may put their own `site` in the context (LoginView's RequestSite,
        # a web-chat site) and that one wins over a context processor's.
        "organization": site,
        "brand_style": brand_style(site.brand_color),
        "can_work_inbox": user.has_perm_code(Perm.INBOX_WORK),
        "can_use_chat": user.has_perm_code(Perm.CHAT_USE),
        "nav_items": [i for i in items if i["section"] == "main"],
        "nav_admin_items": [i for i in items if i["section"] == "admin"],
        # Lazy: one small query, only when the template reads it (base.html, for those who see the system page).
        "silent_processes": SimpleLazyObject(_silent) if user.has_perm_code(Perm.SYSTEM_STATUS) else [],
    }


def _silent() -> list[object]:
    return list(silent())
