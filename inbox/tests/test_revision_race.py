"""A customer's edit processed while its message is being stored by another worker is not lost (PostgreSQL: the two
take turns on an advisory lock keyed by the message's channel id; inbox.revision_actions._take_turns_on)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from inbox.actions import do_receive_inbound
from inbox.models import Message, MessageRevision
from inbox.revision_actions import do_record_message_change

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _waiting_for_advisory_lock() -> bool:
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            return bool(cursor.fetchone()[0])
    finally:
        other.close()


def test_edit_racing_its_message_is_applied_not_left_pending(is_postgres):
    if not is_postgres:
        pytest.skip("PostgreSQL only: SQLite writes one transaction at a time")
    outcome: list[str] = []

    def edit() -> None:
        try:
            outcome.append(do_record_message_change(kind="edit", target_external_id="wamid.race", event_id="wamid.e",
                                                    at=timezone.now(), body="Mejor 3 cajas"))
        finally:
            connection.close()

    editor = threading.Thread(target=edit)
    # given a worker storing the message (its transaction still open)
    with transaction.atomic():
        do_receive_inbound(channel="whatsapp", body="Quiero 2 cajas", customer_name="Ana", phones=["+573001234567"],
                           external_id="wamid.race")
        # when another worker processes the edit at that moment
        editor.start()
        deadline = time.monotonic() + 10  # a bound on waiting for the other thread, not a measurement
        while not _waiting_for_advisory_lock():
            assert editor.is_alive() and time.monotonic() < deadline, "the edit did not wait for the message"
            threading.Event().wait(0.01)
    editor.join(10)
    # then the edit waited for the message and changed it, instead of waiting for a message it could not see
    assert outcome == ["applied"]
    message = Message.objects.get(external_id="wamid.race")
    assert message.body == "Mejor 3 cajas"
    assert not MessageRevision.objects.filter(message__isnull=True).exists()
