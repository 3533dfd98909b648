"""`kommo_connect --register-webhook` subscribes SITE_URL in Kommo: never a loopback address Kommo cannot reach."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from crm.actions import loopback_site_url
from crm.models import KommoAccount

pytestmark = pytest.mark.django_db


REMOTE_KOMMO = "https://demo.kommo.com"  # refused before any request: nothing leaves the machine


def connect(fake_kommo: Any, *extra: str, base_url: str = "") -> None:
    call_command("kommo_connect", "--subdomain", "demo", "--token", "kommo-test-token", "--base-url",
                 base_url or fake_kommo.base_url, "--to-call-stage", "Para Llamar", "--confirmed-stage",
                 "Venta Confirmada", *extra)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:8000/", "http://[::1]:8000",
                                 "http://0.0.0.0:8000", "http://127.0.1.1", "http://app.localhost", ""])
def test_loopback_and_missing_site_urls_are_recognised(url: str) -> None:
    assert loopback_site_url(url)


@pytest.mark.parametrize("url", ["https://centralita.example.com", "http://10.0.0.5:8000", "https://203.0.113.9"])
def test_reachable_site_urls_are_not_loopback(url: str) -> None:
    assert not loopback_site_url(url)


@override_settings(SITE_URL="http://127.0.0.1:8000", DEBUG=False)
def test_register_webhook_is_refused_while_site_url_is_the_loopback_default(fake_kommo: Any) -> None:
    fake_kommo.state.clear_requests()
    # when an operator registers the webhook in the real (remote) Kommo with SITE_URL unset (its default names
    # this machine)
    with pytest.raises(CommandError) as refused:
        connect(fake_kommo, "--register-webhook", base_url=REMOTE_KOMMO)
    # then the error names SITE_URL, and nothing reached Kommo or was saved
    assert "SITE_URL" in str(refused.value)
    assert "127.0.0.1:8000" in str(refused.value)
    assert fake_kommo.state.requests == []
    assert not KommoAccount.objects.exists()


@override_settings(SITE_URL="http://127.0.0.1:8000", DEBUG=False)
def test_connecting_without_registering_still_prints_the_url(fake_kommo: Any, capsys: Any) -> None:
    # when the operator only connects (the URL is pasted into Kommo by hand)
    connect(fake_kommo)
    # then it works and prints the URL to paste
    assert "webhook URL: http://127.0.0.1:8000/integrations/kommo/webhook/" in capsys.readouterr().out


@override_settings(SITE_URL="https://centralita.example.com", DEBUG=False)
def test_register_webhook_subscribes_the_public_site_url(fake_kommo: Any, capsys: Any) -> None:
    # when SITE_URL is the public address
    connect(fake_kommo, "--register-webhook")
    # then Kommo has a webhook at that address
    destinations = [w["destination"] for w in fake_kommo.state.webhooks()]
    assert len(destinations) == 1
    assert destinations[0].startswith("https://centralita.example.com/integrations/kommo/webhook/")
    assert "webhook registered in Kommo" in capsys.readouterr().out


@override_settings(SITE_URL="http://127.0.0.1:8000", DEBUG=True)
def test_development_may_register_a_loopback_webhook(fake_kommo: Any) -> None:
    # when DEBUG is on
    connect(fake_kommo, "--register-webhook")
    # then the webhook is registered
    assert len(fake_kommo.state.webhooks()) == 1


@override_settings(SITE_URL="http://127.0.0.1:8000", DEBUG=False)
def test_a_kommo_on_this_machine_may_get_a_loopback_webhook(fake_kommo: Any) -> None:
    # when the Kommo server itself is on this machine (the demo's fake Kommo of `make run`), it can reach us
    connect(fake_kommo, "--register-webhook")
    # then the webhook is registered
    assert len(fake_kommo.state.webhooks()) == 1


@override_settings(SITE_URL="http://localhost:8000", DEBUG=False)
def test_the_settings_page_refuses_to_register_a_webhook_kommo_cannot_reach(fake_kommo: Any) -> None:
    from accounts.roles import Role
    from accounts.tests.factories import UserFactory
    from core.errors import ActionError
    from crm.actions import check_connect_kommo

    admin = UserFactory(role=Role.ADMIN)
    fake_kommo.state.clear_requests()
    # when an administrator ticks "register the webhook in Kommo" on the settings page
    with pytest.raises(ActionError) as refused:
        check_connect_kommo(admin, subdomain="demo", token="kommo-test-token", base_url=REMOTE_KOMMO,
                            to_call_stage="Para Llamar", confirmed_stage="Venta Confirmada", register_webhook=True)
    # then the form shows why, on that field, and nothing reached Kommo or was saved
    assert refused.value.code == "site_url_unreachable" and refused.value.details["field"] == "register_webhook"
    assert "SITE_URL" in refused.value.message
    assert fake_kommo.state.requests == [] and not KommoAccount.objects.exists()
