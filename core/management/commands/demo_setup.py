"""`manage.py demo_setup`: what `make run` does to the database before serving.

* An empty database (no users) gets the demo company (`seed_demo --seed 1`), after connecting the demo Kommo
  when one is given (seed_demo creates its call-center leads in it).
* With a demo WhatsApp and no number connected yet, the demo number is connected (after the demo data: its
  "whatsapp" conversations were not written through a number, so no 24-hour window applies to them).
* With a demo SMS (fake Twilio) and no SMS account yet, the demo account is connected, and the fake is told where
  our inbound webhook is (its "customers" text that URL).
* The fakes may listen on another port than last time (the default was taken): a stored *demo* connection is
  re-pointed to the URL given now through the same connect actions an admin uses. Only a connection that is
  unmistakably the demo one — the demo account and token, on a loopback address — is ever re-pointed; a real
  Kommo or WhatsApp number configured in the same database is left alone.

The demo credentials below are the ones scripts/run.sh gives the fakes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from campaigns.demo import complete_draft
from connectors.sms.actions import check_connect_account, inbound_url
from connectors.sms.models import SmsAccount
from connectors.whatsapp.actions import check_connect_number
from connectors.whatsapp.models import WhatsappNumber
from core.errors import ActionError
from crm.actions import check_connect_kommo
from crm.models import KommoAccount

DEMO_KOMMO_SUBDOMAIN = "demo"
DEMO_KOMMO_TOKEN = "demo-kommo-token"  # noqa: S105 - the fake's public demo token
DEMO_KOMMO_STAGES = ("Para Llamar", "Venta Confirmada")
DEMO_WHATSAPP_NUMBER = "106540352242922"
DEMO_WHATSAPP_WABA = "102290129340398"
DEMO_WHATSAPP_TOKEN = "demo-whatsapp-token"  # noqa: S105
DEMO_WHATSAPP_APP_SECRET = "demo-whatsapp-app-secret"  # noqa: S105
DEMO_WHATSAPP_VERIFY_TOKEN = "demo-verify-token"  # noqa: S105
DEMO_SMS_ACCOUNT_SID = "AC" + "c0ffee" * 5 + "00"  # fakes.sms.DEFAULT_ACCOUNT_SID
DEMO_SMS_AUTH_TOKEN = "demo-sms-auth-token"  # noqa: S105
DEMO_SMS_FROM = "+15005550006"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOOPBACK


def same_base(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


class Command(BaseCommand):
    help = "Demo data on an empty database, and the demo Kommo/WhatsApp/SMS connected (or re-pointed) to the fakes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kommo-url", default="", help="the fake Kommo's base URL (demo Kommo on)")
        parser.add_argument("--whatsapp-url", default="", help="the fake Graph API's base URL (demo WhatsApp on)")
        parser.add_argument("--sms-url", default="", help="the fake Twilio's base URL (demo SMS on)")

    def handle(self, *args: Any, kommo_url: str, whatsapp_url: str, sms_url: str = "", **options: Any) -> None:
        try:
            if not User.objects.exists():
                if kommo_url:
                    self.connect_kommo(kommo_url)
                self.stdout.write("centralita: empty database, loading demo data (seed_demo --seed 1)…")
                call_command("seed_demo", seed=1, stdout=self.stdout, stderr=self.stderr)
            elif kommo_url:
                self.repoint_kommo(kommo_url)
            if whatsapp_url:
                self.connect_or_repoint_whatsapp(whatsapp_url)
                complete_draft(self.stdout)
            if sms_url:
                self.connect_or_repoint_sms(sms_url)
        except ActionError as exc:
            raise CommandError(exc.message) from exc

    def connect_kommo(self, url: str, *, to_call: str = DEMO_KOMMO_STAGES[0],
                      confirmed: str = DEMO_KOMMO_STAGES[1]) -> None:

        check_connect_kommo(None, subdomain=DEMO_KOMMO_SUBDOMAIN, token=DEMO_KOMMO_TOKEN, base_url=url,
                            to_call_stage=to_call, confirmed_stage=confirmed, register_webhook=True)

    def repoint_kommo(self, url: str) -> None:
        account = KommoAccount.objects.filter(pk=1).first()
        if account is None or same_base(account.base_url, url):
            return
        if not (account.subdomain == DEMO_KOMMO_SUBDOMAIN and account.long_lived_token == DEMO_KOMMO_TOKEN
                and is_loopback(account.base_url)):
            return  # a real Kommo: never re-pointed to a local fake
        names = account.stage_names or {}
        self.connect_kommo(
            url, to_call=names.get(str(account.to_call_status_id)) or account.to_call_stage_name,
            confirmed=names.get(str(account.confirmed_status_id)) or account.confirmed_stage_name)
        self.stdout.write(f"centralita: demo Kommo re-pointed from {account.base_url} to {url}")

    def connect_or_repoint_whatsapp(self, url: str) -> None:
        if not WhatsappNumber.objects.exists():
            check_connect_number(None, phone_number_id=DEMO_WHATSAPP_NUMBER, waba_id=DEMO_WHATSAPP_WABA,
                                 token=DEMO_WHATSAPP_TOKEN, app_secret=DEMO_WHATSAPP_APP_SECRET,
                                 verify_token=DEMO_WHATSAPP_VERIFY_TOKEN, base_url=url)
            return
        number = WhatsappNumber.objects.filter(phone_number_id=DEMO_WHATSAPP_NUMBER).select_related("inbox").first()
        if number is None or same_base(number.base_url, url):
            return
        if not (number.access_token == DEMO_WHATSAPP_TOKEN and is_loopback(number.base_url)):
            return  # a real number that happens to share the id: never re-pointed
        previous = number.base_url
        # The demo's own (public) token goes with it: a stored secret is never sent to a changed server unless it
        # is typed again. Blank app secret and verify token keep the stored ones; the inbox stays as an admin left it.
        check_connect_number(None, phone_number_id=number.phone_number_id, waba_id=number.waba_id,
                             token=DEMO_WHATSAPP_TOKEN, inbox=number.inbox.code if number.inbox else "", base_url=url)
        self.stdout.write(f"centralita: demo WhatsApp re-pointed from {previous} to {url}")

    def connect_or_repoint_sms(self, url: str) -> None:
        account = SmsAccount.objects.filter(account_sid=DEMO_SMS_ACCOUNT_SID, from_number=DEMO_SMS_FROM).first()
        if account is None and SmsAccount.objects.exists():
            return  # someone connected a real account: the demo one is not added beside it
        if account is not None and (account.auth_token != DEMO_SMS_AUTH_TOKEN or not is_loopback(account.base_url)):
            return  # a real account that happens to share the demo's sender: never re-pointed
        if account is None or not same_base(account.base_url, url):
            # The demo's own (public) token goes with it: a stored secret is never sent to a changed server unless
            # it is typed again. The inbox and costs stay as an admin left them.
            result = check_connect_account(
                None, account_id=account.pk if account else None, name=account.name if account else "Demo SMS",
                account_sid=DEMO_SMS_ACCOUNT_SID, auth_token=DEMO_SMS_AUTH_TOKEN, from_number=DEMO_SMS_FROM,
                base_url=url, rate_per_second=account.rate_per_second if account else 1,
                cost_per_segment=account.cost_per_segment if account else Decimal("0.0079"),
                currency=account.currency if account else "USD",
                inbox=account.inbox.code if account and account.inbox else "")
            if account is not None:
                self.stdout.write(f"centralita: demo SMS re-pointed from {account.base_url} to {url}")
            account = result.account
        try:  # the fake's simulated customers text our inbound webhook; a fake that is down only loses that
            httpx.post(f"{url.rstrip('/')}/_fake/config", json={"webhook_url": inbound_url(account)}, timeout=5)
        except httpx.HTTPError as exc:
            self.stderr.write(f"centralita: the demo SMS did not take our webhook URL ({exc})")
