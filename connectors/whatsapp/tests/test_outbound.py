"""Replies: the 24-hour guard, the sender against the fake Graph API (payloads, retries on 429/500, permanent
errors, idempotency, attachments) and the status webhooks that follow (out of order, duplicated, failed)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from connectors.whatsapp.actions import do_record_status
from connectors.whatsapp.models import OutboundSend, StatusReceipt
from connectors.whatsapp.outbound import send_outbound
from connectors.whatsapp.tests.helpers import WA_ID, clear_tasks, inbound, post, run_worker, statuses
from core.errors import ActionError
from fakes import whatsapp as fw
from inbox import actions as inbox
from inbox.attachments import Upload, store_attachment
from inbox.models import Message

pytestmark = pytest.mark.django_db
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture(autouse=True)
def _tasks():
    clear_tasks()
    yield
    clear_tasks()


@pytest.fixture
def agent(db):
    return UserFactory(role=Role.AGENTE, username="valeria")


@pytest.fixture
def conversation(client, whatsapp_number, django_capture_on_commit_callbacks):
    """A customer wrote at NOW (their window is open until NOW + 24 h)."""
    with django_capture_on_commit_callbacks(execute=True):
        post(client, whatsapp_number, inbound(whatsapp_number, fw.text_message(
            WA_ID, "Hola", timestamp=int(NOW.timestamp()), wamid="wamid.inbound1")))
    run_worker()
    return Message.objects.get(external_id="wamid.inbound1").conversation


def reply(agent, conversation, body="Con gusto, ya lo reviso.", **kwargs):
    return inbox.check_send_reply(agent, conversation.pk, body=body, **kwargs)


def sent(fake):
    return [s for s in fake.state.sent if s["type"] != "read"]


# --- the 24-hour window ------------------------------------------------------------------------------------


def test_free_text_inside_the_window_is_queued(agent, conversation):
    with time_machine.travel(NOW + timedelta(hours=23, minutes=59), tick=False):
        message = reply(agent, conversation)
    assert message.delivery_status == "queued"


def test_free_text_after_24_hours_is_refused_with_the_reason(agent, conversation):
    # given the customer's last message is 24 h and 1 min old
    # when the agent answers with free text / then it is refused before anything is stored
    with time_machine.travel(NOW + timedelta(hours=24, minutes=1), tick=False), \
            pytest.raises(ActionError) as refused:
        reply(agent, conversation)
    assert refused.value.code == "whatsapp_window_closed"
    assert "24 horas" in refused.value.message and "plantillas aprobadas" in refused.value.message
    assert not Message.objects.filter(kind="outbound").exists()


def test_a_new_customer_message_reopens_the_window(client, agent, conversation, whatsapp_number,
                                                   django_capture_on_commit_callbacks):
    later = NOW + timedelta(days=3)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, whatsapp_number, inbound(whatsapp_number, fw.text_message(WA_ID, "¿Siguen ahí?",
                                                                               timestamp=int(later.timestamp()))))
    run_worker()
    with time_machine.travel(later + timedelta(hours=2), tick=False):
        assert reply(agent, conversation).delivery_status == "queued"


def test_templates_pass_the_guard_outside_the_window(agent, conversation):
    template = {"name": "retomar_conversacion", "language": {"code": "es"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]}
    with time_machine.travel(NOW + timedelta(days=2), tick=False):
        message = reply(agent, conversation, body="Hola Ana, te escribimos…", meta={"template": template})
    assert message.meta["template"]["name"] == "retomar_conversacion"


# --- the sender ---------------------------------------------------------------------------------------------


def test_text_reply_is_posted_and_the_wamid_stored(agent, conversation, fake_whatsapp):
    # given a queued reply
    message = reply(agent, conversation)
    # when the worker runs the sender
    assert send_outbound(message.pk) == "sent"
    # then Meta got the contract's payload, and the message is sent with Meta's wamid
    (record,) = sent(fake_whatsapp)
    assert record["payload"] == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_ID,
                                 "type": "text", "text": {"preview_url": False, "body": "Con gusto, ya lo reviso."},
                                 "biz_opaque_callback_data": f"centralita:{message.pk}"}
    message.refresh_from_db()
    assert message.delivery_status == "sent" and message.external_id == record["wamid"]
    # and a second run (a redelivered task) sends nothing again
    assert send_outbound(message.pk) == "already"
    assert len(sent(fake_whatsapp)) == 1


def test_the_inbox_task_reaches_the_sender(agent, conversation, fake_whatsapp, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = reply(agent, conversation)
    run_worker(only={"deliver_outbound"})
    message.refresh_from_db()
    assert message.delivery_status == "sent" and len(sent(fake_whatsapp)) == 1


@pytest.mark.faults
def test_429_then_500_are_retried_in_the_call(agent, conversation, fake_whatsapp):
    fake_whatsapp.state.fail_next(1, status=429, code=130429, path="/messages")
    fake_whatsapp.state.fail_next(1, status=500, path="/messages")
    message = reply(agent, conversation)
    assert send_outbound(message.pk) == "sent"
    statuses_seen = [r["status"] for r in fake_whatsapp.state.requests if r["path"].endswith("/messages")]
    assert statuses_seen == [429, 500, 200]


@pytest.mark.faults
def test_a_long_outage_is_retried_later_then_fails_with_metas_text(agent, conversation, fake_whatsapp, settings):
    # given Meta answers 500 to every send, and 3 attempts are allowed
    settings.WHATSAPP_SEND_MAX_ATTEMPTS = 3
    fake_whatsapp.state.fail_next(100, status=500, path="/messages")
    message = reply(agent, conversation)
    # when the sender runs: the first attempt schedules a deferred retry
    assert send_outbound(message.pk) == "retrying"
    row = OutboundSend.objects.get(message=message)
    assert row.state == "retrying" and row.next_attempt_at is not None and row.next_attempt_at > timezone.now()
    assert "unknown error" in row.last_error
    message.refresh_from_db()
    assert message.delivery_status == "queued"
    # then the deferred retries run, and after the limit the message is failed with the error text
    outcomes = run_worker(only={"retry_whatsapp_send"})
    assert outcomes == ["retrying", "failed"]
    message.refresh_from_db()
    assert message.delivery_status == "failed" and "unknown error" in message.delivery_error
    assert sent(fake_whatsapp) == []


def test_a_permanent_graph_error_fails_at_once(agent, conversation, fake_whatsapp):
    fake_whatsapp.state.allowed_recipients = {"15550000000"}  # a test number may only message its allow-list
    message = reply(agent, conversation)
    assert send_outbound(message.pk) == "failed"
    message.refresh_from_db()
    assert message.delivery_status == "failed"
    assert message.delivery_error.startswith("(#131030) Recipient phone number not in allowed list")


def test_meta_refusing_out_of_window_synchronously_fails_the_message(agent, conversation, fake_whatsapp):
    # given Meta's own clock says the window is closed (our guard let it through: the clocks disagree)
    fake_whatsapp.state.window_mode = "sync"
    message = reply(agent, conversation)
    assert send_outbound(message.pk) == "failed"
    message.refresh_from_db()
    assert "131047" in message.delivery_error and "Re-engagement" in message.delivery_error


def test_a_send_in_progress_elsewhere_is_not_sent_twice(agent, conversation, fake_whatsapp):
    message = reply(agent, conversation)
    OutboundSend.objects.create(message=message, lease_until=timezone.now() + timedelta(minutes=1))
    assert send_outbound(message.pk) == "skipped"
    assert sent(fake_whatsapp) == []


def test_attachments_are_uploaded_and_sent_by_id_with_the_text_as_caption(agent, conversation, fake_whatsapp):
    photo = store_attachment(conversation_id=conversation.pk, name="catalogo.jpg", content_type="image/jpeg",
                             data=b"\xff\xd8jpeg")
    pdf = store_attachment(conversation_id=conversation.pk, name="factura.pdf", content_type="application/pdf",
                           data=b"%PDF-1.4")
    message = reply(agent, conversation, body="Le comparto el catálogo", attachments=[photo, pdf])
    assert send_outbound(message.pk) == "sent"
    image, document = sent(fake_whatsapp)
    assert image["type"] == "image" and image["payload"]["image"]["caption"] == "Le comparto el catálogo"
    assert fake_whatsapp.state.media[image["payload"]["image"]["id"]]["data"] == b"\xff\xd8jpeg"
    assert document["payload"]["document"]["filename"] == "factura.pdf"
    assert OutboundSend.objects.get(message=message).wamids == [image["wamid"], document["wamid"]]


def test_a_retry_resumes_after_the_parts_meta_already_took(agent, conversation, fake_whatsapp):
    # given a reply of two parts: a linked image, then an uploaded one while uploads are down
    linked = {"name": "catalogo.jpg", "content_type": "image/jpeg", "size": 1, "url": "https://example.com/c.jpg"}
    photo = store_attachment(conversation_id=conversation.pk, name="a.jpg", content_type="image/jpeg", data=b"a")
    message = reply(agent, conversation, body="", attachments=[linked, photo])
    fake_whatsapp.state.fail_next(4, status=503, path="/media")
    assert send_outbound(message.pk) == "retrying"
    assert [s["payload"]["image"].get("link") for s in sent(fake_whatsapp)] == ["https://example.com/c.jpg"]
    # when the retry runs
    assert run_worker(only={"retry_whatsapp_send"}) == ["sent"]
    # then the second part went out and the first was not sent twice
    assert len(sent(fake_whatsapp)) == 2
    assert len(OutboundSend.objects.get(message=message).wamids) == 2


def test_an_agent_retries_a_failed_send_and_only_the_missing_part_goes_out(agent, conversation, fake_whatsapp,
                                                                           settings,
                                                                           django_capture_on_commit_callbacks):
    # given a two-part reply whose second part failed for good (uploads down, one attempt allowed)
    settings.WHATSAPP_SEND_MAX_ATTEMPTS = 1
    linked = {"name": "catalogo.jpg", "content_type": "image/jpeg", "size": 1, "url": "https://example.com/c.jpg"}
    photo = store_attachment(conversation_id=conversation.pk, name="a.jpg", content_type="image/jpeg", data=b"a")
    message = reply(agent, conversation, body="", attachments=[linked, photo])
    fake_whatsapp.state.fail_next(4, status=503, path="/media")
    assert send_outbound(message.pk) == "failed"
    assert OutboundSend.objects.get(message=message).state == "failed"
    # when Meta is back and the agent retries it from the conversation
    with django_capture_on_commit_callbacks(execute=True):
        inbox.check_retry_delivery(agent, conversation.pk, message.pk)
    message.refresh_from_db()
    assert message.delivery_status == "queued" and message.delivery_error == ""
    row = OutboundSend.objects.get(message=message)
    assert (row.state, row.attempts, row.last_error) == ("pending", 0, "")
    assert run_worker(only={"deliver_outbound"}) == [None]
    # then the part Meta already took is not sent again, the missing one is, and the message is sent
    assert len(sent(fake_whatsapp)) == 2
    message.refresh_from_db()
    assert message.delivery_status == "sent"
    assert OutboundSend.objects.get(message=message).state == "sent"
    assert conversation.events.filter(kind="delivery_retried", actor=agent).count() == 1


def test_only_a_failed_answer_can_be_retried(agent, conversation, fake_whatsapp):
    message = reply(agent, conversation)
    assert send_outbound(message.pk) == "sent"
    with pytest.raises(ActionError) as refused:
        inbox.check_retry_delivery(agent, conversation.pk, message.pk)
    assert refused.value.code == "not_failed"
    assert len(sent(fake_whatsapp)) == 1


# --- statuses ------------------------------------------------------------------------------------------------


@pytest.fixture
def sent_message(agent, conversation, fake_whatsapp):
    message = reply(agent, conversation)
    send_outbound(message.pk)
    message.refresh_from_db()
    return message


def deliver_statuses(client, number, capture, *items):
    with capture(execute=True):
        for item in items:
            assert post(client, number, statuses(number, item)).status_code == 200
    run_worker()


def test_read_before_delivered_ends_read(client, whatsapp_number, sent_message, django_capture_on_commit_callbacks):
    wamid = sent_message.external_id
    deliver_statuses(client, whatsapp_number, django_capture_on_commit_callbacks,
                     fw.status_item(wamid, "read", WA_ID), fw.status_item(wamid, "delivered", WA_ID),
                     fw.status_item(wamid, "sent", WA_ID))
    sent_message.refresh_from_db()
    assert sent_message.delivery_status == "read"


def test_failed_status_carries_metas_code_title_and_details(client, whatsapp_number, sent_message,
                                                             django_capture_on_commit_callbacks):
    deliver_statuses(client, whatsapp_number, django_capture_on_commit_callbacks,
                     fw.status_item(sent_message.external_id, "delivered", WA_ID),
                     fw.status_item(sent_message.external_id, "failed", WA_ID, error_code=131047))
    sent_message.refresh_from_db()
    assert sent_message.delivery_status == "failed"
    assert sent_message.delivery_error.startswith("(131047) Re-engagement message: Message failed to send because")


def test_duplicate_statuses_are_applied_once(client, whatsapp_number, sent_message,
                                             django_capture_on_commit_callbacks):
    item = fw.status_item(sent_message.external_id, "delivered", WA_ID)
    assert do_record_status(item) == "applied"
    assert do_record_status(item) == "duplicate"
    assert StatusReceipt.objects.filter(wamid=sent_message.external_id).count() == 1


def test_a_status_that_overtakes_the_send_answer_is_applied_afterwards(agent, conversation):
    # given Meta's "delivered" arrives before our sender stored the wamid, without callback data
    message = reply(agent, conversation)
    assert do_record_status(fw.status_item("wamid.early", "delivered", WA_ID)) == "pending"
    # when the sender stores that wamid
    from connectors.whatsapp.actions import do_apply_pending_statuses

    inbox.do_update_delivery_status(message.pk, status="sent", external_id="wamid.early")
    assert do_apply_pending_statuses(message.pk, ["wamid.early"]) == 1
    # then the message shows it
    message.refresh_from_db()
    assert message.delivery_status == "delivered"


def test_callback_data_maps_a_status_before_the_wamid_is_known(agent, conversation):
    message = reply(agent, conversation)
    item = fw.status_item("wamid.unknown", "delivered", WA_ID, callback_data=f"centralita:{message.pk}")
    assert do_record_status(item) == "applied"
    message.refresh_from_db()
    assert message.delivery_status == "delivered"


def test_the_fakes_async_window_failure_reaches_the_message(agent, conversation, fake_whatsapp,
                                                            asgi_capture_statuses):
    # given Meta accepts the send but reports 131047 by webhook afterwards
    fake_whatsapp.state.window_mode = "async"
    fake_whatsapp.state.webhook_url = "http://127.0.0.1:9/unreachable"  # recorded by the fake, replayed below
    message = reply(agent, conversation)
    assert send_outbound(message.pk) == "sent"
    # when that webhook is processed
    asgi_capture_statuses()
    # then the message ends failed with the reason
    message.refresh_from_db()
    assert message.delivery_status == "failed" and "131047" in message.delivery_error


@pytest.fixture
def asgi_capture_statuses(client, whatsapp_number, fake_whatsapp, django_capture_on_commit_callbacks):
    """Collects the status webhooks the fake would POST (its timer thread) and delivers them through our
    endpoint in this test's transaction."""
    import time

    def run():
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not fake_whatsapp.state.webhooks:
            time.sleep(0.05)
        with django_capture_on_commit_callbacks(execute=True):
            for hook in fake_whatsapp.state.webhooks:
                post(client, whatsapp_number, hook["body"].encode())
        run_worker()

    return run


