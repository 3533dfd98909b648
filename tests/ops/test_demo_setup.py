"""`manage.py demo_setup` re-points the demo connections when `make run` moved its fakes to another port.

Regression: with the fakes on fixed ports, a database whose demo Kommo pointed at :8011 kept talking to whatever
listened there (another `make run`'s fake). A real Kommo or WhatsApp number must never be re-pointed.
"""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command

from connectors.whatsapp.actions import check_connect_number
from connectors.whatsapp.models import WhatsappNumber
from core.management.commands import demo_setup as demo
from crm.actions import check_connect_kommo, webhook_url
from crm.models import KommoAccount
from fakes.kommo import FakeKommoServer
from fakes.whatsapp import FakeWhatsappServer


@pytest.fixture
def two_demo_kommos() -> Iterator[tuple[FakeKommoServer, FakeKommoServer]]:
    """The demo fake of the previous run and the one of this run, on another port."""
    with (FakeKommoServer(subdomain=demo.DEMO_KOMMO_SUBDOMAIN, token=demo.DEMO_KOMMO_TOKEN) as before,
          FakeKommoServer(subdomain=demo.DEMO_KOMMO_SUBDOMAIN, token=demo.DEMO_KOMMO_TOKEN) as now):
        yield before, now


@pytest.fixture
def two_demo_whatsapps() -> Iterator[tuple[FakeWhatsappServer, FakeWhatsappServer]]:
    with (FakeWhatsappServer(token=demo.DEMO_WHATSAPP_TOKEN, app_secret=demo.DEMO_WHATSAPP_APP_SECRET) as before,
          FakeWhatsappServer(token=demo.DEMO_WHATSAPP_TOKEN, app_secret=demo.DEMO_WHATSAPP_APP_SECRET) as now):
        yield before, now


def run_demo_setup(**options: str) -> str:
    out = StringIO()
    call_command("demo_setup", stdout=out, **options)
    return out.getvalue()


@pytest.mark.django_db
def test_demo_kommo_follows_its_fake_to_a_new_port(two_demo_kommos, agent):
    before, now = two_demo_kommos
    # given a database set up by an earlier `make run` whose demo Kommo listened on another port
    check_connect_kommo(None, subdomain=demo.DEMO_KOMMO_SUBDOMAIN, token=demo.DEMO_KOMMO_TOKEN,
                        base_url=before.base_url, to_call_stage=demo.DEMO_KOMMO_STAGES[0],
                        confirmed_stage=demo.DEMO_KOMMO_STAGES[1], register_webhook=True)
    # when this run's fake listens elsewhere
    output = run_demo_setup(kommo_url=now.base_url)
    # then the stored connection points at this run's fake, whose webhook now calls us
    account = KommoAccount.objects.get()
    assert account.base_url == now.base_url
    assert account.to_call_stage_name == demo.DEMO_KOMMO_STAGES[0]
    assert f"demo Kommo re-pointed from {before.base_url} to {now.base_url}" in output
    assert webhook_url(account) in [hook["destination"] for hook in now.state.webhooks()]
    # and a second start on the same port changes nothing
    assert run_demo_setup(kommo_url=now.base_url) == ""


@pytest.mark.django_db
def test_a_real_kommo_is_never_repointed_to_the_demo_fake(two_demo_kommos, agent):
    _before, now = two_demo_kommos
    # given a Kommo an admin connected with their own account and token (here served locally, as in tests)
    with FakeKommoServer(subdomain="acme", token="acme-real-token") as real:
        check_connect_kommo(None, subdomain="acme", token="acme-real-token", base_url=real.base_url,
                            to_call_stage=demo.DEMO_KOMMO_STAGES[0], confirmed_stage=demo.DEMO_KOMMO_STAGES[1])
        # when make run starts with its demo fake on a new port
        run_demo_setup(kommo_url=now.base_url)
        # then the real connection is untouched
        assert KommoAccount.objects.get().base_url == real.base_url
    # and neither is the demo account once it points away from this machine (a real Kommo reached by URL)
    account = KommoAccount.objects.get()
    account.subdomain, account.long_lived_token = demo.DEMO_KOMMO_SUBDOMAIN, demo.DEMO_KOMMO_TOKEN
    account.base_url = "https://demo.kommo.com"
    account.save()
    run_demo_setup(kommo_url=now.base_url)
    assert KommoAccount.objects.get().base_url == "https://demo.kommo.com"


@pytest.mark.django_db
def test_demo_whatsapp_follows_its_fake_and_a_real_number_stays(two_demo_whatsapps, agent):
    before, now = two_demo_whatsapps
    # given the demo number connected to the previous run's fake, and a real number connected by an admin
    check_connect_number(None, phone_number_id=demo.DEMO_WHATSAPP_NUMBER, waba_id=demo.DEMO_WHATSAPP_WABA,
                         token=demo.DEMO_WHATSAPP_TOKEN, app_secret=demo.DEMO_WHATSAPP_APP_SECRET,
                         verify_token=demo.DEMO_WHATSAPP_VERIFY_TOKEN, base_url=before.base_url)
    WhatsappNumber.objects.create(phone_number_id="555000111", waba_id="555", access_token="real-token",
                                  app_secret="real-secret", verify_token="v", base_url="https://graph.facebook.com")
    # when this run's fake listens elsewhere
    output = run_demo_setup(whatsapp_url=now.base_url)
    # then only the demo number follows it, keeping its secrets
    number = WhatsappNumber.objects.get(phone_number_id=demo.DEMO_WHATSAPP_NUMBER)
    assert number.base_url == now.base_url and number.access_token == demo.DEMO_WHATSAPP_TOKEN
    assert number.verify_token == demo.DEMO_WHATSAPP_VERIFY_TOKEN
    assert f"demo WhatsApp re-pointed from {before.base_url} to {now.base_url}" in output
    assert WhatsappNumber.objects.get(phone_number_id="555000111").base_url == "https://graph.facebook.com"
