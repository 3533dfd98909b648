"""Prints the domain-event catalogue, or writes it into docs/events.md between the catalogue markers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import translation

from core.events import catalogue_markdown

EVENTS_DOC = Path(settings.BASE_DIR) / "docs" / "events.md"
BEGIN, END = "<!-- catalogue:begin -->", "<!-- catalogue:end -->"


def render_doc(current: str) -> str:
    head, _, rest = current.partition(BEGIN)
    _, _, tail = rest.partition(END)
    with translation.override("es"):
        return f"{head}{BEGIN}\n{catalogue_markdown()}{END}{tail}"


class Command(BaseCommand):
    help = "Print the domain-event catalogue, or --write it into docs/events.md between the catalogue markers."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--write", action="store_true")

    def handle(self, *args: Any, write: bool, **options: Any) -> None:
        if write:
            EVENTS_DOC.write_text(render_doc(EVENTS_DOC.read_text(encoding="utf-8")), encoding="utf-8")
            self.stdout.write(f"wrote {EVENTS_DOC}")
        else:
            with translation.override("es"):
                self.stdout.write(catalogue_markdown())