def test_a_file_attached_in_the_composer_reaches_the_customer_as_a_document(agent, conversation, fake_whatsapp,
                                                                            client_for, settings, tmp_path,
                                                                            django_capture_on_commit_callbacks):
    # given the agent responsible for an open WhatsApp conversation
    settings.MEDIA_ROOT = tmp_path
    inbox.check_assign(agent, conversation.pk, assignee=agent.pk)
    # when they send a PDF with a text from the composer
    catalogue = SimpleUploadedFile("catálogo 2026.pdf", b"%PDF-1.7 catalogo", content_type="application/pdf")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(agent).post(
            reverse("inbox:message", args=[conversation.pk]),
            {"kind": "reply", "body": "Aquí está el catálogo", "attachments": [catalogue]},
            headers={"HX-Request": "true"})
    assert response.status_code == 200
    run_worker(only={"deliver_outbound"})
    # then Meta received the file's bytes and a document message captioned with the text, named as the agent's file
    (document,) = sent(fake_whatsapp)
    assert document["payload"]["document"]["filename"] == "catálogo 2026.pdf"
    assert document["payload"]["document"]["caption"] == "Aquí está el catálogo"
    assert fake_whatsapp.state.media[document["payload"]["document"]["id"]]["data"] == b"%PDF-1.7 catalogo"


