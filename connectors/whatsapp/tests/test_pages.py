"""The admin page (connect, secrets never shown, deliveries, retry), the conversation's WhatsApp rendering, and the
whatsapp_connect command against the fake Graph API."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from connectors.whatsapp.models import WebhookDelivery, WhatsappNumber
from connectors.whatsapp.tests.helpers import WA_ID, clear_tasks, inbound, post, run_worker
from fakes import whatsapp as fw
from inbox.models import Inbox, Message

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _tasks():
    clear_tasks()
    yield
    clear_tasks()


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(role=Role.ADMIN))
    return client


def test_admin_page_shows_the_webhook_url_and_never_the_secrets(admin_client, whatsapp_number, settings):
    page = admin_client.get(reverse("whatsapp:settings")).content.decode()
    assert f"{settings.SITE_URL}/integrations/whatsapp/webhook/{whatsapp_number.phone_number_id}/" in page
    assert "Centralita Demo" in page and "4 plantillas aprobadas" in page
    for secret in ("wa-test-token", "wa-test-app-secret", "wa-verify-token"):
        assert secret not in page


def test_connect_form_checks_the_number_at_meta_and_keeps_blank_secrets(admin_client, whatsapp_number,
                                                                        fake_whatsapp):
    Inbox.objects.get_or_create(code="ventas", defaults={"name": "Ventas"})
    form = {"phone_number_id": whatsapp_number.phone_number_id, "waba_id": whatsapp_number.waba_id, "token": "",
            "app_secret": "", "verify_token": "", "inbox": "ventas", "base_url": fake_whatsapp.base_url}
    response = admin_client.post(reverse("whatsapp:settings"), form, follow=True)
    assert "conectado" in response.content.decode()
    number = WhatsappNumber.objects.get()
    assert number.inbox.code == "ventas" and number.app_secret == "wa-test-app-secret"
    assert number.verify_token == "wa-verify-token"  # kept, not regenerated


def test_connect_form_shows_metas_error_for_a_bad_token(admin_client, fake_whatsapp):
    form = {"phone_number_id": "106540352242922", "waba_id": "102290129340398", "token": "wrong",
            "app_secret": "s", "verify_token": "", "base_url": fake_whatsapp.base_url}
    page = admin_client.post(reverse("whatsapp:settings"), form).content.decode()
    assert "WhatsApp respondió: (#190) Invalid OAuth access token" in page
    assert not WhatsappNumber.objects.exists()


def test_a_new_number_without_verify_token_gets_one_shown_once(admin_client, fake_whatsapp):
    form = {"phone_number_id": "106540352242922", "waba_id": "102290129340398", "token": "fake-whatsapp-token",
            "app_secret": "s", "verify_token": "", "base_url": fake_whatsapp.base_url}
    fake_whatsapp.state.tokens.add("fake-whatsapp-token")
    page = admin_client.post(reverse("whatsapp:settings"), form, follow=True).content.decode()
    token = WhatsappNumber.objects.get().verify_token
    assert len(token) >= 20 and token in page
    assert token not in admin_client.get(reverse("whatsapp:settings")).content.decode()


def test_deactivating_stops_the_intake(admin_client, client, whatsapp_number):
    admin_client.post(reverse("whatsapp:set_active", args=[whatsapp_number.pk]), {"active": "0"})
    assert post(client, whatsapp_number, inbound(whatsapp_number, fw.text_message(WA_ID, "x"))).status_code == 404


def test_deliveries_page_lists_rejections_with_their_reason_and_retries_failures(admin_client, client,
                                                                                whatsapp_number):
    post(client, whatsapp_number, inbound(whatsapp_number, fw.text_message(WA_ID, "x")), secret=None)
    failed = WebhookDelivery.objects.create(number=whatsapp_number, body="{}", state="failed", error="boom")
    page = admin_client.get(reverse("whatsapp:deliveries")).content.decode()
    assert "missing X-Hub-Signature-256" in page and "Rechazado" in page
    admin_client.post(reverse("whatsapp:delivery_retry", args=[failed.pk]))
    failed.refresh_from_db()
    assert failed.state == "received"
    rejected = WebhookDelivery.objects.get(state="rejected")
    response = admin_client.post(reverse("whatsapp:delivery_retry", args=[rejected.pk]), follow=True)
    assert "nunca" in response.content.decode()


def test_agents_cannot_open_the_admin_page(client, whatsapp_number):
    client.force_login(UserFactory(role=Role.AGENTE))
    assert client.get(reverse("whatsapp:settings")).status_code == 403


def test_the_conversation_renders_media_location_contacts_and_ticks(client, whatsapp_number, fake_whatsapp,
                                                                   django_capture_on_commit_callbacks):
    media_id = fake_whatsapp.state.add_media(b"\x89PNG", "image/png")
    items = [fw.message("image", WA_ID, image={"id": media_id, "mime_type": "image/png", "caption": "La caja"}),
             fw.message("location", WA_ID, location={"latitude": 6.2442, "longitude": -75.5812, "name": "Tienda"}),
             fw.message("contacts", WA_ID, contacts=[{"name": {"formatted_name": "Luis"},
                                                      "phones": [{"phone": "+573105551234"}]}]),
             fw.message("audio", WA_ID, audio={"id": fake_whatsapp.state.add_media(b"OggS", "audio/ogg"),
                                               "mime_type": "audio/ogg", "voice": True})]
    with django_capture_on_commit_callbacks(execute=True):
        post(client, whatsapp_number, inbound(whatsapp_number, *items))
    run_worker()
    image = Message.objects.get(meta__type="image")
    agent = UserFactory(role=Role.SUPERVISOR)
    from connectors.whatsapp.outbound import send_outbound
    from inbox.actions import check_send_reply

    outbound = check_send_reply(agent, image.conversation_id, body="Gracias")
    send_outbound(outbound.pk)
    client.force_login(agent)
    page = client.get(reverse("inbox:detail", args=[image.conversation_id])).content.decode()
    attachment = reverse("inbox:attachment", args=[image.pk, 0])
    assert f'<img src="{attachment}"' in page and "La caja" in page
    assert "openstreetmap.org/?mlat=6.244200&amp;mlon=-75.581200" in page
    assert 'href="tel:+573105551234"' in page
    assert "<audio controls" in page
    assert 'data-testid="wa-status" data-status="sent"' in page and "✓ Enviado" in page


def test_connect_command_against_the_fake(fake_whatsapp, settings, capsys):
    # given the fake Graph API / when the admin runs the command
    call_command("whatsapp_connect", "--phone-number-id", "106540352242922", "--waba-id", "102290129340398",
                 "--token", "wa-test-token", "--app-secret", "s3cret", "--verify-token", "mi-token",
                 "--base-url", fake_whatsapp.base_url)
    out = capsys.readouterr().out
    # then the number is saved with what Meta says about it, and the webhook URL is printed
    assert "connected: 15550783881 (Centralita Demo)" in out and "templates: 4 approved" in out
    assert f"webhook URL: {settings.SITE_URL}/integrations/whatsapp/webhook/106540352242922/" in out
    number = WhatsappNumber.objects.get()
    assert (number.app_secret, number.verify_token) == ("s3cret", "mi-token")
    assert "s3cret" not in out and "wa-test-token" not in out
    # and the handshake now answers with that verify token
    from django.test import Client

    ok = Client().get("/integrations/whatsapp/webhook/106540352242922/",
                      {"hub.mode": "subscribe", "hub.verify_token": "mi-token", "hub.challenge": "42"})
    assert ok.content == b"42"


def test_connect_command_reports_metas_error(fake_whatsapp):
    with pytest.raises(CommandError, match=r"\(#190\)"):
        call_command("whatsapp_connect", "--phone-number-id", "106540352242922", "--waba-id", "1", "--token", "x",
                     "--app-secret", "s", "--verify-token", "v", "--base-url", fake_whatsapp.base_url)
    with pytest.raises(CommandError, match="bandeja"):
        call_command("whatsapp_connect", "--phone-number-id", "106540352242922", "--waba-id", "1",
                     "--token", "wa-test-token", "--app-secret", "s", "--verify-token", "v",
                     "--inbox", "no-existe", "--base-url", fake_whatsapp.base_url)
