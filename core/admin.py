from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from core.models import AuditLog, PeriodicRun


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: the audit log is append-only."""

    list_display = ("created_at", "actor_username", "action", "target_repr", "ip", "via")
    list_filter = ("action", "via")
    search_fields = ("actor_username", "target_repr", "action")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin.site.register(PeriodicRun)
