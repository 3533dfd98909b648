"""`manage.py import_history --conversations FILE.csv [--sales FILE.csv] [--skip-invalid]` (docs/reports.md)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reports.importer import HistoryFileError, do_import_history, parse_history


class Command(BaseCommand):
    help = "Import past conversations and sales (CSV) into Centralita; rebuilds the dashboard's rollups."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--conversations", required=True, type=Path)
        parser.add_argument("--sales", type=Path)
        parser.add_argument("--skip-invalid", action="store_true",
                            help="import the good rows and report the bad ones (default: a bad row imports nothing)")

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("conversations", "sales"):  # call_command passes strings through unconverted
            path = options[name] = Path(options[name]) if options[name] is not None else None
            if path is not None and not path.is_file():
                raise CommandError(f"{name}: no such file: {path}")
        started = time.monotonic()
        try:
            parsed = parse_history(options["conversations"], options["sales"])
            if parsed.errors and not options["skip_invalid"]:
                raise HistoryFileError(parsed.errors)
            self.stdout.write(f"{len(parsed.conversations)} conversations and {len(parsed.sales)} sales read "
                              f"in {time.monotonic() - started:.1f} s")
            result = do_import_history(parsed, skip_invalid=options["skip_invalid"], progress=self._progress)
        except HistoryFileError as exc:
            for error in exc.errors:
                self.stderr.write(error)
            raise CommandError(f"{len(exc.errors)} bad row(s); nothing was imported "
                               "(--skip-invalid imports the good ones):\n" + "\n".join(exc.errors[:50])) from None
        if result.skipped:
            self.stderr.write(f"{len(result.skipped)} bad row(s) skipped:")
            for error in result.skipped:
                self.stderr.write(error)
        self.stdout.write(self.style.SUCCESS(
            f"imported {result.conversations} conversations ({result.customers_created} new customers, "
            f"{result.agents_created} new agent profiles) and {result.sales} sales in "
            f"{time.monotonic() - started:.1f} s; the dashboard is up to date"))

    def _progress(self, stage: str, done: int, total: int) -> None:
        if not total:
            return
        width = 30
        filled = int(width * done / total)
        bar = "#" * filled + "-" * (width - filled)
        end = "\n" if done >= total else "\r"
        stream = sys.stderr if sys.stderr.isatty() else None
        if stream is not None or done >= total:
            (stream or sys.stdout).write(f"{stage:>13} [{bar}] {done}/{total}{end}")
