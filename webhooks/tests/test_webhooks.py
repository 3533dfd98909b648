"""Outgoing signed webhooks to a real local HTTP receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from orders import actions as orders
from orders.tests.factories import product, ready_lead
from webhooks.actions import check_retry_messages, check_save_endpoint, do_deliver_due
from webhooks.models import WebhookMessage

pytestmark = pytest.mark.django_db(transaction=True)  # webhooks fan out after commit


class Receiver:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                status = 500 if receiver.fail_next > 0 else 204
                receiver.fail_next -= 1
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def confirm(agent: Any) -> Any:
    product("A", stock=5)
    order = orders.check_create_order(agent, lead_id=ready_lead().pk, lines=[("A", 2)])
    return orders.check_confirm_order(agent, order.pk)


def test_confirmed_and_cancelled_orders_are_signed_and_delivered(receiver, admin_user, agent, supervisor):
    endpoint = check_save_endpoint(admin_user, url=receiver.url, events=["order.confirmed", "order.cancelled"])
    order = confirm(agent)
    orders.check_cancel_order(supervisor, order.pk, reason="sin stock en bodega")
    assert do_deliver_due() == 2
    events = []
    for hit in receiver.received:
        h = hit["headers"]
        expected = hmac.new(endpoint.secret.encode(), f"{h['X-Centralita-Timestamp']}.".encode() + hit["body"],
                            hashlib.sha256).hexdigest()
        assert h["X-Centralita-Signature"] == f"sha256={expected}"
        body = json.loads(hit["body"])
        assert body["id"] == h["X-Centralita-Event-Id"]
        events.append((body["event"], body["data"]["number"], body["data"]["total"]))
    assert events == [("order.confirmed", order.number, "20000.00"), ("order.cancelled", order.number, "20000.00")]
    assert len({hit["headers"]["X-Centralita-Event-Id"] for hit in receiver.received}) == 2


def test_failures_are_retried_with_the_same_event_id_then_parked(receiver, admin_user, agent, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    check_save_endpoint(admin_user, url=receiver.url, events=["order.confirmed"])
    confirm(agent)
    receiver.fail_next = 1
    assert do_deliver_due() == 0
    message = WebhookMessage.objects.get()
    assert message.state == "reintentando" and message.last_status == 500
    WebhookMessage.objects.update(next_attempt_at=timezone.now())
    assert do_deliver_due() == 1
    ids = {hit["headers"]["X-Centralita-Event-Id"] for hit in receiver.received}
    assert len(receiver.received) == 2 and len(ids) == 1
    # a receiver that keeps failing: parked as failed after the limit, and an admin can retry it
    confirm_again = WebhookMessage.objects.create(endpoint=message.endpoint, event="order.confirmed", payload={})
    receiver.fail_next = 10
    for _round in range(3):
        WebhookMessage.objects.filter(pk=confirm_again.pk).update(next_attempt_at=timezone.now())
        do_deliver_due()
    confirm_again.refresh_from_db()
    assert confirm_again.state == "fallido" and confirm_again.attempts == 3
    assert check_retry_messages(admin_user) == 1


def test_endpoint_validation(admin_user):
    from core.errors import ActionError

    with pytest.raises(ActionError):
        check_save_endpoint(admin_user, url="no-es-url", events=["order.confirmed"])
    with pytest.raises(ActionError):
        check_save_endpoint(admin_user, url="https://billing.example/hook", events=["order.exploded"])
