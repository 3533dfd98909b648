"""Issue 12 in the inbox: the API channel refuses customers nobody can reach, messages and notes have documented
limits (settings; docs/api.md "Limits") enforced by the actions, and the composer shows them."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from core.errors import ActionError
from customers.models import Customer
from inbox import actions
from inbox.models import Conversation, Message

pytestmark = pytest.mark.django_db
JSON = "application/json"


def post_conversation(api, customer, message="Hola"):
    return api.post("/api/v1/conversations", {"customer": customer, "message": message}, content_type=JSON)


def test_conversation_for_a_customer_with_neither_phone_nor_email_is_refused(agent, api_client_for):
    # when an integration sends a message from a customer with only a name
    response = post_conversation(api_client_for(agent), {"name": "Ana"})
    # then 400 with the reason, and no customer or conversation was created
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_message" and set(body["errors"]) == {"customer"}
    assert "teléfono o el correo" in body["detail"]
    assert not Customer.objects.exists() and not Conversation.objects.exists()


def test_conversation_with_phone_abc_is_refused(agent, api_client_for):
    response = post_conversation(api_client_for(agent), {"name": "Ana", "phone": "abc"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"customer.phone": "Teléfono inválido: «abc»."}
    assert not Conversation.objects.exists()


def test_conversation_with_email_not_an_email_is_refused_even_with_a_good_phone(agent, api_client_for):
    # a bad identifier is never dropped silently: the integration hears about it
    response = post_conversation(api_client_for(agent), {"name": "Ana", "phone": "3001234567",
                                                         "email": "not-an-email"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"customer.email": "Correo inválido: «not-an-email»."}
    assert not Conversation.objects.exists()


def test_conversation_with_only_an_email_is_accepted(agent, api_client_for):
    response = post_conversation(api_client_for(agent), {"name": "Ana", "email": "Ana@Correo.com"})
    assert response.status_code == 201
    assert Customer.objects.get().emails.get().email == "ana@correo.com"


def test_one_megabyte_message_is_refused_on_the_api_channel(agent, api_client_for):
    # given the API channel's limit
    limit = settings.MESSAGE_MAX_LENGTH
    api = api_client_for(agent)
    # when a message of 1 MB, and one of exactly the limit, are sent
    huge = post_conversation(api, {"phone": "3001234567"}, "x" * 1_000_000)
    fits = post_conversation(api, {"phone": "3001234567"}, "x" * limit)
    # then the first is a 400 naming the limit, the second is stored
    assert huge.status_code == 400 and set(huge.json()["errors"]) == {"message"}
    assert f"{limit}" in huge.json()["detail"].replace(".", "").replace(",", "")
    assert fits.status_code == 201 and Message.objects.get().body == "x" * limit


def test_message_limits_per_channel_are_the_documented_ones():
    assert [actions.message_max_length(c) for c in ("whatsapp", "email", "webchat", "api", "phone")] == [
        4_096, 100_000, 2_000, 10_000, 10_000]


@pytest.mark.parametrize(("channel", "limit"), [("whatsapp", 4_096), ("api", 10_000)])
def test_a_reply_over_its_channels_limit_is_refused(channel, limit, agent):
    # given a conversation on the channel
    c, _m, _ = actions.do_receive_inbound(channel=channel, body="Hola", customer_name="Ana",
                                          phones=["3001234567"], emails=["ana@correo.com"])
    # when the agent replies with one character too many, then with exactly the limit
    with pytest.raises(ActionError) as refused:
        actions.check_send_reply(agent, c.pk, body="r" * (limit + 1))
    actions.check_send_reply(agent, c.pk, body="r" * limit)
    # then the first is refused with the limit, the second is sent
    assert refused.value.code == "text_too_long" and refused.value.details["max_length"] == limit
    assert Message.objects.filter(kind="outbound").count() == 1


def test_two_megabyte_note_is_refused(agent, api_client_for):
    # given a conversation
    c, _m, _ = actions.do_receive_inbound(channel="api", body="Hola", customer_name="Ana", phones=["3001234567"])
    api = api_client_for(agent)
    url = f"/api/v1/conversations/{c.pk}/messages"
    # when a 2 MB note and one of exactly the limit are posted
    huge = api.post(url, {"kind": "note", "body": "n" * 2_000_000}, content_type=JSON)
    fits = api.post(url, {"kind": "note", "body": "n" * settings.NOTE_MAX_LENGTH}, content_type=JSON)
    # then 400 for the first, with the field, and only the second is stored
    assert huge.status_code == 400 and huge.json()["code"] == "text_too_long" and huge.json()["field"] == "body"
    assert fits.status_code == 201
    assert Message.objects.filter(kind="note").count() == 1


def test_nul_in_a_reply_typed_on_the_page_is_refused_with_the_reason(agent, client_for):
    # given a conversation open on the agent's screen
    c, _m, _ = actions.do_receive_inbound(channel="api", body="Hola", customer_name="Ana", phones=["3001234567"])
    # when the composer posts a body with a NUL character
    response = client_for(agent).post(reverse("inbox:message", args=[c.pk]), {"kind": "reply", "body": "ho\x00la"},
                                      headers={"HX-Request": "true"})
    # then it is refused with the form's reason (Django's NUL validator), not "write the message", and nothing is sent
    assert response.status_code == 400
    html = response.content.decode()
    assert "Escriba el mensaje" not in html and "nulos" in html
    assert not Message.objects.filter(kind="outbound").exists()


def test_the_composer_shows_the_channels_limits(agent, client_for):
    # given a WhatsApp conversation
    c, _m, _ = actions.do_receive_inbound(channel="whatsapp", body="Hola", customer_name="Ana",
                                          phones=["3001234567"])
    # when the agent opens it
    html = client_for(agent).get(reverse("inbox:detail", args=[c.pk])).content.decode()
    # then the reply box is limited to WhatsApp's 4,096 characters and the hints state both limits
    assert 'maxlength="4096"' in html
    assert "Máximo 4096 caracteres." in html.replace(".096", "096").replace(",096", "096")
    assert "Máximo 5000 caracteres." in html.replace(".000", "000").replace(",000", "000")
