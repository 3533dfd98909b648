"""Administración → SMS: connecting and editing an account (credentials checked against the fake), the webhook URLs
to paste into Twilio, the deliveries list with retry, and the demo's "Simular SMS entrante"."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from connectors.sms.actions import check_connect_account, do_process_delivery
from connectors.sms.models import SmsAccount, WebhookDelivery
from connectors.sms.tests.helpers import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER
from core.errors import ActionError
from core.models import AuditLog
from inbox.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client_for):
    return client_for(UserFactory(role=Role.ADMIN, username="admin"))


def form(fake_sms, **changes):
    return {"name": "Ventas Colombia", "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
            "from_number": "+1 501 712 2661", "messaging_service_sid": "", "inbox": "", "rate_per_second": 1,
            "cost_per_segment": "0,0079", "currency": "usd", "base_url": fake_sms.base_url} | changes


def test_connecting_checks_the_credentials_and_shows_the_urls(admin, fake_sms, settings):
    settings.SITE_URL = "https://centralita.example"
    # when an admin connects an account
    response = admin.post(reverse("sms:settings"), form(fake_sms), follow=True)
    # then Twilio was asked for the account's messages with those credentials, and the account is saved
    page = response.content.decode()
    assert "Cuenta «Ventas Colombia» conectada" in page
    account = SmsAccount.objects.get()
    assert (account.from_number, account.currency, account.cost_per_segment) == (FROM_NUMBER, "USD",
                                                                                  Decimal("0.0079"))
    assert account.auth_token == AUTH_TOKEN and account.connected_at is not None
    (check,) = fake_sms.state.requests
    assert (check["method"], check["query"]) == ("GET", {"PageSize": "1"})
    # and the page shows the URLs to paste into Twilio, never the token
    assert f"https://centralita.example/integrations/sms/{account.pk}/inbound/" in page
    assert f"https://centralita.example/integrations/sms/{account.pk}/status/" in page
    assert AUTH_TOKEN not in page
    entry = AuditLog.objects.get(action="sms.connected")
    assert AUTH_TOKEN not in str(entry.changes) and entry.changes["sender"] == FROM_NUMBER


def test_wrong_credentials_show_twilio_answer_and_save_nothing(admin, fake_sms):
    response = admin.post(reverse("sms:settings"), form(fake_sms, auth_token="otro"))
    assert response.status_code == 400
    assert "Twilio respondió: 20003: Authenticate" in response.content.decode()
    assert not SmsAccount.objects.exists()


@pytest.mark.parametrize(("changes", "message"), [
    ({"account_sid": "AC123"}, "El Account SID empieza por «AC»"),
    ({"from_number": "300 123"}, "formato internacional E.164"),
    ({"from_number": "", "messaging_service_sid": ""}, "uno de los dos"),
    ({"messaging_service_sid": "MG" + "a" * 32}, "uno de los dos"),
    ({"from_number": "", "messaging_service_sid": "XX1"}, "El Messaging Service SID empieza por «MG»"),
    ({"currency": "pesos"}, "Asegúrese de que este valor tenga menos de 3 caracteres"),
])
def test_invalid_fields_are_named(admin, fake_sms, changes, message):
    response = admin.post(reverse("sms:settings"), form(fake_sms, **changes))
    assert response.status_code == 400 and message in response.content.decode()
    assert not SmsAccount.objects.exists()


def test_editing_keeps_the_stored_token_unless_the_server_changes(admin, fake_sms, settings):
    account = check_connect_account(None, name="Ventas", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                                    from_number=FROM_NUMBER, base_url=fake_sms.base_url).account
    page = admin.get(reverse("sms:edit", args=[account.pk])).content.decode()
    assert AUTH_TOKEN not in page and 'value="Ventas"' in page
    # a blank token keeps the stored one
    response = admin.post(reverse("sms:edit", args=[account.pk]),
                          form(fake_sms, auth_token="", name="Ventas CO", rate_per_second=3), follow=True)
    assert "Cuenta «Ventas CO» guardada" in response.content.decode()
    account.refresh_from_db()
    assert (account.name, account.rate_per_second, account.auth_token) == ("Ventas CO", 3, AUTH_TOKEN)
    # but a stored token never goes to another server
    moved = admin.post(reverse("sms:edit", args=[account.pk]),
                       form(fake_sms, auth_token="", base_url="https://evil.example"))
    assert moved.status_code == 400 and "escriba de nuevo el Auth Token" in moved.content.decode()
    assert fake_sms.state.requests[-1]["authorization"]  # the fake was the last one asked


def test_the_same_sender_cannot_be_connected_twice(fake_sms):
    check_connect_account(None, name="A", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number=FROM_NUMBER,
                          base_url=fake_sms.base_url)
    with pytest.raises(ActionError) as clash:
        check_connect_account(None, name="B", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                              from_number=FROM_NUMBER, base_url=fake_sms.base_url)
    assert clash.value.code == "sms_account_exists"


def test_deactivating_stops_the_webhooks(admin, sms_account, fake_sms, client):
    admin.post(reverse("sms:set_active", args=[sms_account.pk]), {"active": "0"})
    sms_account.refresh_from_db()
    assert not sms_account.is_active
    assert client.post(reverse("sms:inbound", args=[sms_account.pk]), b"a=b",
                       content_type="application/x-www-form-urlencoded").status_code == 404


def test_deliveries_list_and_retry(admin, sms_account, django_capture_on_commit_callbacks):
    failed = WebhookDelivery.objects.create(account=sms_account, kind="inbound", body="MessageSid=SM1&From=x",
                                            message_sid="SM1", state="failed", error="boom", attempts=8)
    rejected = WebhookDelivery.objects.create(account=sms_account, kind="status", body="x", state="rejected",
                                              error="missing X-Twilio-Signature")
    page = admin.get(reverse("sms:deliveries")).content.decode()
    assert "missing X-Twilio-Signature" in page and "Estado de entrega" in page and "SM1" in page
    assert admin.get(reverse("sms:deliveries") + "?state=rejected").content.decode().count("<tr data-state") == 1
    # a failed one goes back in line; a rejected one never does
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(reverse("sms:delivery_retry", args=[failed.pk]))
    failed.refresh_from_db()
    assert (failed.state, failed.attempts) == ("received", 0)
    response = admin.post(reverse("sms:delivery_retry", args=[rejected.pk]), follow=True)
    assert "rechazado por su firma" in response.content.decode()


def test_agents_cannot_open_the_page(client_for, sms_account):
    agent = client_for(UserFactory(role=Role.AGENTE))
    assert agent.get(reverse("sms:settings")).status_code == 403
    assert agent.get(reverse("sms:edit", args=[sms_account.pk])).status_code == 403


def test_simulation_is_only_offered_in_demo_mode(admin, sms_account, settings):
    settings.SMS_DEMO = False
    assert 'data-testid="sms-simulate"' not in admin.get(reverse("sms:settings")).content.decode()
    response = admin.post(reverse("sms:simulate", args=[sms_account.pk]),
                          {"phone": "+573005550101", "text": "hola"}, follow=True)
    assert "solo está disponible en modo demo" in response.content.decode()
    settings.SMS_DEMO = True
    assert 'data-testid="sms-simulate"' in admin.get(reverse("sms:settings")).content.decode()


@pytest.mark.django_db(transaction=True)
def test_simulate_posts_a_signed_sms_to_ourselves(sms_live_server, fake_sms, client_for, settings):
    # given the demo, served by a real daphne
    settings.SMS_DEMO = True
    account = check_connect_account(None, name="Demo", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                                    from_number=FROM_NUMBER, base_url=fake_sms.base_url).account
    admin = client_for(UserFactory(role=Role.ADMIN))
    # when the admin presses "Simular SMS entrante"
    response = admin.post(reverse("sms:simulate", args=[account.pk]),
                          {"phone": "+57 300 555 0102", "text": "Hola desde la demo"}, follow=True)
    # then our own endpoint accepted it (the real signature check) and the worker puts it in the inbox
    assert "SMS simulado recibido" in response.content.decode()
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.state == "received"
    assert do_process_delivery(delivery.pk) == "processed"
    message = Message.objects.get(kind="inbound")
    assert (message.body, message.conversation.channel) == ("Hola desde la demo", "sms")
    assert list(message.conversation.customer.phones.values_list("e164", flat=True)) == ["+573005550102"]
