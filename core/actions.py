"""Writes for core: organization settings, re-encrypting stored secrets."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import audit, crypto, heartbeats
from core.errors import ActionError, ConflictError, NotFoundError
from core.fields import LookupHashField, encrypted_fields
from core.models import AvailabilityOnLogin, Heartbeat, SiteSettings
from core.perms import Perm, require_perm

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)
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


def do_rotate_encryption_keys() -> dict[str, int]:
    """Re-encrypts every stored secret with the first FIELD_ENCRYPTION_KEY and rewrites the lookup hashes with it;
    returns the rows rewritten per model ("crm.KommoAccount": 1, …). Safe to repeat.

    Each model is rewritten in one transaction with its rows locked, so a concurrent save cannot be overwritten
    with an older value. Raises core.crypto.SecretDecryptionError (nothing of that model written) when a value
    opens with none of the keys. Run by an operator (`manage.py rotate_encryption_keys`), so it is logged rather
    than written to the audit log, which records what people do in the app."""
    rewritten: dict[str, int] = {}
    for model, fields, hashes in encrypted_fields():
        sources = {name: model._meta.get_field(name) for name in hashes}
        count = 0
        with transaction.atomic():
            for row in model._default_manager.select_for_update().only("pk", *fields).order_by("pk"):
                values: dict[str, str | None] = {name: getattr(row, name) for name in fields}
                if not any(values.values()):
                    continue
                for name, field in sources.items():
                    assert isinstance(field, LookupHashField)
                    raw = values.get(field.source)
                    values[name] = crypto.lookup_hash(raw) if raw else None
                model._default_manager.filter(pk=row.pk).update(**values)
                count += 1
        rewritten[model._meta.label] = count
    logger.info("secrets re-encrypted with the first FIELD_ENCRYPTION_KEY: %s", rewritten)
    return rewritten


@transaction.atomic
def check_dismiss_process(acting_user: User, heartbeat_id: int) -> Heartbeat:
    """An administrator acknowledges a silent background process (a machine retired, a worker scaled down): it leaves
    the system page and the alert. A process that beats again reappears as running."""
    require_perm(acting_user, Perm.SETTINGS_MANAGE)
    row = Heartbeat.objects.select_for_update().filter(pk=heartbeat_id).exclude(kind=Heartbeat.Kind.QUEUE).first()
    if row is None:
        raise NotFoundError("process_not_found", _("Ese proceso ya no figura."))
    if row.state == Heartbeat.State.RUNNING and timezone.now() - row.seen_at <= heartbeats.SILENT_AFTER:
        # Only a silent process's alert can be dismissed: dismissing a live one would void its leases.
        raise ConflictError("process_alive", _("Ese proceso sigue dando señales de vida; no hay aviso que descartar."))
    if row.state != Heartbeat.State.DISMISSED:
        row.state = Heartbeat.State.DISMISSED
        row.save(update_fields=["state"])
        audit.record(actor=acting_user, action="system.process_dismissed", target=row,
                     changes={"process": row.process})
    return row
