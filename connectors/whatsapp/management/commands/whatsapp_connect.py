from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from connectors.whatsapp.actions import check_connect_number
from core.errors import ActionError


class Command(BaseCommand):
    help = ("Connect a WhatsApp Business number: checks the connection (GET the phone number through the Graph API), "
            "saves it with its secrets, syncs its approved templates and prints the webhook URL to give Meta.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--phone-number-id", required=True)
        parser.add_argument("--waba-id", required=True, help="WhatsApp Business Account id")
        parser.add_argument("--token", required=True, help="system-user access token")
        parser.add_argument("--app-secret", required=True, help="the Meta app's secret (verifies webhook signatures)")
        parser.add_argument("--verify-token", required=True, help="the token you will type in Meta's webhook form")
        parser.add_argument("--inbox", default="", help="inbox name or code for new conversations (default: Global)")
        parser.add_argument("--base-url", default="",
                            help="override https://graph.facebook.com (WHATSAPP_BASE_URL does it for every number)")
        parser.add_argument("--no-templates", action="store_true", help="do not sync templates now")

    def handle(self, *args: Any, **o: Any) -> None:
        try:
            result = check_connect_number(
                None, phone_number_id=o["phone_number_id"], waba_id=o["waba_id"], token=o["token"],
                app_secret=o["app_secret"], verify_token=o["verify_token"], inbox=o["inbox"],
                base_url=o["base_url"], sync_templates=not o["no_templates"])
        except ActionError as exc:
            raise CommandError(exc.message) from exc
        n = result.number
        self.stdout.write(f"{'connected' if result.created else 'updated'}: {n.display_phone_number or '?'} "
                          f"({n.verified_name or 'no verified name'}), phone number id {n.phone_number_id}, "
                          f"WABA {n.waba_id}, inbox {n.inbox.code if n.inbox else 'global'}")
        if result.templates is not None:
            self.stdout.write(f"templates: {result.templates} approved")
        elif result.templates_error:
            self.stderr.write(f"templates not synced: {result.templates_error}")
        self.stdout.write(f"webhook URL: {result.webhook_url}")
        self.stdout.write("give Meta this callback URL and your verify token, and subscribe the 'messages' field")