@pytest.mark.parametrize(("name", "content_type", "size", "reason"), [
    ("fotos.zip", "application/zip", 10, "WhatsApp no acepta «fotos.zip»"),
    ("logo.svg", "image/svg+xml", 10, "WhatsApp no acepta «logo.svg»"),
    ("sticker.webp", "image/webp", 10, "WhatsApp no acepta «sticker.webp»"),
    ("grande.jpg", "image/jpeg", 5 * 1024 * 1024 + 1, "«grande.jpg» pesa más de lo que WhatsApp admite (5 MB"),
])
def test_files_whatsapp_does_not_deliver_are_refused_with_the_reason(agent, conversation, fake_whatsapp, settings,
                                                                     tmp_path, name, content_type, size, reason):
    settings.MEDIA_ROOT = tmp_path
    inbox.check_assign(agent, conversation.pk, assignee=agent.pk)
    # when the agent attaches a file the Cloud API does not take
    with pytest.raises(ActionError, match=re.escape(reason)):
        inbox.check_send_reply(agent, conversation.pk, body="Le envío esto",
                               uploads=[Upload(name, content_type, b"x" * size)])
    # then nothing is stored or sent
    assert not Message.objects.filter(conversation=conversation, kind="outbound").exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    assert sent(fake_whatsapp) == []
