"""Issue 12 on the widget's public endpoints: a lone surrogate was a 500 after ~7 s; now a quick, clear 400."""

from __future__ import annotations

import pytest

from connectors.webchat import actions
from core.errors import ActionError
from inbox.models import Message

pytestmark = pytest.mark.django_db


def test_lone_surrogate_on_the_public_webchat_message_endpoint_is_a_quick_400(
        widget, online_agent, django_assert_max_num_queries):
    # given a visitor in the chat
    widget.join()
    # when a script sends a message with "\ud800" (valid JSON text, not UTF-8)
    with django_assert_max_num_queries(2):  # the site and the visitor: the body is refused before any other work
        response = widget.post("messages", {"content": "Hola \ud800", "echo_id": "s-1"})
    # then a 400 naming the field (it was a 500 after ~7 s), and nothing stored
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_text" and response.json()["field"] == "content"
    assert not Message.objects.exists()


def test_lone_surrogate_in_the_pre_chat_form_is_400(widget):
    response = widget.post("visitors", {"name": "Lucía \udc00"})
    assert response.status_code == 400 and response.json()["field"] == "name"


def test_lone_surrogate_over_the_socket_path_is_refused_by_the_action(site, visitor):
    # the websocket consumer calls the same action; it answers ActionError, which becomes an error frame
    with pytest.raises(ActionError) as refused:
        actions.check_visitor_message(site, visitor, content="x\ud800", echo_id="w-1")
    assert refused.value.code == "invalid_text" and refused.value.status == 400
    assert not Message.objects.exists()


def test_web_chat_messages_keep_their_length_limit_from_settings(widget, online_agent, settings):
    # the limit lives with the others in settings (docs/api.md, Limits): 2,000 characters for a visitor
    assert settings.MESSAGE_MAX_LENGTH_BY_CHANNEL["webchat"] == 2_000
    widget.join()
    assert widget.post("messages", {"content": "a" * 2_001, "echo_id": "l-1"}).json()["code"] == "message_too_long"
