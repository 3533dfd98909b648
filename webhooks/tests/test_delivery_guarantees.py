"""Issue 12, "nothing lost, nothing stranded", for outgoing webhooks: a message whose worker died mid-POST is
claimed again once its lease expired (same event id, so the receiver can deduplicate), and a message whose
delivery raises something unexpected counts a failed attempt instead of stopping the delivery loop."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from webhooks.actions import LEASE, check_save_endpoint, do_deliver_due
from webhooks.models import WebhookMessage
from webhooks.tests.test_webhooks import Receiver, confirm

pytestmark = pytest.mark.django_db(transaction=True)  # webhooks fan out after commit


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def test_a_webhook_whose_worker_died_mid_post_is_redelivered_with_the_same_event_id(receiver, admin_user, agent,
                                                                                     time_machine):
    time_machine.move_to("2026-11-20 10:00:00-05:00", tick=False)
    check_save_endpoint(admin_user, url=receiver.url, events=["order.confirmed"])
    confirm(agent)
    # given a worker that claimed the message (attempt 1, leased in next_attempt_at), POSTed it and died
    message = WebhookMessage.objects.get()
    WebhookMessage.objects.filter(pk=message.pk).update(attempts=1, next_attempt_at=timezone.now() + LEASE)
    # when the periodic delivery runs while the lease holds / then nothing is sent
    assert do_deliver_due() == 0 and receiver.received == []
    # when the lease expired / then it is delivered, the attempt counted, with the event id the receiver dedupes on
    time_machine.shift(LEASE + timedelta(seconds=1))
    assert do_deliver_due() == 1
    message.refresh_from_db()
    assert (message.state, message.attempts) == ("entregado", 2)
    (hit,) = receiver.received
    assert hit["headers"]["X-Centralita-Event-Id"] == str(message.event_id)


def test_an_endpoint_url_the_http_client_refuses_fails_its_attempts_and_the_others_still_go(
        receiver, admin_user, agent, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    # given an endpoint whose URL passes the form (a soft hyphen pasted into the host) but httpx refuses with an
    # InvalidURL (not an httpx.HTTPError: it once escaped the loop and left the message leased, retried forever)
    check_save_endpoint(admin_user, url="http://exa\u00admple.com/hooks", events=["order.confirmed"])
    check_save_endpoint(admin_user, url=receiver.url, events=["order.confirmed"])
    confirm(agent)
    # when the worker delivers / then the good endpoint gets its event and the bad one records a failed attempt
    assert do_deliver_due() == 1
    bad = WebhookMessage.objects.get(endpoint__url__contains="exa")
    assert (bad.state, bad.attempts) == ("reintentando", 1) and "InvalidURL" in bad.last_error
    assert len(receiver.received) == 1
    # when it is due again and fails again / then it is parked as failed, visible to an admin
    WebhookMessage.objects.filter(pk=bad.pk).update(next_attempt_at=timezone.now())
    do_deliver_due()
    bad.refresh_from_db()
    assert (bad.state, bad.attempts) == ("fallido", 2)
