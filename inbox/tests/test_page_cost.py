"""The conversation page costs the same for a short and a long conversation (newest 50 items, older ones a link
away), and the list keeps its statement count whatever the page or its size."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from inbox import actions
from inbox.models import Message

pytestmark = pytest.mark.django_db


def conversation(messages: int, phone: str):
    c, _m, _new = actions.do_receive_inbound(channel="api", body="Hola", customer_name="Ana", phones=[phone])
    Message.objects.bulk_create([Message(conversation=c, kind="inbound", body=f"mensaje {i}") for i in range(messages)])
    return c


def statements(client, path):
    client.get(path)
    cache.clear()  # the folder counts are cached for a few seconds: count them on every measured request
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    return len(queries.captured_queries), response


def test_conversation_page_same_statements_for_5_and_300_messages(client_for):
    client = client_for(UserFactory(role=Role.SUPERVISOR))
    short, long = conversation(5, "3001110000"), conversation(300, "3002220000")
    short_count, short_page = statements(client, f"/inbox/{short.pk}/")
    long_count, long_page = statements(client, f"/inbox/{long.pk}/")
    assert short_count == long_count
    assert long_page.content.count(b'data-item="message-') == 50
    assert b"mensaje 299" in long_page.content and b'id="timeline-older"' in long_page.content
    assert b'id="timeline-older"' not in short_page.content
    older = long_page.content.split(b'id="timeline-older"><a href="')[1].split(b'"')[0].decode().replace("&amp;", "&")
    previous = client.get(older)
    assert previous.status_code == 200 and b"mensaje 249" in previous.content and b"mensaje 250" not in previous.content


def test_list_statements_do_not_grow_with_page_or_size(api_client_for):
    for i in range(30):
        actions.do_receive_inbound(channel="api", body=f"m {i}", customer_name=f"C {i}", phones=[f"31200000{i:02d}"])
    api = api_client_for(UserFactory(role=Role.AGENTE, username="ag-list"))
    counts = set()
    for size in (5, 20):
        first, response = statements(api, f"/api/v1/conversations?state=nueva&page_size={size}")
        counts.add(first)
        nxt = response.json()["next"]
        assert nxt
        second, _response = statements(api, nxt)
        counts.add(second)
    assert len(counts) == 1 and counts.pop() <= 6
