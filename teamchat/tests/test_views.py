"""The chat's pages and fragments: who sees what, posting with files, the rows the page's script fetches, files
served by the inbox's rules, and the menu's unread badge."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from accounts.models import User
from accounts.roles import Role
from accounts.tests.factories import UserFactory
from core.models import AuditLog
from inbox.attachments import ATTACHMENT_CSP, Upload
from teamchat import actions
from teamchat.models import Channel, Message

pytestmark = pytest.mark.django_db

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.fixture
def people(db: Any) -> dict[str, User]:
    return {name: UserFactory(username=name, full_name=name.capitalize(), role=role) for name, role in (
        ("ana", Role.AGENTE), ("beto", Role.AGENTE), ("carla", Role.AGENTE), ("admin", Role.ADMIN))}


def test_channel_page_shows_history_and_sidebar_with_unread(people, client_for):
    # given a channel of Ana and Beto with two messages from Ana and one direct message to Beto
    ana, beto = people["ana"], people["beto"]
    channel = actions.check_create_channel(ana, name="Ventas norte", member_ids=[beto.pk])
    actions.check_post_message(ana, channel.pk, body="Hola **equipo**")
    actions.check_post_message(ana, channel.pk, body="<script>alert(1)</script>")
    direct = actions.check_open_direct(ana, user_ids=[beto.pk])
    actions.check_post_message(ana, direct.pk, body="¿Hablamos?")
    # when Beto opens the chat's home
    home = client_for(beto).get(reverse("teamchat:home"))
    # then the menu counts 3 unread and the sidebar names the direct message by Ana
    html = home.content.decode()
    assert 'data-chat-unread>3</span>' in html.replace(" >", ">")
    assert "Ventas norte" in html and "Ana" in html
    # when he opens the channel
    page = client_for(beto).get(reverse("teamchat:channel", args=[channel.pk]))
    body = page.content.decode()
    # then the messages are rendered safely, with the "new messages" divider before the first
    assert "<strong>equipo</strong>" in body
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "Nuevos mensajes" in body


def test_private_channel_pages_are_404_to_non_members(people, client_for):
    ana, carla = people["ana"], people["carla"]
    private = actions.check_create_channel(ana, name="Gerencia", private=True)
    m = actions.check_post_message(ana, private.pk, body="confidencial", uploads=[
        Upload(name="plan.png", content_type="image/png", data=PNG)])
    client = client_for(carla)
    for url in (reverse("teamchat:channel", args=[private.pk]), reverse("teamchat:messages", args=[private.pk]),
                reverse("teamchat:message", args=[m.pk]), reverse("teamchat:thread", args=[m.pk]),
                reverse("teamchat:file", args=[m.pk, 0]), reverse("teamchat:history", args=[m.pk]),
                reverse("teamchat:settings", args=[private.pk])):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("teamchat:post", args=[private.pk]), {"body": "hola"}).status_code == 404
    assert "Gerencia" not in client.get(reverse("teamchat:browse")).content.decode()


def test_posting_with_a_pasted_screenshot_serves_it_inline_and_sandboxed(people, client_for, settings, tmp_path,
                                                                       django_capture_on_commit_callbacks):
    # given Ana and Beto in a direct message
    settings.MEDIA_ROOT = tmp_path
    ana, beto = people["ana"], people["beto"]
    direct = actions.check_open_direct(ana, user_ids=[beto.pk])
    # when Ana posts a screenshot (a pasted image arrives as an uploaded file) and a script file
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client_for(ana).post(reverse("teamchat:post", args=[direct.pk]), {
        "body": "mira", "files": [SimpleUploadedFile("captura.png", PNG, content_type="image/png"),
                                  SimpleUploadedFile("x.html", b"<script>alert(1)</script>",
                                                     content_type="text/html")]})
    # then the answer is the new row, with the image shown and the other file downloadable
    assert response.status_code == 200
    message = Message.objects.get(channel=direct)
    assert f'id="m-{message.pk}"' in response.content.decode()
    assert [a["name"] for a in message.attachments] == ["captura.png", "x.html"]
    image = client_for(beto).get(reverse("teamchat:file", args=[message.pk, 0]))
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert image["Content-Security-Policy"] == ATTACHMENT_CSP and image["X-Content-Type-Options"] == "nosniff"
    assert not image.get("Content-Disposition", "").startswith("attachment")
    page = client_for(beto).get(reverse("teamchat:file", args=[message.pk, 1]))
    assert page["Content-Disposition"].startswith("attachment") and page["Content-Type"] != "text/html"
    # and Carla, outside the conversation, gets nothing
    assert client_for(people["carla"]).get(reverse("teamchat:file", args=[message.pk, 0])).status_code == 404


def test_too_large_file_is_refused_with_a_sentence(people, client_for, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.ATTACHMENT_MAX_BYTES = 10
    ana = people["ana"]
    channel = actions.check_create_channel(ana, name="Archivos")
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client_for(ana).post(reverse("teamchat:post", args=[channel.pk]), {
        "body": "", "files": [SimpleUploadedFile("grande.png", PNG, content_type="image/png")]})
    assert response.status_code == 400 and "máximo" in response.json()["detail"]
    assert not Message.objects.exists()


def test_fragments_page_by_keyset_and_refuse_bad_positions(people, client_for):
    ana = people["ana"]
    channel = actions.check_create_channel(ana, name="Largo")
    ids = [actions.check_post_message(ana, channel.pk, body=f"m{i}").pk for i in range(60)]
    client = client_for(ana)
    latest = client.get(reverse("teamchat:channel", args=[channel.pk])).content.decode()
    assert f'id="m-{ids[-1]}"' in latest and f'id="m-{ids[9]}"' not in latest
    assert f'data-before="{ids[10]}"' in latest  # "Ver mensajes anteriores"
    earlier = client.get(reverse("teamchat:messages", args=[channel.pk]), {"before": ids[10]}).content.decode()
    assert all(f'id="m-{i}"' in earlier for i in ids[:10])
    after = client.get(reverse("teamchat:messages", args=[channel.pk]), {"after": ids[57]}).content.decode()
    assert after.count('data-testid="chat-message"') == 2
    for bad in ("x", "9" * 40, "-1", "²"):
        assert client.get(reverse("teamchat:messages", args=[channel.pk]), {"after": bad}).status_code == 400


def test_edit_and_delete_from_the_page(people, client_for):
    ana, beto = people["ana"], people["beto"]
    channel = actions.check_create_channel(ana, name="Turnos", member_ids=[beto.pk])
    m = actions.check_post_message(ana, channel.pk, body="turno 8-4")
    assert client_for(beto).get(reverse("teamchat:edit", args=[m.pk])).status_code == 403
    assert client_for(beto).post(reverse("teamchat:edit", args=[m.pk]), {"body": "x"}).status_code == 403
    edited = client_for(ana).post(reverse("teamchat:edit", args=[m.pk]), {"body": "turno 9-5"})
    assert edited.status_code == 200 and "(editado)" in edited.content.decode()
    history = client_for(beto).get(reverse("teamchat:history", args=[m.pk])).content.decode()
    assert "turno 8-4" in history and "Ana" in history
    assert client_for(beto).post(reverse("teamchat:delete", args=[m.pk])).status_code == 403
    deleted = client_for(ana).post(reverse("teamchat:delete", args=[m.pk]))
    assert "Mensaje borrado" in deleted.content.decode()
    assert AuditLog.objects.filter(action="chat_message.deleted").count() == 1


def test_reacting_and_reading_answer_in_place(people, client_for):
    ana, beto = people["ana"], people["beto"]
    channel = actions.check_create_channel(ana, name="Logros", member_ids=[beto.pk])
    m = actions.check_post_message(ana, channel.pk, body="¡Meta cumplida!")
    row = client_for(beto).post(reverse("teamchat:react", args=[m.pk]), {"emoji": "🎉"}).content.decode()
    assert "🎉 1" in row and 'aria-pressed="true"' in row
    assert client_for(beto).post(reverse("teamchat:react", args=[m.pk]), {"emoji": ""}).status_code == 400
    unread = client_for(beto).get(reverse("teamchat:unread")).json()
    assert unread == {"total": 1, "channels": {str(channel.pk): 1}}
    assert client_for(beto).post(reverse("teamchat:read", args=[channel.pk])).json() == {"last_read_id": m.pk}
    assert client_for(beto).get(reverse("teamchat:unread")).json()["total"] == 0


def test_channel_management_pages(people, client_for):
    ana, beto, carla = people["ana"], people["beto"], people["carla"]
    response = client_for(ana).post(reverse("teamchat:new_channel"), {
        "name": "Proyecto Andes", "topic": "Lanzamiento", "private": "on", "members": [beto.pk]})
    channel = Channel.objects.get(name="Proyecto Andes")
    assert response.status_code == 302 and response["Location"] == reverse("teamchat:channel", args=[channel.pk])
    taken = client_for(carla).post(reverse("teamchat:new_channel"), {"name": "proyecto andes"})
    assert "Ya hay un canal con ese nombre" in taken.content.decode()
    settings_url = reverse("teamchat:settings", args=[channel.pk])
    client_for(ana).post(settings_url, {"op": "add", "members": [carla.pk]})
    assert sorted(actions.member_ids(channel.pk)) == sorted([ana.pk, beto.pk, carla.pk])
    client_for(ana).post(settings_url, {"op": "remove", "user": carla.pk})
    client_for(ana).post(settings_url, {"op": "archive"})
    channel.refresh_from_db()
    assert channel.is_archived and sorted(actions.member_ids(channel.pk)) == sorted([ana.pk, beto.pk])
    direct = client_for(ana).post(reverse("teamchat:new_direct"), {"people": [beto.pk, carla.pk]})
    assert direct.status_code == 302 and Channel.objects.filter(kind="grupo").count() == 1


def test_retention_settings_for_chat_managers_only(people, client_for):
    assert client_for(people["ana"]).get(reverse("teamchat:chat_settings")).status_code == 403
    response = client_for(people["admin"]).post(reverse("teamchat:chat_settings"), {"retention_days": "365"})
    assert response.status_code == 302
    assert AuditLog.objects.filter(action="chat_settings.retention").exists()


def test_more_than_a_page_unread_opens_at_the_first_unread(people, client_for):
    # given 130 messages Beto has not read, after 10 he has
    ana, beto = people["ana"], people["beto"]
    channel = actions.check_create_channel(ana, name="Mucho", member_ids=[beto.pk])
    ids = [actions.check_post_message(ana, channel.pk, body=f"m{i}").pk for i in range(140)]
    actions.check_mark_read(beto, channel.pk, up_to=ids[9])
    # when he opens the channel
    body = client_for(beto).get(reverse("teamchat:channel", args=[channel.pk])).content.decode()
    # then it starts at the first unread (with the divider), holds 100 and says more follow
    assert f'id="m-{ids[10]}"' in body and f'id="m-{ids[9]}"' not in body and f'id="m-{ids[110]}"' not in body
    assert "Nuevos mensajes" in body and "data-has-later" in body
