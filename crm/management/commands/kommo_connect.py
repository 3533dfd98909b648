from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core.errors import ActionError
from crm.actions import check_connect_kommo


class Command(BaseCommand):
    help = ("Connect Kommo: checks the credentials, resolves the two stages through the API and prints the "
            "webhook URL to paste into Kommo.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--subdomain", required=True)
        auth = parser.add_mutually_exclusive_group(required=True)
        auth.add_argument("--token", help="long-lived token")
        auth.add_argument("--client-id", help="OAuth integration id (with --client-secret and --code)")
        parser.add_argument("--client-secret", default="")
        parser.add_argument("--code", default="", help="OAuth authorization code (valid 20 minutes)")
        parser.add_argument("--redirect-uri", default="")
        parser.add_argument("--base-url", default="", help="override https://{subdomain}.kommo.com")
        parser.add_argument("--to-call-stage", required=True, help='stage name, "Pipeline / Stage" or id')
        parser.add_argument("--confirmed-stage", required=True, help='stage name, "Pipeline / Stage" or id')
        parser.add_argument("--register-webhook", action="store_true",
                            help="also subscribe the webhook URL in Kommo (needs SITE_URL reachable from Kommo)")

    def handle(self, *args: Any, **o: Any) -> None:
        try:
            result = check_connect_kommo(
                None, subdomain=o["subdomain"], token=o["token"] or "", client_id=o["client_id"] or "",
                client_secret=o["client_secret"], code=o["code"], redirect_uri=o["redirect_uri"],
                base_url=o["base_url"], to_call_stage=o["to_call_stage"], confirmed_stage=o["confirmed_stage"],
                register_webhook=o["register_webhook"])
        except ActionError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"connected to {result.account.subdomain} (account {result.account.account_id})")
        self.stdout.write(f'to-call stage: "{result.to_call.pipeline_name} / {result.to_call.name}" '
                          f"(#{result.to_call.status_id})")
        self.stdout.write(f'confirmed stage: "{result.confirmed.pipeline_name} / {result.confirmed.name}" '
                          f"(#{result.confirmed.status_id})")
        self.stdout.write(f"webhook URL: {result.webhook_url}")
        if o["register_webhook"]:
            self.stdout.write("webhook registered in Kommo")
