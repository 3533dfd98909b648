"""The widget's REST endpoints: CORS and origins, pre-chat, sending (length, sanitizing, idempotency, rate limit),
history and the no-agent-available path."""

from __future__ import annotations

import pytest

from connectors.webchat.actions import check_visitor_typing
from connectors.webchat.models import ContactRequirement, Visitor
from connectors.webchat.tests.conftest import ORIGIN
from connectors.webchat.tests.factories import ChatSiteFactory, VisitorFactory, token_for
from inbox.actions import check_add_note, check_send_reply
from inbox.models import Conversation, Message

pytestmark = pytest.mark.django_db


# --- origins and CORS ---------------------------------------------------------------------------------


def test_allowed_origin_gets_cors_headers(widget):
    # when the shop's page asks for the widget configuration
    response = widget.get("config")
    # then it is answered, for that origin only, and never with credentials
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in response["Vary"]
    assert "Access-Control-Allow-Credentials" not in response


def test_preflight_for_allowed_origin(client, site):
    # when the browser preflights a POST with the visitor-token header
    response = client.options(f"/webchat/api/v1/messages?site={site.token}", HTTP_ORIGIN=ORIGIN,
                              HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                              HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type, x-visitor-token")
    # then it may, with that header, and may cache the answer
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "X-Visitor-Token" in response["Access-Control-Allow-Headers"]
    assert int(response["Access-Control-Max-Age"]) > 0


@pytest.mark.parametrize("origin", ["https://evil.example", "http://tienda.example", "https://tienda.example:8443",
                                    "https://shop.tienda.example"])
def test_other_origins_are_refused_without_cors_headers(client, site, origin):
    # when a page on another origin (or scheme, port, subdomain) tries, including its preflight
    preflight = client.options(f"/webchat/api/v1/messages?site={site.token}", HTTP_ORIGIN=origin,
                               HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    response = client.get("/webchat/api/v1/config", {"site": site.token}, HTTP_ORIGIN=origin)
    # then both are refused and carry no CORS header (the browser hides the answer)
    for r in (preflight, response):
        assert r.status_code == 403
        assert "Access-Control-Allow-Origin" not in r
        assert r.json()["code"] == "origin_not_allowed"


def test_wildcard_origin_admits_subdomains_only(client):
    site = ChatSiteFactory(allowed_origins=["https://*.tienda.example"])
    ok = client.get("/webchat/api/v1/config", {"site": site.token}, HTTP_ORIGIN="https://www.tienda.example")
    apex = client.get("/webchat/api/v1/config", {"site": site.token}, HTTP_ORIGIN="https://tienda.example")
    lookalike = client.get("/webchat/api/v1/config", {"site": site.token}, HTTP_ORIGIN="https://eviltienda.example")
    assert (ok.status_code, apex.status_code, lookalike.status_code) == (200, 403, 403)


def test_centralitas_own_pages_are_always_allowed(client, site):
    # the demo page is served by Centralita itself: same origin as the API
    response = client.get("/webchat/api/v1/config", {"site": site.token}, HTTP_ORIGIN="http://testserver")
    assert response.status_code == 200


def test_unknown_or_disabled_site_is_404(client, site):
    assert client.get("/webchat/api/v1/config", {"site": "nope"}).status_code == 404
    site.enabled = False
    site.save()
    assert client.get("/webchat/api/v1/config", {"site": site.token}, HTTP_ORIGIN=ORIGIN).status_code == 404


# --- configuration and pre-chat -------------------------------------------------------------------------


def test_config_carries_look_texts_and_form(widget, site, online_agent):
    # given a site with its own colors, position and welcome text
    site.primary_color, site.position, site.welcome_text = "#aa0000", "izquierda", "¡Bienvenido a la tienda!"
    site.require_contact = ContactRequirement.EMAIL
    site.save()
    data = widget.get("config").json()
    # then the widget gets them, and every other text translated by the server (Spanish by default)
    assert data["colors"]["primary"] == "#aa0000" and data["position"] == "left"
    assert data["texts"]["welcome"] == "¡Bienvenido a la tienda!"
    assert data["texts"]["send"] == "Enviar"
    assert data["prechat"] == {"name": True, "contact": "email"}
    assert data["online"] is True and data["max_length"] == 2000


def test_config_texts_follow_the_visitors_language(client, site):
    data = client.get("/webchat/api/v1/config", {"site": site.token}, HTTP_ORIGIN=ORIGIN,
                      HTTP_ACCEPT_LANGUAGE="en").json()
    assert data["texts"]["send"] in {"Send", "Enviar"}  # English when the catalog has it; never empty
    assert data["texts"]["send"]


def test_prechat_requires_what_the_site_asks(widget, site, online_agent):
    # given a site asking for name and e-mail
    site.require_contact = ContactRequirement.EMAIL
    site.save()
    # when the form comes without e-mail / with a bad one / complete
    missing = widget.post("visitors", {"name": "Lucía"})
    bad = widget.post("visitors", {"name": "Lucía", "email": "no-es-correo"})
    ok = widget.post("visitors", {"name": "Lucía", "email": "Lucia@Correo.example"})
    # then it is refused with the field to fix, then accepted with a token and the normalized e-mail
    assert missing.status_code == 400 and missing.json()["field"] == "email"
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_email"
    assert ok.status_code == 201 and ok.json()["visitor_token"]
    assert Visitor.objects.get().email == "lucia@correo.example"


def test_phone_is_stored_in_e164(widget, site, online_agent):
    site.require_contact = ContactRequirement.PHONE
    site.save()
    assert widget.post("visitors", {"name": "Lucía", "phone": "abc"}).json()["code"] == "invalid_phone"
    widget.join(phone="300 123 4567")
    assert Visitor.objects.get().phone == "+573001234567"


def test_no_agent_available_says_so_and_requires_contact(widget, site):
    # given nobody available and a site that normally asks only for a name
    assert site.require_contact == ContactRequirement.NONE
    config = widget.get("config").json()
    # then the widget is told nobody is online, with the offline text
    assert config["online"] is False
    assert "no hay agentes disponibles" in config["texts"]["offline"]
    # and the pre-chat form must bring a way to answer later
    refused = widget.post("visitors", {"name": "Lucía"})
    assert refused.status_code == 400 and refused.json()["code"] == "contact_required"
    widget.join(email="lucia@correo.example")
    # and the conversation still lands in the inbox
    sent = widget.post("messages", {"content": "¿Me llaman mañana?", "echo_id": "e1"})
    assert sent.status_code == 201
    conversation = Conversation.objects.get()
    assert conversation.inbox.is_global and conversation.customer.emails.get().email == "lucia@correo.example"


def test_leave_contact_later_updates_the_visitor(widget, online_agent):
    # given a visitor who joined with a name only
    widget.join()
    # when they leave their phone with the "leave your contact" form (same endpoint, with their token)
    response = widget.post("visitors", {"phone": "3001234567"})
    # then the same visitor now has it
    assert response.status_code == 200 and response.json()["visitor"]["has_contact"] is True
    assert Visitor.objects.get().phone == "+573001234567"


def test_new_visitors_are_rate_limited_per_address(widget, settings, online_agent, one_limiter_window):
    settings.WEBCHAT_LIMITS = {"visitor": (2, 3600)}
    # given two new visitors from one address within the hour
    widget.join()
    widget.join()
    # when a third one starts
    widget.token = ""
    response = widget.post("visitors", {"name": "Bot"})
    # then it must wait
    assert response.status_code == 429 and int(response["Retry-After"]) > 0


# --- sending ----------------------------------------------------------------------------------------------


def test_message_lands_in_the_sites_inbox(widget, site, online_agent):
    # given a site answering into Ventas
    from inbox.defaults import ensure_default_inboxes
    from inbox.models import Inbox

    ensure_default_inboxes()
    site.inbox = Inbox.objects.get(code="ventas")
    site.save()
    widget.join(email="lucia@correo.example")
    # when the visitor writes
    response = widget.post("messages", {"content": "Hola, ¿tienen envío?", "echo_id": "abc-1",
                                        "page_url": "https://tienda.example/planes"})
    # then it is stored as a web chat message of that site, in Ventas, for the customer she said she is
    assert response.status_code == 201
    data = response.json()
    assert data["content"] == "Hola, ¿tienen envío?" and data["message_type"] == 0 and data["echo_id"] == "abc-1"
    conversation = Conversation.objects.get()
    assert (conversation.channel, conversation.channel_ref, conversation.inbox.code) == (
        "webchat", f"webchat:{site.pk}", "ventas")
    assert conversation.customer.name == "Lucía Pérez"
    visitor = Visitor.objects.get()
    assert visitor.conversation == conversation and visitor.customer == conversation.customer
    assert visitor.last_page_url == "https://tienda.example/planes"


def test_resending_the_same_echo_id_stores_once(widget, online_agent):
    # given a widget whose answer got lost, so it sends the same message again
    widget.join()
    first = widget.post("messages", {"content": "Hola", "echo_id": "same-1"})
    again = widget.post("messages", {"content": "Hola", "echo_id": "same-1"})
    # then the second call returns the stored message (200) and there is one message
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Message.objects.count() == 1


def test_messages_are_length_checked(widget, online_agent):
    widget.join()
    ok = widget.post("messages", {"content": "a" * 2000, "echo_id": "long-ok"})
    too_long = widget.post("messages", {"content": "a" * 2001, "echo_id": "long-no"})
    empty = widget.post("messages", {"content": "   ", "echo_id": "empty"})
    assert ok.status_code == 201
    assert too_long.status_code == 400 and too_long.json()["code"] == "message_too_long"
    assert empty.status_code == 400 and empty.json()["code"] == "empty_message"


def test_messages_are_plain_text(widget, online_agent):
    # when a visitor sends markup
    widget.join()
    response = widget.post("messages", {"content": "<b>Hola</b> <script>alert(1)</script>a < b & c\x00",
                                        "echo_id": "html"})
    # then tags (and scripts with their content) are gone, the text and its characters remain
    assert response.json()["content"] == "Hola a < b & c"
    assert Message.objects.get().body == "Hola a < b & c"


def test_sending_is_rate_limited_per_visitor(widget, settings, online_agent, one_limiter_window):
    settings.WEBCHAT_LIMITS = {"message": (3, 60)}
    widget.join()
    codes = [widget.post("messages", {"content": f"m{i}", "echo_id": f"rl-{i}"}).status_code for i in range(4)]
    limited = widget.post("messages", {"content": "otra", "echo_id": "rl-x"})
    assert codes == [201, 201, 201, 429]
    assert limited.status_code == 429 and 0 < int(limited["Retry-After"]) <= 61
    assert limited["Access-Control-Expose-Headers"] == "Retry-After"  # the widget can read it cross-origin
    assert Message.objects.count() == 3


def test_messages_need_a_valid_visitor_token(widget, online_agent):
    widget.token = "forged"
    response = widget.post("messages", {"content": "hola"})
    assert response.status_code == 401 and response.json()["code"] == "invalid_visitor"


# --- history ------------------------------------------------------------------------------------------------


def test_history_shows_replies_but_never_internal_notes(widget, online_agent):
    # given a visitor's conversation with a reply and an internal note
    widget.join()
    widget.post("messages", {"content": "Hola", "echo_id": "h1"})
    conversation = Conversation.objects.get()
    check_add_note(online_agent, conversation.pk, body="Cliente difícil, ojo")
    check_send_reply(online_agent, conversation.pk, body="¡Hola Lucía! ¿En qué te ayudo?")
    # when the widget loads its history
    data = widget.get("messages").json()
    # then it sees her message and the reply (with the agent's first name only), never the note
    assert [m["content"] for m in data["messages"]] == ["Hola", "¡Hola Lucía! ¿En qué te ayudo?"]
    assert data["messages"][1]["sender"] == {"type": "user", "name": "Valeria"}
    assert "Cliente difícil" not in str(data)
    assert data["visitor_token"]  # renewed


def test_history_pages_backwards_and_syncs_forwards(widget, settings, online_agent):
    settings.WEBCHAT_LIMITS = {"message": (100, 60)}
    widget.join()
    ids = [widget.post("messages", {"content": f"m{i}", "echo_id": f"p{i}"}).json()["id"] for i in range(55)]
    newest = widget.get("messages").json()
    older = widget.get("messages", before=newest["messages"][0]["id"]).json()
    after = widget.get("messages", after=ids[52]).json()
    assert len(newest["messages"]) == 50 and newest["has_more"] is True
    assert [m["id"] for m in older["messages"]] == ids[:5] and older["has_more"] is False
    assert [m["id"] for m in after["messages"]] == ids[53:]


def test_a_visitor_never_reads_someone_elses_conversation(client, site, online_agent):
    # given Ana chatting with her e-mail
    ana = VisitorFactory(site=site, name="Ana", email="ana@correo.example")
    headers = {"HTTP_ORIGIN": ORIGIN}
    client.post(f"/webchat/api/v1/messages?site={site.token}", {"content": "Mi pedido 123", "echo_id": "a1"},
                content_type="application/json", HTTP_X_VISITOR_TOKEN=token_for(ana), **headers)
    # when another visitor types Ana's e-mail in the pre-chat form and writes
    eve = VisitorFactory(site=site, name="Eva", email="ana@correo.example")
    client.post(f"/webchat/api/v1/messages?site={site.token}", {"content": "¿Qué pedí?", "echo_id": "e1"},
                content_type="application/json", HTTP_X_VISITOR_TOKEN=token_for(eve), **headers)
    history = client.get("/webchat/api/v1/messages", {"site": site.token}, HTTP_X_VISITOR_TOKEN=token_for(eve),
                         **headers).json()
    # then she gets a conversation (and customer) of her own and reads only her message
    ana.refresh_from_db()
    eve.refresh_from_db()
    assert eve.conversation_id != ana.conversation_id and eve.customer_id != ana.customer_id
    assert [m["content"] for m in history["messages"]] == ["¿Qué pedí?"]
    assert Conversation.objects.count() == 2


def test_history_requires_a_token(widget):
    assert widget.get("messages").status_code == 401


def test_visitor_limit_keys_on_the_real_address_not_a_spoofed_header(client, site, settings, online_agent,
                                                                     one_limiter_window):
    settings.WEBCHAT_LIMITS = {"visitor": (2, 3600)}
    settings.TRUSTED_PROXIES = []

    def join(forwarded_for: str) -> int:
        return client.post(f"/webchat/api/v1/visitors?site={site.token}", {"name": "Bot"},
                           content_type="application/json", HTTP_ORIGIN=ORIGIN, REMOTE_ADDR="203.0.113.80",
                           HTTP_X_FORWARDED_FOR=forwarded_for).status_code

    # a script inventing a new X-Forwarded-For per request is still one address
    assert [join(f"198.51.100.{n}") for n in range(3)] == [201, 201, 429]


def test_visitor_limit_behind_a_trusted_proxy_counts_each_client(client, site, settings, online_agent,
                                                                 one_limiter_window):
    settings.WEBCHAT_LIMITS = {"visitor": (1, 3600)}
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    def join(forwarded_for: str) -> int:
        return client.post(f"/webchat/api/v1/visitors?site={site.token}", {"name": "Ana"},
                           content_type="application/json", HTTP_ORIGIN=ORIGIN, REMOTE_ADDR="10.0.0.2",
                           HTTP_X_FORWARDED_FOR=forwarded_for).status_code

    assert join("198.51.100.21") == 201
    assert join("198.51.100.22") == 201  # another customer behind the same proxy
    assert join("1.2.3.4, 198.51.100.21") == 429  # the first one again, with a made-up address prepended


def test_typing_right_after_sending_still_reaches_the_agents(widget, online_agent, one_limiter_window):
    # given a visitor who typed her first message (no conversation yet: the signal is counted and dropped) and sent it
    widget.join()
    visitor_id = Visitor.objects.get().pk
    assert check_visitor_typing(visitor_id, typing=True) is False
    widget.post("messages", {"content": "Hola, ¿hacen envíos a Cali?", "echo_id": "t-1"})
    assert check_visitor_typing(visitor_id, typing=False) is True
    # when she types on within the same seconds
    told = check_visitor_typing(visitor_id, typing=True)
    # then the agents are told; a flood in the same window is not
    assert told is True
    flood = [check_visitor_typing(visitor_id, typing=True) for _ in range(10)]
    assert flood.count(True) == 2 and flood[-1] is False
