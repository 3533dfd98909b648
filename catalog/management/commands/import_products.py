"""`python manage.py import_products FILE.csv [--dry-run]`: the same importer as the upload page."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from catalog.importer import import_products_csv
from core.request_context import RequestOrigin, reset_origin, set_origin


class Command(BaseCommand):
    help = ("Import products from a CSV file (upsert by SKU, in batches of 500 rows per transaction). Prints the "
            "report; exits 1 and writes nothing when any row is bad.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="CSV file, UTF-8 (BOM optional) or Windows-1252, comma or semicolon "
                                         "separated.")
        parser.add_argument("--dry-run", action="store_true", help="Validate and count, write nothing.")

    def handle(self, *args: Any, file: str, dry_run: bool, **options: Any) -> None:
        token = set_origin(RequestOrigin(via="command"))
        try:
            with open(file, "rb") as fileobj:
                report = import_products_csv(fileobj, acting_user=None, dry_run=dry_run)
        except OSError as exc:
            raise CommandError(_("No se pudo leer %(file)s: %(error)s") % {"file": file, "error": exc}) from exc
        finally:
            reset_origin(token)
        for line in report.as_lines():
            self.stdout.write(line)
        if not report.ok:
            raise CommandError(_("Importación cancelada: corrija las líneas indicadas."), returncode=1)
