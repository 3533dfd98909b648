from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from connectors.sms.actions import check_connect_account
from core.errors import ActionError


class Command(BaseCommand):
    help = ("Connect (or update) a Twilio SMS account: checks the credentials (GET the account's Messages list), saves "
            "it with its auth token encrypted and prints the webhook URLs to give Twilio.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--name", required=True, help="how the admin page names it")
        parser.add_argument("--account-sid", required=True, help="AC… (Twilio Console → Account Info)")
        parser.add_argument("--auth-token", required=True, help="signs Twilio's webhooks too")
        sender = parser.add_mutually_exclusive_group(required=True)
        sender.add_argument("--from-number", default="", help="the sender number in E.164 (+15017122661)")
        sender.add_argument("--messaging-service-sid", default="", help="MG… (send through a messaging service)")
        parser.add_argument("--inbox", default="", help="inbox name or code for new conversations (default: Global)")
        parser.add_argument("--rate-per-second", type=int, default=1, help="sends per second the sender allows")
        parser.add_argument("--cost-per-segment", default="0", help="cost of one segment, e.g. 0.0079")
        parser.add_argument("--currency", default="", help="ISO 4217 code of that cost (default: CURRENCY)")
        parser.add_argument("--base-url", default="", help="override https://api.twilio.com (a compatible provider)")
        parser.add_argument("--account-id", type=int, default=None, help="update this account instead of adding one")

    def handle(self, *args: Any, **o: Any) -> None:
        try:
            cost = Decimal(o["cost_per_segment"])
        except InvalidOperation as exc:
            raise CommandError(f"--cost-per-segment is not a number: {o['cost_per_segment']}") from exc
        try:
            result = check_connect_account(
                None, account_id=o["account_id"], name=o["name"], account_sid=o["account_sid"],
                auth_token=o["auth_token"], from_number=o["from_number"],
                messaging_service_sid=o["messaging_service_sid"], base_url=o["base_url"],
                rate_per_second=o["rate_per_second"], cost_per_segment=cost, currency=o["currency"], inbox=o["inbox"])
        except ActionError as exc:
            raise CommandError(exc.message) from exc
        a = result.account
        self.stdout.write(f"{'connected' if result.created else 'updated'}: #{a.pk} {a.name} ({a.sender}), "
                          f"inbox {a.inbox.code if a.inbox else 'global'}, {a.rate_per_second}/s, "
                          f"{a.cost_per_segment} {a.currency} per segment")
        self.stdout.write(f"inbound URL (Twilio → the number → Messaging → A message comes in, HTTP POST): "
                          f"{result.inbound_url}")
        self.stdout.write(f"status callback URL (sent with every SMS): {result.status_url}")
