"""Security review: a message the customer deleted was only partly hidden. Its media still downloaded for every
agent; a change waiting for its message attached by external id alone (another number's, or an agent's answer);
and an edit stamped the same whole second as the original could lose to it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from inbox.actions import do_receive_inbound
from inbox.attachments import store_attachment
from inbox.choices import MessageKind
from inbox.models import Message, MessageRevision
from inbox.revision_actions import apply_pending_changes, do_record_message_change
from inbox.selectors import versions_of

pytestmark = pytest.mark.django_db
AT = datetime(2026, 6, 13, 22, 0, tzinfo=UTC)


def _whatsapp(wamid: str, *, channel_ref: str = "wa:111", body: str = "hola", **extra: object) -> Message:
    _c, message, _new = do_receive_inbound(channel="whatsapp", body=body, customer_name="Ana",
                                           phones=["+573001112233"], external_id=wamid, channel_ref=channel_ref,
                                           received_at=AT, **extra)
    return message


def test_deleted_message_attachment_is_404_for_agents_and_served_to_supervisors(client):
    # given a customer's photo that they then deleted
    photo = store_attachment(conversation_id=0, name="foto.png", content_type="image/png", data=b"\x89PNG")
    message = _whatsapp("wamid.photo", attachments=[photo])
    assert do_record_message_change(kind="delete", target_external_id="wamid.photo", event_id="wamid.del",
                                    at=AT, channel_ref="wa:111") == "applied"
    url = reverse("inbox:attachment", args=[message.pk, 0])
    # when an agent who sees the conversation asks for the media / then it is not there
    client.force_login(UserFactory(role=Role.AGENTE))
    assert client.get(url).status_code == 404
    # and a supervisor still opens it, like the deleted text
    client.force_login(UserFactory(role=Role.SUPERVISOR))
    assert client.get(url).status_code == 200


def test_pending_change_from_another_number_does_not_attach_to_a_message_with_the_same_id():
    # given an edit that arrived on number A before its message
    assert do_record_message_change(kind="edit", target_external_id="wamid.same", event_id="wamid.edit-a",
                                    at=AT, body="cambiado", channel_ref="wa:AAA") == "pending"
    # when a message with that external id arrives on number B
    message = _whatsapp("wamid.same", channel_ref="wa:BBB", body="original")
    # then the edit keeps waiting and the message is untouched
    message.refresh_from_db()
    assert (message.body, message.edited_at) == ("original", None)
    assert MessageRevision.objects.get(external_id="wamid.edit-a").message_id is None


def test_pending_change_does_not_attach_to_an_agents_message():
    # given a deletion waiting for "wamid.out"
    do_record_message_change(kind="delete", target_external_id="wamid.out", event_id="wamid.del-out", at=AT,
                             channel_ref="wa:111")
    conversation = _whatsapp("wamid.first").conversation
    answer = Message.objects.create(conversation=conversation, cycle=conversation.cycle, kind=MessageKind.OUTBOUND,
                                    body="respuesta", external_id="wamid.out", created_at=AT)
    # when the pending changes are looked up for the agent's answer
    assert apply_pending_changes(answer) is False
    # then the answer is not deleted and the change still waits
    answer.refresh_from_db()
    assert (answer.body, answer.deleted_at) == ("respuesta", None)
    assert MessageRevision.objects.get(external_id="wamid.del-out").message_id is None


def test_pending_change_on_the_same_number_still_applies():
    do_record_message_change(kind="edit", target_external_id="wamid.ok", event_id="wamid.edit-ok", at=AT,
                             body="cambiado", channel_ref="wa:111")
    message = _whatsapp("wamid.ok", body="original")
    message.refresh_from_db()
    assert message.body == "cambiado"


def test_edit_with_the_same_second_as_the_original_wins():
    # given an edit that overtook its message and carries the same whole-second time as the message
    do_record_message_change(kind="edit", target_external_id="wamid.tie", event_id="wamid.edit-tie", at=AT,
                             body="corregido", channel_ref="wa:111")
    # when the message arrives (its original revision is created after the edit, so with a higher id)
    message = _whatsapp("wamid.tie", body="con error")
    # then the edit is the current text and the original is the earlier version
    message.refresh_from_db()
    assert message.body == "corregido"
    assert [v["body"] for v in versions_of([message])[message.pk]] == ["con error"]
