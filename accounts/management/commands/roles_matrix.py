from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.roles import matrix_markdown

ROLES_DOC = Path(settings.BASE_DIR) / "docs" / "roles.md"
BEGIN, END = "<!-- matrix:begin -->", "<!-- matrix:end -->"


def render_doc(current: str) -> str:
    head, _, rest = current.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{matrix_markdown()}{END}{tail}"


class Command(BaseCommand):
    help = "Print the role/permission matrix, or --write it into docs/roles.md between the matrix markers."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--write", action="store_true")

    def handle(self, *args: Any, write: bool, **options: Any) -> None:
        if write:
            ROLES_DOC.write_text(render_doc(ROLES_DOC.read_text(encoding="utf-8")), encoding="utf-8")
            self.stdout.write(f"wrote {ROLES_DOC}")
        else:
            self.stdout.write(matrix_markdown())
