"""The unread counts' index covers the author and the deletion mark on PostgreSQL (index-only scans), and is a
plain partial index on SQLite, which has no covering indexes (core.indexes.CoveringIndex)."""

from __future__ import annotations

import pytest
from django.core import checks
from django.db import connection

pytestmark = pytest.mark.django_db


def test_the_top_level_index_covers_author_and_deletion_where_the_database_can():
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'chat_message_top'")
        else:
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'chat_message_top'")
        (definition,) = cursor.fetchone()
    assert '("channel_id", "id")' in definition.replace("channel_id, id", '"channel_id", "id"')
    assert "parent_id" in definition and "IS NULL" in definition
    if connection.vendor == "postgresql":
        assert "INCLUDE (author_id, deleted_at)" in definition
    else:
        assert "INCLUDE" not in definition
    # and no system check warns about it on either database (Django's own include= does on SQLite)
    assert [m for m in checks.run_checks() if m.id == "models.W040"] == []
