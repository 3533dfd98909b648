"""Processing inbound messages in the worker: every message type, the customer by E.164 phone, media downloaded
from the (fake) Graph API, idempotency on the wamid, and the 24-hour window clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.whatsapp.actions import do_process_delivery
from connectors.whatsapp.models import WebhookDelivery, WhatsappContact, WhatsappNumber
from connectors.whatsapp.tests.helpers import WA_ID, clear_tasks, inbound, post, run_worker
from customers.actions import do_upsert_customer
from fakes import whatsapp as fw
from inbox.attachments import read_attachment
from inbox.models import Conversation, Message

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _tasks():
    clear_tasks()
    yield
    clear_tasks()


@pytest.fixture
def deliver(client, whatsapp_number, django_capture_on_commit_callbacks):
    """POSTs signed webhooks and runs the worker; returns the newest inbound message."""

    def send(*items, name="Ana Peña", wa_id=WA_ID):
        with django_capture_on_commit_callbacks(execute=True):
            assert post(client, whatsapp_number, inbound(whatsapp_number, *items, name=name, wa_id=wa_id)
                        ).status_code == 200
        run_worker()
        return Message.objects.filter(kind="inbound").order_by("-id").first()

    return send


def test_text_creates_the_customer_by_phone_and_a_conversation_on_the_number(deliver, whatsapp_number):
    # given a customer writes for the first time
    m = deliver(fw.text_message(WA_ID, "Hola, ¿dónde está mi pedido 1042?", timestamp=1739321024))
    # then the inbox has their message, the customer is found/created by E.164 and the conversation is pinned
    c = m.conversation
    assert m.body == "Hola, ¿dónde está mi pedido 1042?" and m.meta["type"] == "text"
    assert m.created_at == datetime.fromtimestamp(1739321024, tz=UTC)
    assert c.channel == "whatsapp" and c.channel_ref == f"wa:{whatsapp_number.phone_number_id}"
    assert c.customer.name == "Ana Peña"
    assert list(c.customer.phones.values_list("e164", flat=True)) == ["+573001234567"]
    assert c.inbox.is_global
    contact = WhatsappContact.objects.get()
    assert contact.wa_id == WA_ID and contact.customer == c.customer
    assert contact.last_inbound_at == m.created_at


def test_the_same_person_from_kommo_is_one_customer(deliver):
    # given Kommo already brought this person with a nationally written phone
    kommo = do_upsert_customer(name="Ana Peña (Kommo)", phones=["300 123 4567"])
    # when they write on WhatsApp
    m = deliver(fw.text_message(WA_ID, "Hola"), name="Anita")
    # then it is the same customer
    assert m.conversation.customer_id == kommo.pk


def test_the_numbers_inbox_receives_its_conversations(deliver, whatsapp_number):
    from inbox.models import Inbox

    whatsapp_number.inbox = Inbox.objects.create(name="Ventas WA", code="ventas-wa", auto_assign=False)
    whatsapp_number.save()
    assert deliver(fw.text_message(WA_ID, "Hola")).conversation.inbox.code == "ventas-wa"


@pytest.mark.parametrize(("kind", "mime", "extra", "body"), [
    ("image", "image/png", {"caption": "Así llegó la caja"}, "Así llegó la caja"),
    ("video", "video/mp4", {}, "Video"),
    ("audio", "audio/ogg", {"voice": True}, "Audio"),
    ("document", "application/pdf", {"filename": "factura-1042.pdf"}, "Documento: factura-1042.pdf"),
    ("sticker", "image/webp", {"animated": False}, "Sticker"),
])
def test_media_is_downloaded_with_the_token_and_stored_as_an_attachment(deliver, fake_whatsapp, kind, mime, extra,
                                                                          body):
    # given the customer sends media that lives at Meta
    data = PNG + kind.encode()
    media_id = fake_whatsapp.state.add_media(data, mime, extra.get("filename", ""))
    content = {"id": media_id, "mime_type": mime, "sha256": "x", **extra}
    # when the webhook is processed
    m = deliver(fw.message(kind, WA_ID, **{kind: content}))
    # then the bytes were fetched (GET /{media-id}, then the URL with the bearer token) and stored
    assert m.body == body and m.meta["type"] == kind and m.meta["media"]["kind"] == kind
    (attachment,) = m.attachments
    assert attachment["content_type"] == mime and attachment["size"] == len(data)
    assert read_attachment(attachment) == data
    downloads = [r for r in fake_whatsapp.state.requests if r["path"].startswith("/whatsapp_business/")]
    assert downloads and downloads[0]["authorization"] == "Bearer wa-test-token"


def test_expired_media_shows_a_visible_note_instead_of_failing(deliver):
    m = deliver(fw.message("image", WA_ID, image={"id": "404404", "mime_type": "image/jpeg", "sha256": "x"}))
    assert m.attachments == [] and "no se pudo descargar" in m.body and m.meta["media_error"]


@pytest.mark.faults
def test_media_while_meta_is_down_is_retried_then_stored(client, whatsapp_number, fake_whatsapp,
                                                         django_capture_on_commit_callbacks):
    # given Meta answers 500 to the media lookups for a while
    media_id = fake_whatsapp.state.add_media(PNG, "image/png")
    fake_whatsapp.state.fail_next(4, status=500, path=f"/{media_id}")
    payload = inbound(whatsapp_number, fw.message("image", WA_ID, image={"id": media_id, "mime_type": "image/png"}))
    with django_capture_on_commit_callbacks(execute=True):
        post(client, whatsapp_number, payload)
    delivery = WebhookDelivery.objects.get()
    # when the worker processes it: the first attempt gives up after the in-call retries
    assert run_worker(rounds=1) == [{"retrying": 1}]
    assert WebhookDelivery.objects.get().state == "received" and not Message.objects.exists()
    # then the deferred retry stores it (nothing lost, nothing twice)
    run_worker()
    delivery.refresh_from_db()
    assert delivery.state == "processed" and delivery.attempts == 2
    assert Message.objects.get().attachments[0]["size"] == len(PNG)


def test_location_contacts_and_replies(deliver):
    location = deliver(fw.message("location", WA_ID, location={"latitude": 6.2442, "longitude": -75.5812,
                                                               "name": "Tienda El Poblado",
                                                               "address": "Cra. 43A #1-50, Medellín"}))
    assert location.meta["location"]["latitude"] == 6.2442
    assert "Tienda El Poblado" in location.body and "6.2442" in location.body
    contacts = deliver(fw.message("contacts", WA_ID, contacts=[
        {"name": {"formatted_name": "Luis Gómez", "first_name": "Luis"},
         "phones": [{"phone": "+57 310 555 1234", "wa_id": "573105551234", "type": "CELL"}]}]))
    assert contacts.meta["contacts"][0]["name"] == "Luis Gómez" and "+57 310 555 1234" in contacts.body
    button = deliver(fw.message("interactive", WA_ID, interactive={
        "type": "button_reply", "button_reply": {"id": "si-confirmo", "title": "Sí, confirmo"}}))
    assert button.body == "Sí, confirmo" and button.meta["reply"] == {
        "kind": "button_reply", "id": "si-confirmo", "title": "Sí, confirmo", "description": ""}
    listed = deliver(fw.message("interactive", WA_ID, interactive={
        "type": "list_reply", "list_reply": {"id": "envio-express", "title": "Envío exprés",
                                             "description": "24 horas"}}))
    assert listed.body == "Envío exprés — 24 horas" and listed.meta["reply"]["id"] == "envio-express"
    quick = deliver(fw.message("button", WA_ID, button={"text": "Continuar", "payload": "continuar"},
                               context={"from": "15550783881", "id": "wamid.template"}))
    assert quick.body == "Continuar" and quick.meta["reply"]["id"] == "continuar"
    assert quick.meta["context"]["id"] == "wamid.template"
    assert len({m.conversation_id for m in (location, contacts, button, listed, quick)}) == 1


def test_reaction_is_a_short_visible_message_and_a_removed_one_is_ignored(deliver):
    m = deliver(fw.message("reaction", WA_ID, reaction={"message_id": "wamid.ours", "emoji": "👍"}))
    assert m.body == "Reaccionó con 👍 a un mensaje" and m.meta["reaction"]["message_id"] == "wamid.ours"
    deliver(fw.message("reaction", WA_ID, reaction={"message_id": "wamid.ours", "emoji": ""}))
    assert Message.objects.filter(kind="inbound").count() == 1
    assert WebhookDelivery.objects.filter(state="processed").count() == 2


def test_unsupported_and_unknown_types_show_a_placeholder(deliver):
    m = deliver(fw.message("unsupported", WA_ID, errors=[{"code": 131051, "title": "Message type unknown"}]))
    assert "no compatible" in m.body and m.meta["unsupported"]["errors"] == "131051 Message type unknown"
    odd = deliver(fw.message("hologram", WA_ID))
    assert "«hologram»" in odd.body
    order = deliver(fw.message("order", WA_ID, order={"catalog_id": "1", "product_items": [
        {"product_retailer_id": "SKU-1", "quantity": 2, "item_price": 10, "currency": "COP"}]}))
    assert "Pedido del catálogo: 1 productos" in order.body


def test_duplicate_message_ids_store_one_message_and_download_once(client, whatsapp_number, fake_whatsapp,
                                                                   django_capture_on_commit_callbacks):
    media_id = fake_whatsapp.state.add_media(PNG, "image/png")
    item = fw.message("image", WA_ID, image={"id": media_id, "mime_type": "image/png"})
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):  # Meta's retries, one of them bundled with another message
            post(client, whatsapp_number, inbound(whatsapp_number, item))
        post(client, whatsapp_number, inbound(whatsapp_number, item, fw.text_message(WA_ID, "¿Lo ven?")))
    run_worker()
    assert Message.objects.filter(kind="inbound").count() == 2
    assert len([r for r in fake_whatsapp.state.requests if r["path"] == f"/v23.0/{media_id}"]) == 1


def test_a_late_redelivery_never_moves_the_window_back(deliver):
    deliver(fw.text_message(WA_ID, "nuevo", timestamp=1_800_000_000))
    deliver(fw.text_message(WA_ID, "viejo", timestamp=1_700_000_000))
    assert WhatsappContact.objects.get().last_inbound_at == datetime.fromtimestamp(1_800_000_000, tz=UTC)


def test_changes_for_numbers_of_another_app_are_ignored(client, whatsapp_number,
                                                        django_capture_on_commit_callbacks):
    # given another connected number whose Meta app has a different secret
    WhatsappNumber.objects.create(phone_number_id="777", waba_id="778", access_token="t", app_secret="other",
                                  verify_token="v")
    payload = fw.inbound_payload([fw.text_message(WA_ID, "inyectado")], name="X", phone_number_id="777")
    # when a body signed with our app's secret speaks for that number
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, whatsapp_number, payload).status_code == 200
    run_worker()
    # then nothing enters its inbox
    assert not Conversation.objects.exists()
    assert "not connected with this app" in WebhookDelivery.objects.get().error


def test_garbage_and_foreign_objects_are_recorded_not_retried(whatsapp_number):
    bad = WebhookDelivery.objects.create(number=whatsapp_number, body="{no es json")
    page = WebhookDelivery.objects.create(number=whatsapp_number, body='{"object":"page","entry":[]}')
    assert do_process_delivery(bad.pk) == "failed" and do_process_delivery(page.pk) == "ignored"
    assert do_process_delivery(bad.pk) == "skipped"
