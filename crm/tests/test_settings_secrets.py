"""Issue 12: the Kommo page never shows stored secrets back in full; the webhook URL is shown in full once."""

from __future__ import annotations

import pytest

from crm.models import KommoAccount

pytestmark = pytest.mark.django_db


def connect_form(fake_kommo, **overrides):
    return {"subdomain": "demo", "auth_mode": "long_lived", "token": "kommo-test-token", "client_id": "",
            "client_secret": "", "redirect_uri": "", "base_url": fake_kommo.base_url, "to_call_stage": "Para Llamar",
            "confirmed_stage": "Venta Confirmada", **overrides}


def test_webhook_url_is_shown_in_full_once_after_connecting_then_masked(admin_user, client_for, fake_kommo):
    client = client_for(admin_user)
    # when the administrator connects Kommo on the page
    assert client.post("/settings/kommo/", connect_form(fake_kommo)).status_code == 302
    secret = KommoAccount.objects.get().webhook_secret
    # then the next page shows the whole webhook URL, to paste into Kommo
    first = client.get("/settings/kommo/").content.decode()
    assert f"/integrations/kommo/webhook/{secret}/" in first and 'data-testid="webhook-url-once"' in first
    # and every later view shows it masked, and never the token
    later = client.get("/settings/kommo/").content.decode()
    assert secret not in later and f"/integrations/kommo/webhook/••••{secret[-4:]}/" in later
    assert "kommo-test-token" not in first + later
    assert "••••oken" in later  # the token's last characters tell which one is stored


def test_reconnecting_with_a_blank_token_keeps_the_stored_one(admin_user, client_for, fake_kommo, kommo_account):
    client = client_for(admin_user)
    response = client.post("/settings/kommo/", connect_form(fake_kommo, token="", confirmed_stage="Para Llamar"))
    assert response.status_code == 302
    account = KommoAccount.objects.get()
    assert (account.long_lived_token, account.confirmed_stage_name) == ("kommo-test-token", "Para Llamar")


def test_rotating_the_webhook_secret_shows_the_new_url_once(admin_user, client_for, kommo_account):
    client = client_for(admin_user)
    old = kommo_account.webhook_secret
    # when the administrator asks for a new URL
    assert client.post("/settings/kommo/webhook-secret/rotate/").status_code == 302
    new = KommoAccount.objects.get().webhook_secret
    # then the old URL stops working, the new one is shown once, then masked
    assert new != old
    assert client.post(f"/integrations/kommo/webhook/{old}/", data=b"x",
                       content_type="application/x-www-form-urlencoded").status_code == 404
    assert f"/integrations/kommo/webhook/{new}/" in client.get("/settings/kommo/").content.decode()
    assert new not in client.get("/settings/kommo/").content.decode()


def test_oauth_round_trip_keeps_the_client_secret_encrypted_in_the_session(admin_user, client_for, fake_kommo):
    client = client_for(admin_user)
    response = client.post("/settings/kommo/", connect_form(fake_kommo, auth_mode="oauth", token="",
                                                            client_id="integration-1",
                                                            client_secret="oauth-client-secret"))
    assert response.status_code == 302
    pending = client.session["kommo_oauth"]
    assert pending["client_secret"].startswith("fernet:") and "oauth-client-secret" not in str(pending)
