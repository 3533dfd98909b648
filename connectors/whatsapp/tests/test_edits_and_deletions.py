"""Issue 12: a customer's WhatsApp edit shows the new text with "(editado)" and the earlier versions, instead of
"⚠ no compatible (tipo «edit»)"; a deleted (revoked) message shows as «Mensaje eliminado por el cliente». The
webhooks are pywa's published fixtures (tests/fixtures/README.md), posted signed through the real intake."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from connectors.whatsapp.tests.helpers import WA_ID, clear_tasks, inbound, post, run_worker
from fakes import whatsapp as fw
from inbox.models import Message, MessageRevision

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures"
EDITED = "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="  # pywa's edit.original_message_id


def fixture(name: str, key: str, number: Any, **message: Any) -> dict[str, Any]:
    """A published payload addressed to our test number; `message` replaces keys of its messages[0]."""
    payload = copy.deepcopy(json.loads((FIXTURES / name).read_text(encoding="utf-8"))[key])
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"] = {"display_phone_number": number.display_phone_number,
                         "phone_number_id": number.phone_number_id}
    payload["entry"][0]["id"] = number.waba_id
    value["messages"][0].update(message)
    return payload


@pytest.fixture(autouse=True)
def _tasks():
    clear_tasks()
    yield
    clear_tasks()


@pytest.fixture
def sent(monkeypatch):
    """The events the real (in-memory) channel layer carried, once each (an event goes to several user groups).
    An agent exists from the start, so every conversation event has someone to reach."""
    from channels.layers import get_channel_layer

    UserFactory(role=Role.AGENTE)
    layer = get_channel_layer()
    original = layer.group_send
    events: list[dict[str, Any]] = []

    async def recording_group_send(group: str, message: dict[str, Any]) -> None:
        event = json.loads(message["text"])
        if all(e["event_id"] != event["event_id"] for e in events):
            events.append(event)
        await original(group, message)

    monkeypatch.setattr(layer, "group_send", recording_group_send)
    return events


def deliver(client, number, payload, capture) -> None:
    with capture(execute=True):
        assert post(client, number, payload).status_code == 200
    with capture(execute=True):  # the worker's commit sends its realtime events
        run_worker()


def customer_writes(client, number, capture, *, wamid: str, body: str, timestamp: int = 1749854000) -> Message:
    deliver(client, number, inbound(number, fw.text_message(WA_ID, body, wamid=wamid, timestamp=timestamp)), capture)
    return Message.objects.get(external_id=wamid)


def page(client_for, user, message: Message) -> str:
    response = client_for(user).get(f"/inbox/{message.conversation_id}/")
    assert response.status_code == 200
    return response.content.decode()


def test_edited_whatsapp_message_shows_the_new_text_and_keeps_the_history(
        client, whatsapp_number, fake_whatsapp, client_for, sent, django_capture_on_commit_callbacks):
    # given the customer sent a photo with a caption
    media_id = fake_whatsapp.state.add_media(b"\x89PNG fake", "image/png")
    photo = fw.message("image", WA_ID, wamid=EDITED, timestamp=1749854500,
                       image={"id": media_id, "mime_type": "image/png", "sha256": "x", "caption": "Foto vieja"})
    deliver(client, whatsapp_number, inbound(whatsapp_number, photo), django_capture_on_commit_callbacks)
    original = Message.objects.get(external_id=EDITED)
    assert original.body == "Foto vieja" and original.attachments
    sent.clear()
    # when WhatsApp reports that they edited the caption (pywa's published "edit" webhook)
    deliver(client, whatsapp_number, fixture("pywa/edited_message.json", "image", whatsapp_number),
            django_capture_on_commit_callbacks)
    # then the same message shows the new caption, keeps its photo, and the old caption is history
    message = Message.objects.get(pk=original.pk)
    assert message.body == "Updated image caption" and message.attachments == original.attachments
    assert message.edited_at is not None and message.deleted_at is None
    assert Message.objects.count() == 1  # no "⚠ no compatible (tipo «edit»)" message
    assert [(r.kind, r.body) for r in message.revisions.all()] == [("original", "Foto vieja"),
                                                                    ("edit", "Updated image caption")]
    assert message.conversation.last_message_preview == "Updated image caption"
    # and open workspaces replace the bubble in place
    (event,) = [e for e in sent if e["op"] == "message_updated"]
    assert event["message"]["id"] == message.pk and event["message"]["body"] == "Updated image caption"
    assert [v["body"] for v in event["message"]["versions"]] == ["Foto vieja"] and event["message"]["edited_at"]
    # and the agent reads "(editado)" with the earlier version one click away
    html = page(client_for, UserFactory(role=Role.AGENTE), message)
    assert "Updated image caption" in html and "(editado)" in html
    assert 'class="msg-history"' in html and "Foto vieja" in html and "Ver la versión anterior" in html


def test_same_edit_webhook_twice_is_one_edit(client, whatsapp_number, django_capture_on_commit_callbacks):
    # given a text message and its edit, delivered twice (Meta retries)
    message = customer_writes(client, whatsapp_number, django_capture_on_commit_callbacks, wamid=EDITED,
                              body="Quiero 2 cajas")
    edit = fixture("edited_text_message.json", "text", whatsapp_number)
    deliver(client, whatsapp_number, edit, django_capture_on_commit_callbacks)
    deliver(client, whatsapp_number, edit, django_capture_on_commit_callbacks)
    # then the history holds the original and one edit
    message.refresh_from_db()
    assert message.body == "Mejor que sean 3 cajas, por favor"
    assert list(message.revisions.values_list("kind", flat=True)) == ["original", "edit"]


def test_edit_that_overtakes_its_message_is_applied_when_the_message_arrives(
        client, whatsapp_number, django_capture_on_commit_callbacks):
    # given the edit webhook arrives first (webhooks are not ordered)
    deliver(client, whatsapp_number, fixture("edited_text_message.json", "text", whatsapp_number),
            django_capture_on_commit_callbacks)
    assert not Message.objects.exists()
    assert MessageRevision.objects.get().target_external_id == EDITED
    # when the original message arrives
    message = customer_writes(client, whatsapp_number, django_capture_on_commit_callbacks, wamid=EDITED,
                              body="Quiero 2 cajas", timestamp=1749854000)
    # then it shows the edited text at once, with the original as history, and the list preview follows
    assert message.body == "Mejor que sean 3 cajas, por favor" and message.edited_at is not None
    assert [(r.kind, r.body) for r in message.revisions.all()] == [("original", "Quiero 2 cajas"),
                                                                    ("edit", "Mejor que sean 3 cajas, por favor")]
    assert message.conversation.last_message_preview == "Mejor que sean 3 cajas, por favor"
    assert not MessageRevision.objects.filter(message__isnull=True).exists()


def test_an_older_edit_arriving_late_only_joins_the_history(client, whatsapp_number,
                                                           django_capture_on_commit_callbacks):
    message = customer_writes(client, whatsapp_number, django_capture_on_commit_callbacks, wamid=EDITED,
                              body="v1", timestamp=1749854000)
    newer = fixture("edited_text_message.json", "text", whatsapp_number, id="wamid.edit-2", timestamp="1749854600")
    newer["entry"][0]["changes"][0]["value"]["messages"][0]["edit"]["message"]["text"]["body"] = "v3"
    older = fixture("edited_text_message.json", "text", whatsapp_number, id="wamid.edit-1", timestamp="1749854300")
    older["entry"][0]["changes"][0]["value"]["messages"][0]["edit"]["message"]["text"]["body"] = "v2"
    # when the second edit arrives before the first
    deliver(client, whatsapp_number, newer, django_capture_on_commit_callbacks)
    deliver(client, whatsapp_number, older, django_capture_on_commit_callbacks)
    # then the newest text stays and the history is in the customer's order
    message.refresh_from_db()
    assert message.body == "v3"
    assert list(message.revisions.values_list("body", flat=True)) == ["v1", "v2", "v3"]


def test_revoked_message_shows_as_deleted_and_only_supervisors_can_open_it(
        client, whatsapp_number, client_for, api_client_for, sent, django_capture_on_commit_callbacks):
    # given a message the customer regrets
    message = customer_writes(client, whatsapp_number, django_capture_on_commit_callbacks, wamid="wamid.regret",
                              body="Mi tarjeta es 4111 1111 1111 1111")
    sent.clear()
    # when WhatsApp reports that they deleted it (pywa's published "revoke" webhook)
    revoke = fixture("pywa/deleted_message.json", "revoke", whatsapp_number, id="wamid.revoke-1", **{"from": WA_ID})
    revoke["entry"][0]["changes"][0]["value"]["messages"][0]["revoke"]["original_message_id"] = "wamid.regret"
    deliver(client, whatsapp_number, revoke, django_capture_on_commit_callbacks)
    deliver(client, whatsapp_number, revoke, django_capture_on_commit_callbacks)  # a redelivery changes nothing
    # then its text is gone from the message, the list preview and the realtime payload
    message.refresh_from_db()
    assert message.body == "" and message.deleted_at is not None
    assert message.conversation.last_message_preview == "Mensaje eliminado por el cliente"
    (event,) = [e for e in sent if e["op"] == "message_updated"]
    assert event["message"]["deleted_at"] and event["message"]["body"] == "" and event["message"]["versions"] == []
    # (not the event id: a nanosecond timestamp may contain those digits by chance)
    assert "4111" not in json.dumps({k: v for k, v in event.items() if k != "event_id"})
    # and agents see the placeholder only, while a supervisor can open what was deleted
    agent_html = page(client_for, UserFactory(role=Role.AGENTE), message)
    assert "Mensaje eliminado por el cliente" in agent_html and "4111" not in agent_html
    supervisor_html = page(client_for, UserFactory(role=Role.SUPERVISOR), message)
    assert "Ver el texto eliminado (solo supervisión)" in supervisor_html and "4111 1111" in supervisor_html
    # and the API follows the same rule
    url = f"/api/v1/conversations/{message.conversation_id}"
    as_agent = api_client_for(UserFactory(role=Role.AGENTE)).get(url)
    assert as_agent.status_code == 200 and "4111" not in as_agent.content.decode()
    (item,) = [i for i in as_agent.json()["timeline"] if i.get("id") == message.pk and i["type"] == "message"]
    assert item["deleted_at"] and item["body"] == "" and item["versions"] == []
    as_supervisor = api_client_for(UserFactory(role=Role.SUPERVISOR)).get(url)
    assert "4111 1111" in as_supervisor.content.decode()


def test_revoke_that_overtakes_its_message_deletes_it_on_arrival(client, whatsapp_number,
                                                                django_capture_on_commit_callbacks):
    revoke = fixture("pywa/deleted_message.json", "revoke", whatsapp_number, id="wamid.revoke-2", **{"from": WA_ID})
    revoke["entry"][0]["changes"][0]["value"]["messages"][0]["revoke"]["original_message_id"] = "wamid.late"
    deliver(client, whatsapp_number, revoke, django_capture_on_commit_callbacks)
    message = customer_writes(client, whatsapp_number, django_capture_on_commit_callbacks, wamid="wamid.late",
                              body="Texto que el cliente borró")
    assert message.body == "" and message.deleted_at is not None
    assert message.conversation.last_message_preview == "Mensaje eliminado por el cliente"


def test_an_edit_cannot_change_the_agents_answer(client, whatsapp_number, django_capture_on_commit_callbacks):
    # given an answer we sent (outbound) with a known wamid
    inbound_message = customer_writes(client, whatsapp_number, django_capture_on_commit_callbacks,
                                      wamid="wamid.q", body="Hola")
    answer = Message.objects.create(conversation=inbound_message.conversation, kind="outbound",
                                    body="Nuestra respuesta", external_id=EDITED)
    # when an edit names it
    deliver(client, whatsapp_number, fixture("edited_text_message.json", "text", whatsapp_number),
            django_capture_on_commit_callbacks)
    # then nothing changes
    answer.refresh_from_db()
    assert answer.body == "Nuestra respuesta" and answer.edited_at is None
    assert not MessageRevision.objects.exists()
