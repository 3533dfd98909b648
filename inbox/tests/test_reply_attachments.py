"""Files in an answer or a note: attached in the composer (several, each removable), sent on every channel, checked
against the limits before anything is kept, and deleted again when the answer is refused."""

from __future__ import annotations

import base64
from itertools import count
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.errors import ActionError, PermissionDeniedError
from inbox import actions as inbox
from inbox.attachments import MAX_FILES_PER_MESSAGE, Upload, read_attachment
from inbox.models import Conversation, Message, MessageKind

pytestmark = pytest.mark.django_db
_phones = count(1)


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def stored(media: Path) -> list[str]:
    return sorted(p.name for p in media.rglob("*") if p.is_file())


def conversation(assignee, channel: str = "api") -> Conversation:
    c, _m, _new = inbox.do_receive_inbound(channel=channel, body="¿Me envían la guía de tallas?",
                                           customer_name="Lucía Pérez", emails=[f"lucia{next(_phones)}@cliente.test"],
                                           subject="Guía de tallas")
    Conversation.objects.filter(pk=c.pk).update(assignee=assignee)
    c.refresh_from_db()
    return c


def pdf(name: str = "guía de tallas.pdf", data: bytes = b"%PDF-1.4 tallas") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/pdf")


def post(client, c: Conversation, **fields):
    return client.post(reverse("inbox:message", args=[c.pk]), {"kind": "reply", "body": "", **fields},
                       headers={"HX-Request": "true"})


def test_an_agent_attaches_two_files_to_an_answer_and_can_open_them(agent, client_for, media):
    # given a conversation of the agent
    c = conversation(agent)
    client = client_for(agent)
    # when they send an answer with two files from the composer
    photo = SimpleUploadedFile("foto.png", b"\x89PNG\r\n", content_type="image/png")
    response = post(client, c, body="Le envío la guía y una foto.", attachments=[pdf(), photo])
    # then the answer keeps both, in order, with their names, types and sizes
    assert response.status_code == 200
    m = Message.objects.get(conversation=c, kind=MessageKind.OUTBOUND)
    assert [(a["name"], a["content_type"], a["size"]) for a in m.attachments] == [
        ("guía de tallas.pdf", "application/pdf", 15), ("foto.png", "image/png", 6)]
    assert read_attachment(m.attachments[0]) == b"%PDF-1.4 tallas"
    # and the timeline offers them: the PDF downloads, the picture shows inline
    page = client.get(reverse("inbox:detail", args=[c.pk])).content.decode()
    assert reverse("inbox:attachment", args=[m.pk, 0]) in page and "guía de tallas.pdf" in page
    served = client.get(reverse("inbox:attachment", args=[m.pk, 0]))
    assert served["Content-Disposition"].startswith("attachment") and b"".join(served.streaming_content) == (
        b"%PDF-1.4 tallas")


def test_a_file_alone_is_an_answer_and_the_list_previews_it(agent, client_for):
    c = conversation(agent)
    # when the agent sends only a file
    assert post(client_for(agent), c, attachments=[pdf()]).status_code == 200
    # then it is sent, and the list's preview names the file instead of an empty line
    c.refresh_from_db()
    assert c.last_message_preview == "📎 guía de tallas.pdf"
    assert Message.objects.get(conversation=c, kind=MessageKind.OUTBOUND).body == ""


def test_neither_text_nor_file_is_refused_with_the_reason(agent, client_for):
    c = conversation(agent)
    response = post(client_for(agent), c)
    assert response.status_code == 400
    assert "Escriba el mensaje o adjunte un archivo." in response.content.decode()
    assert not Message.objects.filter(conversation=c, kind=MessageKind.OUTBOUND).exists()


def test_too_many_or_too_large_files_are_refused_before_anything_is_kept(agent, client_for, settings, media):
    c = conversation(agent)
    client = client_for(agent)
    # when the agent attaches one file more than allowed
    many = [pdf(f"f{i}.pdf") for i in range(MAX_FILES_PER_MESSAGE + 1)]
    too_many = post(client, c, body="Adjuntos", attachments=many)
    # then the answer is refused with the limit, and nothing was stored
    assert too_many.status_code == 400
    assert f"Adjunte como máximo {MAX_FILES_PER_MESSAGE} archivos por mensaje." in too_many.content.decode()
    # when the files together exceed the maximum
    settings.ATTACHMENT_MAX_BYTES = 20
    too_large = post(client, c, body="Adjuntos", attachments=[pdf("a.pdf", b"x" * 12), pdf("b.pdf", b"y" * 12)])
    assert too_large.status_code == 400 and "superan juntos el máximo" in too_large.content.decode()
    # and an empty file is refused by name
    empty = post(client, c, body="Adjunto", attachments=[pdf("vacío.pdf", b"")])
    assert empty.status_code == 400
    assert not Message.objects.filter(conversation=c, kind=MessageKind.OUTBOUND).exists()
    assert stored(media) == []


