"""Issue 12: senders as Meta really sends them. Mexican wa_ids with the legacy `521` mobile prefix, Argentine
`549…` mobiles, and users known only by their business-scoped user id (usernames rollout, no `from`)."""

from __future__ import annotations

import time

import pytest

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from connectors.whatsapp.models import WebhookDelivery, WhatsappContact
from connectors.whatsapp.outbound import send_outbound
from connectors.whatsapp.tests.helpers import clear_tasks, post, run_worker
from customers.actions import do_upsert_customer
from customers.models import Customer
from fakes import whatsapp as fw
from inbox import actions as inbox
from inbox.models import Message

pytestmark = pytest.mark.django_db
MX_WA_ID = "5215512345678"  # what Meta sends for the Mexican mobile +52 55 1234 5678
AR_WA_ID = "5491123456789"  # +54 9 11 2345 6789
BSUID = "MX.13491208655302741918"


@pytest.fixture(autouse=True)
def _tasks():
    clear_tasks()
    yield
    clear_tasks()


@pytest.fixture
def agent(db):
    return UserFactory(role=Role.AGENTE, username="valeria")


def deliver(client, number, payload, capture) -> Message | None:
    with capture(execute=True):
        assert post(client, number, payload).status_code == 200
    run_worker()
    return Message.objects.filter(kind="inbound").order_by("-id").first()


def payload(number, items, contacts):
    return fw.envelope({"contacts": contacts, "messages": items}, phone_number_id=number.phone_number_id,
                       display_phone_number=number.display_phone_number, waba_id=number.waba_id)


def sent(fake):
    return [s for s in fake.state.sent if s["type"] != "read"]


def test_mexican_521_wa_id_is_the_kommo_customer_and_replies_go_to_the_raw_wa_id(
        client, whatsapp_number, fake_whatsapp, agent, django_capture_on_commit_callbacks):
    # given Kommo brought this person as +52 + 10 digits
    kommo = do_upsert_customer(name="Lupita (Kommo)", phones=["+52 55 1234 5678"])
    # when they write on WhatsApp, where Meta still sends the legacy 521 + 10 digits wa_id
    m = deliver(client, whatsapp_number, payload(
        whatsapp_number, [fw.text_message(MX_WA_ID, "Hola, quiero pedir")],
        [{"profile": {"name": "Lupita"}, "wa_id": MX_WA_ID}]), django_capture_on_commit_callbacks)
    # then it is the same customer, with one phone stored in E.164 without the 1
    assert m is not None and m.conversation.customer_id == kommo.pk
    assert list(kommo.phones.values_list("e164", flat=True)) == ["+525512345678"]
    assert Customer.objects.count() == 1
    # and the contact keeps the raw wa_id, which is where the answer goes (as Meta sent it)
    assert WhatsappContact.objects.get().wa_id == MX_WA_ID
    answer = inbox.check_send_reply(agent, m.conversation_id, body="¡Claro!")
    assert send_outbound(answer.pk) == "sent"
    (record,) = sent(fake_whatsapp)
    assert record["payload"]["to"] == MX_WA_ID and "recipient" not in record["payload"]


def test_argentine_549_wa_id_is_the_kommo_customer_written_with_15(
        client, whatsapp_number, django_capture_on_commit_callbacks):
    # given Kommo wrote the Buenos Aires mobile the local way (area code, 15, number)
    kommo = do_upsert_customer(name="Martín (Kommo)", phones=["+54 11 15 2345 6789"])
    # when WhatsApp brings the same person as 549 + area code + number
    m = deliver(client, whatsapp_number, payload(
        whatsapp_number, [fw.text_message(AR_WA_ID, "Buenas")], [{"profile": {"name": "Martín"}, "wa_id": AR_WA_ID}]),
        django_capture_on_commit_callbacks)
    # then both converge on the E.164 mobile form +54 9 11 …
    assert m is not None and m.conversation.customer_id == kommo.pk
    assert list(kommo.phones.values_list("e164", flat=True)) == ["+5491123456789"]


def test_message_with_only_a_business_scoped_user_id_is_accepted(
        client, whatsapp_number, fake_whatsapp, agent, django_capture_on_commit_callbacks):
    # given a user who adopted a username: Meta's payload has user_id / from_user_id and no wa_id / from
    item = {"from_user_id": BSUID, "id": "wamid.HBgLbsuid0001", "timestamp": str(int(time.time())), "type": "text",
            "text": {"body": "Hola, soy @lupita"}}
    contact = {"profile": {"name": "Lupita", "username": "@lupita"}, "user_id": BSUID}
    m = deliver(client, whatsapp_number, payload(whatsapp_number, [item], [contact]),
                django_capture_on_commit_callbacks)
    # then the message is stored (not dropped as "without id or sender"), for a customer without phone
    assert WebhookDelivery.objects.get().state == "processed"
    assert m is not None and m.body == "Hola, soy @lupita"
    assert m.meta["user_id"] == BSUID and m.meta["wa_id"] == ""
    customer = m.conversation.customer
    assert customer.name == "Lupita" and not customer.phones.exists()
    # and the contact is keyed by that user id, so their next message finds the same customer
    assert WhatsappContact.objects.get().wa_id == BSUID
    again = deliver(client, whatsapp_number, payload(whatsapp_number, [
        {**item, "id": "wamid.HBgLbsuid0002", "text": {"body": "¿Sigue ahí?"}}], [contact]),
        django_capture_on_commit_callbacks)
    assert again is not None and again.conversation_id == m.conversation_id
    assert Customer.objects.count() == 1
    # and a reply is addressed with `recipient` (the send API's field for a business-scoped user id)
    answer = inbox.check_send_reply(agent, m.conversation_id, body="Sí, aquí estamos.")
    assert send_outbound(answer.pk) == "sent"
    (record,) = sent(fake_whatsapp)
    assert record["payload"]["recipient"] == BSUID and "to" not in record["payload"]
