"""Browser test (issue 12): an SVG attachment carrying a <script> never runs as the agent who opens it; it is a
download, and the conversation shows no <img> preview for it."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Error, expect

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from inbox.actions import do_receive_inbound
from inbox.attachments import store_attachment
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]

SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b'<script>document.title = "pwned"; window.name = "pwned"; fetch("/pwned-marker", {method: "POST"});</script>'
       b'<rect width="10" height="10"/></svg>')


def test_svg_attachment_with_a_script_is_downloaded_not_run(asgi_live_server: str, browser: Browser):
    # given a customer email that carries a hostile SVG next to a harmless PNG
    attached = [store_attachment(conversation_id=0, name="factura.svg", content_type="image/svg+xml", data=SVG),
                store_attachment(conversation_id=0, name="foto.png", content_type="image/png", data=b"\x89PNG")]
    conversation, inbound, _created = do_receive_inbound(channel="email", body="Adjunto la factura",
                                                         customer_name="Mallory", emails=["mallory@example.com"],
                                                         attachments=attached)
    UserFactory(username="supervisora", role=Role.SUPERVISOR)
    page = login(browser, asgi_live_server, "supervisora")
    expect(page).not_to_have_url(f"{asgi_live_server}/login/")
    requests: list[str] = []
    page.context.on("request", lambda request: requests.append(request.url))
    svg_url = reverse("inbox:attachment", args=[inbound.pk, 0])

    # when she opens the SVG's address directly
    with page.expect_download() as download_info:
        try:
            page.goto(f"{asgi_live_server}{svg_url}")
        except Error as exc:  # Playwright reports a navigation that became a download as an error
            assert "Download is starting" in str(exc)
    download = download_info.value

    # then the browser saved it as a file and no script of the attacker ran
    assert download.suggested_filename == "factura.svg"
    assert page.evaluate("[document.title, window.name]") != ["pwned", "pwned"]
    assert "pwned" not in page.evaluate("document.title + '|' + window.name")
    assert not [url for url in requests if "pwned-marker" in url]

    # and the conversation previews only the PNG, offering the SVG as a link
    page.goto(f"{asgi_live_server}{reverse('inbox:detail', args=[conversation.pk])}")
    link = page.locator(f'a[href="{svg_url}"]').first
    expect(link).to_be_visible()
    assert page.locator(f'img[src="{svg_url}"]').count() == 0
    assert page.locator(f'img[src="{reverse("inbox:attachment", args=[inbound.pk, 1])}"]').count() >= 1
    assert page.title() != "pwned" and not [url for url in requests if "pwned-marker" in url]
