"""Issue 16: a quick reply may carry a file (a catalogue, a size guide): it is kept with the reply, offered in the
picker, attached to the answer when the reply is inserted, and copied into the conversation when it is sent."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import reverse

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from automation import actions
from automation.models import QuickReply
from automation.tests.test_quick_replies import whatsapp
from core.models import AuditLog
from inbox.attachments import Upload, read_attachment
from inbox.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def files(media: Path, folder: str) -> list[str]:
    return sorted(p.name for p in (media / folder).rglob("*") if p.is_file())


def catalogue(user, **kwargs) -> QuickReply:
    values = {"title": "Catálogo", "shortcut": "catalogo",
              "body": "Le comparto el catálogo, {{cliente.primer_nombre}}.",
              "attachment": Upload("catálogo.pdf", "application/pdf", b"%PDF catalogo")} | kwargs
    return actions.check_save_quick_reply(user, **values)


def test_the_editor_keeps_replaces_and_removes_the_file(agent, client_for, media, django_capture_on_commit_callbacks):
    client = client_for(agent)
    # when the agent creates a quick reply with a file
    created = client.post(reverse("automation:quick_reply_create"), {
        "title": "Guía de tallas", "shortcut": "tallas", "body": "Aquí tiene la guía.", "scope": "mias",
        "attachment": SimpleUploadedFile("guía.pdf", b"%PDF guia", content_type="application/pdf")})
    assert created.status_code == 302
    reply = QuickReply.objects.get(shortcut="tallas")
    assert (reply.attachment["name"], reply.attachment["size"]) == ("guía.pdf", 9)
    # then the list and the editor show it, and the editor's link opens it
    assert re.search(r'class="muted qr-file">.*?</svg> guía.pdf</span>',
                     client.get(reverse("automation:quick_replies")).content.decode(), re.S)
    editor = client.get(reverse("automation:quick_reply_edit", args=[reply.pk])).content.decode()
    assert reverse("automation:quick_reply_file", args=[reply.pk]) in editor and "Quitar el archivo actual" in editor
    opened = client.get(reverse("automation:quick_reply_file", args=[reply.pk]))
    assert b"".join(opened.streaming_content) == b"%PDF guia"
    # when the text is edited without choosing a file, the file stays
    form = {"title": "Guía de tallas", "shortcut": "tallas", "body": "La guía de tallas.", "scope": "mias"}
    client.post(reverse("automation:quick_reply_edit", args=[reply.pk]), form)
    reply.refresh_from_db()
    assert reply.body == "La guía de tallas." and reply.attachment["name"] == "guía.pdf"
    # when it is replaced, the old file is deleted once the change is saved
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("automation:quick_reply_edit", args=[reply.pk]), {
            **form, "attachment": SimpleUploadedFile("guía 2027.pdf", b"%PDF 2027", content_type="application/pdf")})
    reply.refresh_from_db()
    assert reply.attachment["name"] == "guía 2027.pdf" and files(media, "quick_replies") == ["guía_2027.pdf"]
    # when it is removed, the reply has no file and none is left behind
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("automation:quick_reply_edit", args=[reply.pk]), {**form, "remove_attachment": "on"})
    reply.refresh_from_db()
    assert reply.attachment == {} and files(media, "quick_replies") == []
    assert AuditLog.objects.filter(action="quick_reply.updated", changes__attachment=["guía 2027.pdf", ""]).exists()


def test_the_inserted_reply_brings_its_file_and_the_answer_sends_a_copy(agent, client_for, media):
    # given a quick reply with a file and the agent's conversation
    reply = catalogue(agent)
    c = whatsapp(agent)
    client = client_for(agent)
    # when the picker lists it, it names the file; when the agent chooses it, the file comes as a reference
    options = client.get(reverse("automation:picker", args=[c.pk]), {"q": "cat"}).content.decode()
    assert re.search(r'class="muted qr-file">.*?</svg> catálogo.pdf</span>', options, re.S)
    used = client.post(reverse("automation:use", args=[reply.pk, c.pk])).json()
    assert used["attachment"] == {"ref": f"quick_reply:{reply.pk}", "name": "catálogo.pdf", "size": 13}
    # when the answer is sent with it
    sent = client.post(reverse("inbox:message", args=[c.pk]), {
        "kind": "reply", "body": used["body"], "attachment_refs": [used["attachment"]["ref"]]},
        headers={"HX-Request": "true"})
    assert sent.status_code == 200
    # then the message carries its own copy, under the conversation, so editing the reply later changes nothing
    m = Message.objects.get(conversation=c, kind="outbound")
    (a,) = m.attachments
    assert a["name"] == "catálogo.pdf" and a["path"].startswith(f"attachments/{c.pk}/")
    assert read_attachment(a) == b"%PDF catalogo"
    actions.check_save_quick_reply(agent, quick_reply_id=reply.pk, title="Catálogo", shortcut="catalogo",
                                   body="Catálogo", remove_attachment=True)
    assert read_attachment(Message.objects.get(pk=m.pk).attachments[0]) == b"%PDF catalogo"


def test_a_reply_the_agent_may_not_use_gives_no_file(agent, client_for):
    # given another agent's personal quick reply with a file
    other = UserFactory(role=Role.AGENTE)
    theirs = catalogue(other)
    plain = actions.check_save_quick_reply(agent, title="Hola", shortcut="hola", body="Hola")
    c = whatsapp(agent)
    # when this agent posts a reference to it (by hand), or to a reply without a file, or to nothing
    for ref in (f"quick_reply:{theirs.pk}", f"quick_reply:{plain.pk}", "quick_reply:999999", "quick_reply:abc",
                "otra_cosa:1", "quick_reply:"):
        response = client_for(agent).post(reverse("inbox:message", args=[c.pk]), {
            "kind": "reply", "body": "Hola", "attachment_refs": [ref]}, headers={"HX-Request": "true"})
        # then the answer is refused and nothing is sent
        assert response.status_code == 400, ref
        assert "El archivo elegido ya no está disponible." in response.content.decode()
    assert not Message.objects.filter(conversation=c, kind="outbound").exists()
    # and its file cannot be opened either
    assert client_for(agent).get(reverse("automation:quick_reply_file", args=[theirs.pk])).status_code == 404


def test_deleting_a_reply_deletes_its_file(agent, media, django_capture_on_commit_callbacks):
    reply = catalogue(agent)
    assert files(media, "quick_replies") == ["catálogo.pdf"]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        actions.check_delete_quick_reply(agent, reply.pk)
    assert files(media, "quick_replies") == []


def test_the_api_sets_keeps_and_removes_the_file(agent, api_client_for):
    api = api_client_for(agent)
    data = base64.b64encode(b"%PDF api").decode()
    created = api.post("/api/v1/quick-replies", {
        "title": "Catálogo", "shortcut": "catalogo", "body": "Catálogo adjunto",
        "attachment": {"name": "catálogo.pdf", "content_type": "application/pdf", "data": data}},
        content_type="application/json")
    assert created.status_code == 201
    assert created.json()["attachment"] == {"name": "catálogo.pdf", "content_type": "application/pdf", "size": 8}
    qid = created.json()["id"]
    # a PUT without the field keeps the file; with null, removes it
    kept = api.put(f"/api/v1/quick-replies/{qid}", {"title": "Catálogo", "shortcut": "catalogo", "body": "Nuevo"},
                   content_type="application/json")
    assert kept.json()["attachment"]["name"] == "catálogo.pdf"
    removed = api.put(f"/api/v1/quick-replies/{qid}", {"title": "Catálogo", "shortcut": "catalogo", "body": "Nuevo",
                                                       "attachment": None}, content_type="application/json")
    assert removed.status_code == 200 and removed.json()["attachment"] is None
    bad = api.post("/api/v1/quick-replies", {"title": "X", "shortcut": "x", "body": "X",
                                             "attachment": {"name": "x.pdf", "data": "%%%"}},
                   content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_attachment"
