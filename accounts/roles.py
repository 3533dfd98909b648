"""Roles and the permission matrix, declared once. docs/roles.md is generated from this table
(`python manage.py roles_matrix --write`), and a test fails when the two disagree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.perms import Perm as Perm  # noqa: PLC0414 - re-exported: every app names it accounts.roles.Perm


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrador del sistema")
    GERENTE = "gerente", _("Gerente general")
    SUPERVISOR = "supervisor", _("Supervisor(a) de agentes")
    DIRECTOR_VENTAS = "director_ventas", _("Director(a) de ventas")
    ANALISTA = "analista", _("Analista de datos")
    AGENTE = "agente", _("Agente (operador)")


R = Role
P = Perm
ALL_ROLES: Final = frozenset(Role)
ROLE_PERMISSIONS: Final[Mapping[Role, frozenset[Perm]]] = {
    R.ADMIN: frozenset(Perm),
    R.GERENTE: frozenset(
        {P.USERS_VIEW, P.AUDIT_VIEW, P.PRESENCE_VIEW_ALL, P.PRESENCE_SET_OWN, P.API_TOKENS_OWN, P.SYSTEM_STATUS,
         P.LEADS_VIEW, P.CATALOG_VIEW, P.ORDERS_VIEW, P.REPORTS_VIEW, P.REPORTS_VIEW_ALL, P.CUSTOMERS_VIEW,
         P.CAMPAIGNS_VIEW, P.KNOWLEDGE_VIEW, P.BOTS_VIEW, P.CHAT_USE, P.CHAT_MANAGE, P.ANNOUNCEMENTS_PUBLISH}
    ),
    R.SUPERVISOR: frozenset({P.USERS_VIEW, P.PRESENCE_VIEW_ALL, P.PRESENCE_SET_OWN, P.API_TOKENS_OWN,
                             P.LEADS_VIEW, P.LEADS_WORK, P.LEADS_SUPERVISE, P.CATALOG_VIEW, P.CATALOG_MANAGE,
                             P.ORDERS_VIEW, P.ORDERS_CREATE, P.ORDERS_MANAGE, P.INBOX_WORK, P.INBOX_SUPERVISE,
                             P.REPORTS_VIEW, P.REPORTS_VIEW_ALL, P.CUSTOMERS_VIEW, P.CUSTOMERS_EDIT,
                             P.CUSTOMERS_IMPORT, P.SEGMENTS_MANAGE, P.CAMPAIGNS_VIEW, P.CAMPAIGNS_MANAGE,
                             P.KNOWLEDGE_VIEW, P.KNOWLEDGE_MANAGE, P.BOTS_VIEW, P.BOTS_MANAGE, P.CHAT_USE,
                             P.ANNOUNCEMENTS_PUBLISH}),
    R.DIRECTOR_VENTAS: frozenset({P.USERS_VIEW, P.PRESENCE_VIEW_ALL, P.PRESENCE_SET_OWN, P.API_TOKENS_OWN,
                                  P.LEADS_VIEW, P.CATALOG_VIEW, P.ORDERS_VIEW, P.ORDERS_MANAGE, P.REPORTS_VIEW,
                                  P.REPORTS_VIEW_ALL, P.CUSTOMERS_VIEW, P.SEGMENTS_MANAGE, P.CAMPAIGNS_VIEW,
                                  P.CAMPAIGNS_MANAGE, P.KNOWLEDGE_VIEW, P.BOTS_VIEW, P.CHAT_USE,
                                  P.ANNOUNCEMENTS_PUBLISH}),
    R.ANALISTA: frozenset({P.USERS_VIEW, P.PRESENCE_SET_OWN, P.API_TOKENS_OWN, P.LEADS_VIEW, P.CATALOG_VIEW,
                           P.ORDERS_VIEW, P.REPORTS_VIEW, P.REPORTS_VIEW_ALL, P.REPORTS_EXPORT, P.HISTORY_IMPORT,
                           P.CUSTOMERS_VIEW, P.CUSTOMERS_EXPORT, P.CUSTOMERS_IMPORT, P.SEGMENTS_MANAGE,
                           P.CAMPAIGNS_VIEW, P.BOTS_VIEW, P.CHAT_USE}),
    R.AGENTE: frozenset({P.PRESENCE_SET_OWN, P.API_TOKENS_OWN, P.LEADS_VIEW, P.LEADS_WORK, P.CATALOG_VIEW,
                         P.ORDERS_VIEW, P.ORDERS_CREATE, P.INBOX_WORK, P.REPORTS_VIEW,  # own orders/numbers only
                         P.CUSTOMERS_VIEW, P.CUSTOMERS_EDIT, P.KNOWLEDGE_VIEW, P.CHAT_USE}),
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
