from __future__ import annotations

import json

import pytest


@pytest.fixture
def sent(monkeypatch):
    """Every realtime event the announcement actions send, as the channel layer would carry it (after JSON), with
    its recipients."""
    events = []

    def record(event, *, user_ids=(), topics=()):
        events.append({"event": json.loads(json.dumps(event)), "users": sorted(set(user_ids))})

    monkeypatch.setattr("announcements.actions.send_event_on_commit", record)
    return events
