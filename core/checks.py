"""System checks for secrets at rest. Database checks run with `migrate` (so `make run` and a release step stop
with one clear message) and with `manage.py check --database default`."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.db import DatabaseError

from core.crypto import ENV_VAR, SecretDecryptionError
from core.fields import encrypted_fields

ROWS_CHECKED = 1000  # secrets tables hold a handful of rows; the bound only keeps a surprise from being slow


@register(Tags.database, "security")
def check_stored_secrets_decrypt(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every stored secret opens with the configured keys (a missing or mistyped FIELD_ENCRYPTION_KEY shows up here,
    not as a failing page or task later)."""
    if not databases:
        return []
    problems: list[CheckMessage] = []
    for alias in databases:
        for model, fields, _hashes in encrypted_fields():
            for name in fields:
                rows = (model._default_manager.using(alias).exclude(**{f"{name}__isnull": True}).exclude(**{name: ""})
                        .values_list(name, flat=True)[:ROWS_CHECKED])
                try:
                    list(rows)
                except SecretDecryptionError as exc:
                    problems.append(Error(str(exc), hint=f"Check {ENV_VAR} (docs/security.md, \"Secrets at rest\").",
                                          obj=f"{model._meta.label}.{name}", id="core.E101"))
                except DatabaseError:
                    break  # the table or column is not migrated yet: nothing stored to check
    return problems
