from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.actions import do_create_api_token
from accounts.models import User


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it (the only time it is shown)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="manage.py", help="A label for the token.")

    def handle(self, *args: Any, username: str, name: str, **options: Any) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive.")
        _token, raw = do_create_api_token(user, name=name, acting_user=None)
        self.stdout.write(raw)
