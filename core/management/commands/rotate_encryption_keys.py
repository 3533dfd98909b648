"""`manage.py rotate_encryption_keys`: after putting a new key first in FIELD_ENCRYPTION_KEY, re-encrypt every stored
secret with it; the old key can then be removed (docs/security.md, "Secrets at rest")."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core.actions import do_rotate_encryption_keys
from core.crypto import SecretDecryptionError


class Command(BaseCommand):
    help = "Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEY."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            rewritten = do_rotate_encryption_keys()
        except SecretDecryptionError as exc:
            raise CommandError(str(exc)) from None
        for label, count in rewritten.items():
            self.stdout.write(f"{label}: {count} row(s) re-encrypted")
        self.stdout.write(self.style.SUCCESS("Done: every secret now uses the first key of FIELD_ENCRYPTION_KEY; "
                                             "older keys can be removed from it."))
