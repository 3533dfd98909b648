from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import ApiToken, BusinessHours, Holiday, Skill, Team, User


@admin.register(User)
class CentralitaUserAdmin(UserAdmin):  # type: ignore[type-arg]
    list_display = ("username", "full_name", "role", "availability", "is_active")
    list_filter = ("role", "availability", "is_active", "teams")
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("Centralita", {"fields": ("full_name", "role", "language", "availability", "teams", "skills", "capacity",
                                   "can_login")}),
    )


class BusinessHoursInline(admin.TabularInline):  # type: ignore[type-arg]
    model = BusinessHours


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "code", "is_active")
    inlines = [BusinessHoursInline]


admin.site.register(Skill)
admin.site.register(Holiday)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("key_hash", "prefix")
