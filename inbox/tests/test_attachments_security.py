"""Issue 12: customer attachments never run script on our origin. Only raster images are served inline; SVG,
HTML, XML, scripts, PDFs and unknown types are downloads; every answer carries nosniff and a sandbox CSP."""

from __future__ import annotations

from typing import Any

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from inbox.actions import do_receive_inbound
from inbox.attachments import ATTACHMENT_CSP, is_preview_image, serving, store_attachment
from inbox.models import Inbox, Message

pytestmark = pytest.mark.django_db

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>document.title="pwned"</script></svg>'


def _inbound(*files: tuple[str, str, bytes], inbox_code: str | None = None) -> Message:
    stored = [store_attachment(conversation_id=0, name=name, content_type=content_type, data=data)
              for name, content_type, data in files]
    _conversation, message, _created = do_receive_inbound(channel="api", body="adjunto", customer_name="Ana",
                                                          phones=["+573001112233"], attachments=stored,
                                                          inbox_code=inbox_code)
    return message


@pytest.fixture
def supervisor_client(client: Any) -> Any:
    client.force_login(UserFactory(role=Role.SUPERVISOR))
    return client


@pytest.mark.parametrize(("declared", "served", "inline"), [
    ("image/svg+xml", "application/octet-stream", False),
    ("text/html", "application/octet-stream", False),
    ("application/xhtml+xml", "application/octet-stream", False),
    ("text/xml", "application/octet-stream", False),
    ("application/xml", "application/octet-stream", False),
    ("application/javascript", "application/octet-stream", False),
    ("text/javascript", "application/octet-stream", False),
    ("", "application/octet-stream", False),
    ("image/png", "image/png", True),
    ("IMAGE/JPEG; name=foto.jpg", "image/jpeg", True),
    ("image/gif", "image/gif", True),
    ("image/webp", "image/webp", True),
    # Chromium will not run its PDF viewer under a sandbox CSP: a PDF is a download, kept as a PDF
    ("application/pdf", "application/pdf", False),
    # voice notes: <audio> still plays them (subresources ignore Content-Disposition); opening one downloads it
    ("audio/ogg", "audio/ogg", False),
    ("text/html\r\nX-Injected: 1", "application/octet-stream", False),
])
def test_each_content_type_is_served_inline_only_when_it_cannot_run_script(supervisor_client, declared, served,
                                                                           inline):
    message = _inbound(("archivo.bin", declared, b"<script>alert(1)</script>"))
    message.attachments[0]["content_type"] = declared  # store_attachment fills in a missing type; keep it raw
    message.save(update_fields=["attachments"])

    response = supervisor_client.get(reverse("inbox:attachment", args=[message.pk, 0]))

    assert response.status_code == 200
    assert response["Content-Type"] == served
    assert response["Content-Disposition"].startswith("inline;" if inline else "attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == ATTACHMENT_CSP
    assert response["Content-Security-Policy"].startswith("sandbox;")
    assert "X-Injected" not in response
    assert serving(declared) == (served, inline)


def test_a_hostile_filename_cannot_inject_headers(supervisor_client):
    message = _inbound(('a"\r\nSet-Cookie: x=1\r\n.png', "image/png", b"\x89PNG"))

    response = supervisor_client.get(reverse("inbox:attachment", args=[message.pk, 0]))

    assert response.status_code == 200
    assert "Set-Cookie" not in response and not response.cookies
    assert "\r" not in response["Content-Disposition"] and "\n" not in response["Content-Disposition"]
    assert response["Content-Disposition"].startswith("inline; filename*=utf-8''a%22%0D%0ASet-Cookie")


def test_other_agents_get_404(client):
    # a conversation in a team inbox the agent does not belong to
    Inbox.objects.create(code="ventas-ajena", name="Ventas ajena")
    message = _inbound(("foto.png", "image/png", b"\x89PNG"), inbox_code="ventas-ajena")
    client.force_login(UserFactory(role=Role.AGENTE))

    assert client.get(reverse("inbox:attachment", args=[message.pk, 0])).status_code == 404
    assert client.get(reverse("inbox:attachment", args=[message.pk, 1])).status_code == 404
    client.force_login(UserFactory(role=Role.SUPERVISOR))
    assert client.get(reverse("inbox:attachment", args=[message.pk, 0])).status_code == 200


@pytest.mark.parametrize("template", ["inbox/_message_body.html", "email/_message_body.html",
                                      "whatsapp/_message_body.html"])
def test_timeline_previews_only_raster_images(template):
    message = _inbound(("dibujo.svg", "image/svg+xml", SVG), ("foto.png", "image/png", b"\x89PNG"))

    html = render_to_string(template, {"i": message})

    assert html.count("<img") == 1
    assert f'<img src="{reverse("inbox:attachment", args=[message.pk, 1])}"' in html
    assert "dibujo.svg</a>" in html  # the SVG is still offered as a link (a download)


def test_preview_filter_matches_the_allow_list():
    assert [is_preview_image(t) for t in ("image/png", "image/webp; x=y", "image/svg+xml", "image/bmp", None)] == [
        True, True, False, False, False]
