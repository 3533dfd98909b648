"""Held requests (fakes.server.RequestHolds): the deterministic "slow vendor" the worker-crash tests rely on."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from fakes.whatsapp import DEFAULT_PHONE_NUMBER_ID, FakeWhatsappServer

TOKEN = "tok"
SEND = {"messaging_product": "whatsapp", "to": "573001234567", "type": "text", "text": {"body": "Hola"}}


@pytest.fixture
def fake() -> Iterator[FakeWhatsappServer]:
    with FakeWhatsappServer(token=TOKEN) as server:
        yield server


def until(condition: Callable[[], Any]) -> None:
    give_up = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < give_up, "timed out"
        time.sleep(0.01)


def raw_send(fake: FakeWhatsappServer) -> socket.socket:
    """Sends a message request on a raw socket and leaves it waiting for the answer."""
    body = json.dumps(SEND).encode()
    sock = socket.create_connection((fake.host, fake.port))
    sock.sendall(f"POST /v23.0/{DEFAULT_PHONE_NUMBER_ID}/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}"
                 f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    return sock


def test_a_held_request_whose_client_dies_is_dropped_unprocessed(fake):
    fake.state.hold_next(path="/messages")
    sock = raw_send(fake)
    until(lambda: fake.state.holds.snapshot()["held"] == 1)
    sock.close()  # what the kernel does for a process killed with SIGKILL
    until(lambda: fake.state.holds.snapshot()["dropped"] == 1)
    assert fake.state.sent == [] and fake.state.holds.snapshot()["held"] == 0


def test_a_held_request_in_complete_mode_is_processed_after_release_even_if_its_client_died(fake):
    fake.state.hold_next(path="/messages", on_disconnect="complete")
    sock = raw_send(fake)
    until(lambda: fake.state.holds.snapshot()["held"] == 1)
    sock.close()
    assert fake.state.sent == []
    fake.state.release()
    until(lambda: fake.state.holds.snapshot()["completed"] == 1)
    assert [s["payload"]["text"]["body"] for s in fake.state.sent] == ["Hola"]


def test_a_released_request_is_answered_normally_and_holds_are_driven_by_the_control_api(fake):
    held = httpx.post(f"{fake.base_url}/_fake/hold", json={"path": "/messages", "count": 1}).json()
    assert held["waiting_rules"] == 1
    answers: list[int] = []
    sender = threading.Thread(target=lambda: answers.append(httpx.post(
        f"{fake.base_url}/v23.0/{DEFAULT_PHONE_NUMBER_ID}/messages", json=SEND,
        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).status_code))
    sender.start()
    until(lambda: httpx.get(f"{fake.base_url}/_fake/state").json()["holds"]["held"] == 1)
    httpx.post(f"{fake.base_url}/_fake/release")
    sender.join(10)
    assert answers == [200] and len(fake.state.sent) == 1
    # the hold was for one request only: the next one goes straight through
    assert httpx.post(f"{fake.base_url}/v23.0/{DEFAULT_PHONE_NUMBER_ID}/messages", json=SEND,
                      headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).status_code == 200
