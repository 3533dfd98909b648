"""Reports freshness marks: once per conversation and transaction, and never lost to a rolled-back savepoint."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from inbox import actions as inbox_actions
from reports.models import DirtyConversation
from reports.subscribers import mark_once

pytestmark = pytest.mark.django_db(transaction=True)


def dirty_writes(queries: CaptureQueriesContext) -> int:
    return sum('"reports_dirtyconversation"' in q["sql"] and q["sql"].lstrip().upper().startswith("INSERT")
               for q in queries.captured_queries)


def test_a_new_conversation_is_marked_once_although_it_emits_two_events(supervisor):
    # given a new customer's first message: conversation.created and message.received in one transaction
    with CaptureQueriesContext(connection) as queries:
        c, _m, created = inbox_actions.do_receive_inbound(channel="whatsapp", body="Hola", customer_name="Ana",
                                                          phones=["+573001112299"])
    # then one upsert marks it, and the mark is there after the commit
    assert created and dirty_writes(queries) == 1
    assert DirtyConversation.objects.filter(conversation_id=c.pk).exists()


def test_a_mark_rolled_back_with_its_savepoint_is_written_again():
    # given a transaction whose first mark of conversation 4242 is rolled back with its savepoint
    with transaction.atomic():
        try:
            with transaction.atomic():
                mark_once(4242)
                raise RuntimeError("the step that marked it failed")
        except RuntimeError:
            pass
        assert not DirtyConversation.objects.filter(conversation_id=4242).exists()
        # when a later step of the same transaction marks it again
        with CaptureQueriesContext(connection) as queries:
            mark_once(4242)
            mark_once(4242)
        # then it is written (once), and committed
        assert dirty_writes(queries) == 1
    assert DirtyConversation.objects.filter(conversation_id=4242).exists()


def test_each_transaction_marks_again():
    for _ in range(2):
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            mark_once(4343)
        assert dirty_writes(queries) == 1
