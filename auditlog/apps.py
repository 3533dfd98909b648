from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditlogConfig(AppConfig):
    """The audit log page: who did what, as sentences. Every app writes entries through core.audit; reading them
    back as sentences needs every app's vocabulary, so this app sits on top of the others (docs/architecture.md)."""

    name = "auditlog"
    verbose_name = _("Auditoría")
