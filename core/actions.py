"""Writes for core: organization settings."""

from __future__ import annotations

import re

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from core import audit
from core.errors import ActionError
from core.models import AvailabilityOnLogin, SiteSettings

HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


@transaction.atomic
def check_update_site_settings(
    acting_user: User, *, company_name: str, default_language: str, brand_color: str,
    availability_on_login: str | None = None,
) -> SiteSettings:
    """Save the organization settings; `availability_on_login=None` leaves that setting as it is."""
    require_perm(acting_user, Perm.SETTINGS_MANAGE)
    if not company_name.strip():
        raise ActionError("missing_fields", _("El nombre de la empresa es obligatorio."), field="company_name")
    if default_language not in {"es", "en"}:
        raise ActionError("invalid_language", _("Idioma no soportado."), field="default_language")
    if not HEX_COLOR.match(brand_color):
        raise ActionError("invalid_color", _("Use un color hexadecimal como #0b5cad."), field="brand_color")
    if availability_on_login is not None and availability_on_login not in AvailabilityOnLogin.values:
        raise ActionError("invalid_availability_on_login", _("Opción no válida."), field="availability_on_login")
    SiteSettings.load()
    current = SiteSettings.objects.select_for_update().get(pk=1)
    changes = {}
    values: list[tuple[str, str]] = [("company_name", company_name.strip()), ("default_language", default_language),
                                     ("brand_color", brand_color.lower())]
    if availability_on_login is not None:
        values.append(("availability_on_login", availability_on_login))
    for field, value in values:
        if getattr(current, field) != value:
            changes[field] = [getattr(current, field), value]
            setattr(current, field, value)
    if changes:
        current.save()
        audit.record(actor=acting_user, action="settings.updated", target=current, changes=changes)
    return current
