"""The one outbox module: its transition table, the compare-and-set transition and claim, backoff, park and
requeue — exercised on a real outbox table (outgoing webhooks), the same code the Kommo sync and the WhatsApp and
email sends run."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.db.models import Q
from django.utils import timezone

from core.outbox import ACTIVE, TRANSITIONS, Phase, UndeclaredTransition
from webhooks.actions import OUTBOX
from webhooks.models import WebhookEndpoint, WebhookMessage

pytestmark = pytest.mark.django_db
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def message():
    endpoint = WebhookEndpoint.objects.create(url="https://receiver.test/hook", events=["order.confirmed"])
    return WebhookMessage.objects.create(endpoint=endpoint, event="order.confirmed", payload={"n": 1},
                                         next_attempt_at=NOW)


def state(row):
    row.refresh_from_db()
    return OUTBOX.phase_of(row.state)


def test_the_table_declares_every_phase_and_a_done_row_only_fails_by_a_later_report():
    assert set(TRANSITIONS) == set(Phase)
    assert TRANSITIONS[Phase.DONE] == {Phase.FAILED}
    assert TRANSITIONS[Phase.FAILED] == {Phase.PENDING}
    assert all(Phase.PENDING not in targets for p, targets in TRANSITIONS.items() if p != Phase.FAILED)


def test_a_move_the_table_does_not_declare_is_refused_before_touching_the_row(message):
    with pytest.raises(UndeclaredTransition):
        OUTBOX.transition(message.pk, Phase.PENDING, frm=ACTIVE)
    with pytest.raises(UndeclaredTransition):
        OUTBOX.transition(message.pk, Phase.RETRYING, frm=(Phase.DONE,))
    assert state(message) == Phase.PENDING


def test_a_transition_is_a_compare_and_set_on_the_current_state(message):
    # given another worker already delivered the row
    assert OUTBOX.succeed(message.pk, delivered_at=NOW)
    # when a stale worker tries to schedule a retry / then nothing changes
    assert OUTBOX.retry_later(message.pk, attempts=1, error="timeout") is None
    assert state(message) == Phase.DONE
    message.refresh_from_db()
    assert message.last_error == "" and message.delivered_at == NOW


def test_a_claim_counts_the_attempt_and_only_one_of_two_workers_wins(message):
    due = message.next_attempt_at
    assert OUTBOX.claim(message.pk, now=NOW, when=Q(next_attempt_at=due))
    assert not OUTBOX.claim(message.pk, now=NOW, when=Q(next_attempt_at=due))  # the second read the same due time
    message.refresh_from_db()
    assert message.attempts == 1 and message.next_attempt_at == NOW + OUTBOX.lease


def test_a_finished_row_cannot_be_claimed(message):
    OUTBOX.park(message.pk, error="410 Gone")
    assert not OUTBOX.claim(message.pk, now=NOW)


def test_retry_later_waits_by_the_shared_backoff_with_jitter(message):
    with time_machine.travel(NOW, tick=False):
        when = OUTBOX.retry_later(message.pk, attempts=3, error="x" * 5000)
    assert when is not None
    expected = OUTBOX.backoff_base * 2 ** 2
    assert expected * 0.8 <= (when - NOW).total_seconds() <= expected * 1.2
    message.refresh_from_db()
    assert state(message) == Phase.RETRYING and len(message.last_error) == OUTBOX.error_max


def test_park_then_requeue_puts_the_row_back_in_line_as_new(message):
    OUTBOX.claim(message.pk, now=NOW)
    assert OUTBOX.park(message.pk, error="HTTP 500")
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        moved = OUTBOX.requeue([message.pk, 999_999])
    assert moved == [message.pk]
    message.refresh_from_db()
    assert (OUTBOX.phase_of(message.state), message.attempts, message.last_error) == (Phase.PENDING, 0, "")
    assert message.next_attempt_at == NOW + timedelta(hours=1)
    # and a row that is not failed is left alone
    assert OUTBOX.requeue([message.pk]) == []


def test_no_outbox_writes_its_state_outside_the_module():
    """Every outbox's state moves through core.outbox: no raw `.update(state=` on an outbox model."""
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in ("crm/sync.py", "webhooks/actions.py", "connectors/whatsapp/outbound.py",
                 "connectors/mail/outbound.py", "connectors/mail/intake.py"):
        text = (root / path).read_text()
        offenders += [f"{path}: {model}" for model in ("KommoSync", "WebhookMessage", "OutboundSend", "OutboundMail")
                      if re.search(rf"{model}\.objects[^\n]*\n?[^\n]*\.update\([^)]*\bstate=", text)]
    assert offenders == []