def test_a_refused_answer_leaves_no_file_behind(agent, supervisor, media):
    # given a conversation another agent is responsible for
    c = conversation(supervisor)
    # when this agent tries to answer it with a file, then it is refused before any file is written
    with pytest.raises(PermissionDeniedError):
        inbox.check_send_reply(agent, c.pk, body="Hola", uploads=[Upload("a.pdf", "application/pdf", b"%PDF")])
    assert stored(media) == []
    # when the channel refuses the answer after the files were written (email without an SMTP mailbox)
    mail = conversation(supervisor, channel="email")
    with pytest.raises(ActionError, match="SMTP"):
        inbox.check_send_reply(supervisor, mail.pk, body="Hola", uploads=[Upload("b.pdf", "application/pdf", b"%PDF")])
    # then they are deleted again
    assert stored(media) == []


def test_an_internal_note_takes_files_and_control_characters_leave_the_names(agent, client_for):
    c = conversation(agent)
    receipt = SimpleUploadedFile("comprobante\x00\x1f.png", b"\x89PNG", content_type="image/png")
    response = post(client_for(agent), c, kind="note", body="Comprobante de pago del cliente", attachments=[receipt])
    assert response.status_code == 200
    note = Message.objects.get(conversation=c, kind=MessageKind.NOTE)
    assert note.attachments[0]["name"] == "comprobante.png"


def test_the_api_sends_files_in_base64_and_refuses_what_is_not(agent, api_client_for, media):
    c = conversation(agent)
    api = api_client_for(agent)
    # when a client posts an answer with a base64 file and no text
    ok = api.post(f"/api/v1/conversations/{c.pk}/messages",
                  {"attachments": [{"name": "factura.pdf", "content_type": "application/pdf",
                                    "data": base64.b64encode(b"%PDF-1.4 factura").decode()}]},
                  content_type="application/json")
    # then it is sent with the file
    assert ok.status_code == 201
    sent = [i for i in ok.json()["timeline"] if i.get("kind") == "outbound"]
    assert [a["name"] for a in sent[-1]["attachments"]] == ["factura.pdf"]
    # when the data is not base64, then 400 names the file and nothing more is stored
    before = stored(media)
    bad = api.post(f"/api/v1/conversations/{c.pk}/messages",
                   {"body": "Otra", "attachments": [{"name": "x.pdf", "data": "no es base64!"}]},
                   content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_attachment"
    assert stored(media) == before
    # and neither text nor file is a 400 too
    empty = api.post(f"/api/v1/conversations/{c.pk}/messages", {"body": ""}, content_type="application/json")
    assert empty.status_code == 400


@pytest.mark.parametrize(("name", "shown"), [
    ("😀", "😀"), ("..", ".."), ("★★★", "★★★"), ("文" * 150 + ".pdf", "文" * 150 + ".pdf"),
    ("ñandú " * 31 + ".pdf", "ñandú " * 31 + ".pdf"),
])
def test_any_file_name_is_kept_as_sent_and_stored_under_a_safe_one(agent, api_client_for, media, name, shown):
    # given names a file system refuses or cannot hold (nothing usable, or more than 255 bytes once encoded)
    c = conversation(agent)
    # when a file with such a name is sent, then it is accepted, shown under its own name, and opens
    response = api_client_for(agent).post(
        f"/api/v1/conversations/{c.pk}/messages",
        {"body": "Adjunto", "attachments": [{"name": name, "data": base64.b64encode(b"%PDF x").decode()}]},
        content_type="application/json")
    assert response.status_code == 201
    (a,) = Message.objects.get(conversation=c, kind=MessageKind.OUTBOUND).attachments
    assert a["name"] == shown
    assert read_attachment(a) == b"%PDF x"
    assert all(len(p.name.encode()) <= 100 for p in media.rglob("*"))


def test_an_email_answer_whose_files_would_not_fit_in_a_mail_is_refused(agent, settings):
    from connectors.mail.outbound import check_attachments

    # given mail servers that take 4 MB messages (files must fit once base64-encoded: 3/4 of it, less headroom)
    settings.MAIL_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
    c = conversation(agent, channel="email")
    # then 2 MB fit and 3.5 MB do not, with the limit in the reason
    check_attachments(c, [{"name": "a.pdf", "size": 2 * 1024 * 1024}])
    with pytest.raises(ActionError, match="como máximo 2 MB en total"):
        check_attachments(c, [{"name": "a.pdf", "size": 2 * 1024 * 1024}, {"name": "b.pdf", "size": 1536 * 1024}])
