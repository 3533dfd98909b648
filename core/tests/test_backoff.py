"""core.backoff: the one backoff-with-jitter formula every outbox, retry and vendor client uses (issue 14)."""

from __future__ import annotations

from datetime import timedelta

from core.backoff import backoff, backoff_seconds, jittered


def test_retries_double_from_the_base_up_to_the_cap_within_the_jitter():
    for attempt, expected in ((1, 5.0), (2, 10.0), (3, 20.0), (8, 600.0), (30, 600.0)):
        for _ in range(50):
            seconds = backoff_seconds(attempt, base=5.0, cap=600.0, jitter=0.2)
            assert expected * 0.8 <= seconds <= expected * 1.2


def test_jitter_spreads_retries_of_rows_that_failed_together():
    waits = {round(backoff_seconds(3, base=5.0, cap=600.0), 6) for _ in range(50)}
    assert len(waits) > 40  # not one instant for all of them


def test_the_timedelta_form_and_an_uncapped_client_retry():
    assert timedelta(seconds=1.8) <= backoff(1, base=2.0, cap=600.0, jitter=0.1) <= timedelta(seconds=2.2)
    assert 0.8 * 2 ** 9 <= backoff_seconds(10, base=1.0) <= 1.2 * 2 ** 9
    assert jittered(10.0, 0.0) == 10.0
