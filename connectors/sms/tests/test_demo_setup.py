"""`manage.py demo_setup --sms-url`: the demo account connected to `make run`'s fake Twilio (re-pointed when the
fake moved to another port), the fake told where our inbound webhook is, a real account never touched; and
`manage.py sms_connect`."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command

from connectors.sms.actions import check_connect_account, inbound_url
from connectors.sms.models import SmsAccount
from core.management.commands import demo_setup as demo
from fakes.sms import DEFAULT_ACCOUNT_SID, FakeTwilioServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_fakes() -> Iterator[tuple[FakeTwilioServer, FakeTwilioServer]]:
    with (FakeTwilioServer(demo.DEMO_SMS_ACCOUNT_SID, demo.DEMO_SMS_AUTH_TOKEN) as before,
          FakeTwilioServer(demo.DEMO_SMS_ACCOUNT_SID, demo.DEMO_SMS_AUTH_TOKEN) as now):
        yield before, now


def run(**options: str) -> str:
    out = StringIO()
    call_command("demo_setup", stdout=out, **options)
    return out.getvalue()


def test_the_demo_credentials_are_the_fake_defaults():
    assert demo.DEMO_SMS_ACCOUNT_SID == DEFAULT_ACCOUNT_SID


def test_the_demo_account_is_connected_then_follows_its_fake(two_fakes, agent, settings):
    before, now = two_fakes
    settings.SITE_URL = "http://127.0.0.1:8000"
    # given a fresh database with users (the demo data is loaded) and the demo fake on its first port
    run(sms_url=before.base_url)
    account = SmsAccount.objects.get()
    assert (account.account_sid, account.from_number, account.base_url) == (demo.DEMO_SMS_ACCOUNT_SID,
                                                                            demo.DEMO_SMS_FROM, before.base_url)
    assert before.state.webhook_url == inbound_url(account)
    # when the next `make run` finds the fake on another port
    output = run(sms_url=now.base_url)
    # then the account points at it, and that fake knows our webhook
    account.refresh_from_db()
    assert account.base_url == now.base_url and SmsAccount.objects.count() == 1
    assert f"demo SMS re-pointed from {before.base_url} to {now.base_url}" in output
    assert now.state.webhook_url == inbound_url(account)
    assert run(sms_url=now.base_url) == ""


def test_a_real_account_is_never_touched(two_fakes, agent):
    _before, now = two_fakes
    with FakeTwilioServer("AC" + "5" * 32, "real-token") as real:
        check_connect_account(None, name="Real", account_sid="AC" + "5" * 32, auth_token="real-token",
                              from_number="+573001112233", base_url=real.base_url)
        run(sms_url=now.base_url)
    assert list(SmsAccount.objects.values_list("name", "base_url")) == [("Real", real.base_url)]


def test_the_connect_command_prints_the_urls(fake_sms, settings):
    settings.SITE_URL = "https://centralita.example"
    out = StringIO()
    call_command("sms_connect", name="Ventas", account_sid=fake_sms.state.account_sid,
                 auth_token=fake_sms.state.auth_token, from_number="+15017122661", cost_per_segment="0.0079",
                 currency="USD", base_url=fake_sms.base_url, stdout=out)
    account = SmsAccount.objects.get()
    assert f"connected: #{account.pk} Ventas (+15017122661)" in out.getvalue()
    assert f"https://centralita.example/integrations/sms/{account.pk}/inbound/" in out.getvalue()
